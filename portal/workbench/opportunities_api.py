"""Opportunities as JSON under /api/v1 (bearer tokens): list and create, read and change
one (edits and stage moves), and the forecast. The same services and scope as the pages."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Blueprint, jsonify, request

from portal.api.auth import api_user, token_required
from portal.api.openapi import PAGE_PARAMETERS, _error_responses, _page_of, register_path
from portal.customers.services import parse_int, round_money
from portal.errors import Invalid
from portal.extensions import csrf, db
from portal.scope import Scope, scope_for
from portal.workbench import forecast as forecasting
from portal.workbench import opportunities as pipeline
from portal.workbench.models import LOST_REASONS, STAGES

blueprint = Blueprint("opportunities_api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)  # bearer tokens, not cookies

DEFAULT_PER_PAGE = 20
EDITABLE = ("amount", "expected_close", "note", "owner")
MOVE_FIELDS = ("stage", "lost_reason", "lost_note")


def _scope() -> Scope:
    scope = scope_for(db.session, api_user())
    pipeline.check_works_pipeline(scope)
    return scope


def _money(value: Decimal | None) -> str | None:
    return str(round_money(value)) if value is not None else None


def _day(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def opportunity_json(o: pipeline.OpportunityRow) -> dict[str, Any]:
    return {
        "id": o.id, "customer_id": o.customer_id, "customer_name": o.customer_name,
        "product": o.product_code, "product_name": o.product_name,
        "amount": _money(o.amount), "stage": o.stage,
        "probability": str(o.probability), "weighted_amount": _money(o.weighted),
        "expected_close": _day(o.expected_close), "owner": o.owner_staff_id,
        "owner_name": o.owner_name, "branch": o.branch_code, "note": o.note,
        "lost_reason": o.lost_reason, "lost_note": o.lost_note, "won_on": _day(o.won_on),
        "confirmed": o.confirmed_at is not None, "confirmed_at": _day(o.confirmed_at),
        "confirmed_by": o.confirmed_by, "created_at": _day(o.created_at),
        "updated_at": _day(o.updated_at),
    }


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid("a JSON object is required")
    return body


def _no_store(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/opportunities")
@token_required
def index():  # type: ignore[no-untyped-def]
    scope = _scope()
    filters = pipeline.OpportunityFilter.parse(request.args)
    page = pipeline.search(db.session, scope, filters,
                           parse_int(request.args.get("page"), "page", 1),
                           parse_int(request.args.get("per_page"), "per_page",
                                     DEFAULT_PER_PAGE))
    return _no_store(jsonify(items=[opportunity_json(o) for o in page.items],
                             total=page.total, page=page.page, per_page=page.per_page,
                             total_amount=_money(page.amount),
                             total_weighted=_money(page.weighted)))


@blueprint.post("/opportunities")
@token_required
def create():  # type: ignore[no-untyped-def]
    scope = _scope()
    body = _body()
    customer_id = body.get("customer_id")
    if isinstance(customer_id, bool) or not isinstance(customer_id, int):
        raise Invalid("customer_id must be a customer id")
    created = pipeline.create_opportunity(
        db.session, scope, api_user(), customer_id=customer_id,
        product_code=body.get("product"), amount=body.get("amount"),
        expected_close=body.get("expected_close"), note=body.get("note"),
        owner_staff_id=body.get("owner"))
    response = jsonify(opportunity_json(pipeline.row(db.session, scope, created.id)))
    response.status_code = 201
    response.headers["Location"] = f"/api/v1/opportunities/{created.id}"
    return _no_store(response)


@blueprint.get("/opportunities/<int:opportunity_id>")
@token_required
def show(opportunity_id: int):  # type: ignore[no-untyped-def]
    scope = _scope()
    row = pipeline.row(db.session, scope, opportunity_id)
    history = [{"from": h.from_stage, "to": h.to_stage, "lost_reason": h.lost_reason,
                "by": h.changed_by, "at": h.changed_at.isoformat()}
               for h in pipeline.history(db.session, opportunity_id)]
    return _no_store(jsonify(opportunity_json(row) | {"history": history}))


@blueprint.patch("/opportunities/<int:opportunity_id>")
@token_required
def change(opportunity_id: int):  # type: ignore[no-untyped-def]
    """Edits and a stage move in one request, all or nothing (edits first)."""
    scope = _scope()
    body = _body()
    unknown = sorted(set(body) - set(EDITABLE) - set(MOVE_FIELDS))
    if unknown:
        raise Invalid(f"unknown field(s): {', '.join(unknown)}")
    edits = {("owner_staff_id" if k == "owner" else k): body[k] for k in EDITABLE if k in body}
    if edits:
        pipeline.edit_opportunity(db.session, scope, api_user(), opportunity_id, **edits)
    if "stage" in body:
        pipeline.move_stage(db.session, scope, api_user(), opportunity_id, body["stage"],
                            lost_reason=body.get("lost_reason"),
                            lost_note=body.get("lost_note"))
    elif "lost_reason" in body or "lost_note" in body:
        raise Invalid("lost_reason and lost_note go with stage \"lost\"")
    return show(opportunity_id)


@blueprint.get("/opportunities/forecast")
@token_required
def forecast():  # type: ignore[no-untyped-def]
    result = forecasting.forecast(db.session, _scope())

    def row_json(r: forecasting.ForecastRow) -> dict[str, Any]:
        return {"key": r.key, "name": r.name, "open_count": r.open_count,
                "open_amount": _money(r.open_amount),
                "weighted": {name: _money(getattr(r, name)) for name in forecasting.BUCKETS}
                | {"total": _money(r.weighted)},
                "won_month": {"amount": _money(r.won_month_amount),
                              "count": r.won_month_count,
                              "confirmed": r.won_month_confirmed},
                "won_quarter": {"amount": _money(r.won_quarter_amount),
                                "count": r.won_quarter_count,
                                "confirmed": r.won_quarter_confirmed}}

    return jsonify(as_of=result.today.isoformat(),
                   months=[m.strftime("%Y-%m") for m in result.months],
                   quarter_start=result.quarter.isoformat(),
                   probabilities={s: str(p) for s, p in pipeline.PROBABILITY.items()},
                   by_rm=[row_json(r) for r in result.by_rm],
                   by_branch=[row_json(r) for r in result.by_branch],
                   total=row_json(result.total))


# -- OpenAPI ---------------------------------------------------------------------------

_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_MONEY = {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$",
          "description": "CNY, 2 decimals"}
_DATE = {"type": ["string", "null"], "format": "date"}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}

OPPORTUNITY_SCHEMA = {
    "type": "object",
    "required": ["id", "customer_id", "product", "amount", "stage", "expected_close",
                 "owner", "confirmed"],
    "properties": {
        "id": {"type": "integer"}, "customer_id": {"type": "integer"},
        "customer_name": _STRING, "product": _STRING, "product_name": _STRING,
        "amount": _MONEY, "stage": {"type": "string", "enum": list(STAGES)},
        "probability": {"type": "string", "description": "The stage's probability, 0..1"},
        "weighted_amount": _MONEY, "expected_close": _DATE,
        "owner": {"type": "string", "description": "Owner's staff id"},
        "owner_name": _NULLABLE_STRING, "branch": _NULLABLE_STRING, "note": _NULLABLE_STRING,
        "lost_reason": {"type": ["string", "null"], "enum": [*LOST_REASONS, None]},
        "lost_note": _NULLABLE_STRING, "won_on": _DATE,
        "confirmed": {"type": "boolean",
                      "description": "Won, and the feeds show the product on the customer"},
        "confirmed_at": {"type": ["string", "null"], "format": "date-time"},
        "confirmed_by": {**_NULLABLE_STRING, "description": "What confirmed it"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
DETAIL_SCHEMA = {**OPPORTUNITY_SCHEMA, "properties": {
    **OPPORTUNITY_SCHEMA["properties"],
    "history": {"type": "array", "items": {"type": "object", "properties": {
        "from": _NULLABLE_STRING, "to": _STRING, "lost_reason": _NULLABLE_STRING,
        "by": _NULLABLE_STRING, "at": {"type": "string", "format": "date-time"}}}}}}
_AMOUNT_IN = {"type": "string", "description": "CNY above 0, at most 2 decimals",
              "examples": ["250000.00"]}
_FORECAST_ROW = {"type": "object", "properties": {
    "key": {**_NULLABLE_STRING, "description": "Staff id or branch code; null for the total"},
    "name": _NULLABLE_STRING, "open_count": {"type": "integer"}, "open_amount": _MONEY,
    "weighted": {"type": "object", "properties": {
        name: _MONEY for name in (*forecasting.BUCKETS, "total")}},
    "won_month": {"type": "object", "properties": {
        "amount": _MONEY, "count": {"type": "integer"}, "confirmed": {"type": "integer"}}},
    "won_quarter": {"type": "object", "properties": {
        "amount": _MONEY, "count": {"type": "integer"}, "confirmed": {"type": "integer"}}}}}

register_path("/opportunities", {
    "get": {
        "summary": "Opportunities in your scope",
        "description": "RMs and advisers see their own, branch managers their subtree's; "
                       "analysts and admins have no pipeline (403).",
        "parameters": [
            {"name": "stage", "in": "query", "schema": {"type": "string"},
             "description": "One or more stages, comma-separated"},
            {"name": "product", "in": "query", "schema": _STRING},
            {"name": "owner", "in": "query", "schema": _STRING,
             "description": "Owner's staff id"},
            {"name": "customer_id", "in": "query", "schema": {"type": "integer"}},
            {"name": "close_from", "in": "query", "schema": {"type": "string",
                                                             "format": "date"}},
            {"name": "close_to", "in": "query", "schema": {"type": "string",
                                                           "format": "date"}},
            {"name": "confirmed", "in": "query",
             "schema": {"type": "string", "enum": ["yes", "no", "true", "false"]},
             "description": "Won and confirmed (yes) or awaiting confirmation (no)"},
            *PAGE_PARAMETERS],
        "responses": {"200": {"description": "A page of opportunities, with totals",
                              "content": {"application/json": {"schema": {
                                  **_page_of(OPPORTUNITY_SCHEMA),
                                  "properties": {
                                      **_page_of(OPPORTUNITY_SCHEMA)["properties"],
                                      "total_amount": _MONEY, "total_weighted": _MONEY}}}}},
                      **_error_responses(400, 401, 403)}},
    "post": {
        "summary": "Create an opportunity (stage lead)",
        "description": "For a customer in your scope. An RM owns what they create; a branch "
                       "manager names the owner (an RM or adviser of their subtree).",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["customer_id", "product", "amount",
                                           "expected_close"],
            "properties": {"customer_id": {"type": "integer"}, "product": _STRING,
                           "amount": _AMOUNT_IN,
                           "expected_close": {"type": "string", "format": "date"},
                           "note": _STRING, "owner": _STRING}}}}},
        "responses": {"201": {"description": "Created", "content": {
            "application/json": {"schema": OPPORTUNITY_SCHEMA}}},
            **_error_responses(400, 401, 403, 404)}},
})

register_path("/opportunities/{id}", {
    "get": {
        "summary": "One opportunity with its stage history",
        "parameters": [_ID],
        "responses": {"200": {"description": "The opportunity", "content": {
            "application/json": {"schema": DETAIL_SCHEMA}}},
            **_error_responses(401, 403, 404)}},
    "patch": {
        "summary": "Edit an opportunity and/or move it to another stage",
        "description": "Amount and expected close while open; note any time; owner by a "
                       "branch manager. Open stages move either way; lost needs "
                       "lost_reason; won and lost are final, except that a lost one may "
                       "be reopened to an open stage (409 otherwise).",
        "parameters": [_ID],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "additionalProperties": False,
            "properties": {"amount": _AMOUNT_IN,
                           "expected_close": {"type": "string", "format": "date"},
                           "note": _NULLABLE_STRING, "owner": _STRING,
                           "stage": {"type": "string", "enum": list(STAGES)},
                           "lost_reason": {"type": "string", "enum": list(LOST_REASONS)},
                           "lost_note": _STRING}}}}},
        "responses": {"200": {"description": "The opportunity after the change", "content": {
            "application/json": {"schema": DETAIL_SCHEMA}}},
            **_error_responses(400, 401, 403, 404, 409)}},
})

register_path("/opportunities/forecast", {"get": {
    "summary": "The pipeline forecast of your scope",
    "description": "Per RM (and, for branch managers, per branch): open pipeline, weighted "
                   "value by expected-close month (overdue, this month and the next two, "
                   "later), won this month and quarter with how many are confirmed.",
    "responses": {"200": {"description": "The forecast", "content": {"application/json": {
        "schema": {"type": "object", "properties": {
            "as_of": {"type": "string", "format": "date"},
            "months": {"type": "array", "items": _STRING},
            "quarter_start": {"type": "string", "format": "date"},
            "probabilities": {"type": "object", "additionalProperties": _STRING},
            "by_rm": {"type": "array", "items": _FORECAST_ROW},
            "by_branch": {"type": "array", "items": _FORECAST_ROW},
            "total": _FORECAST_ROW}}}}},
        **_error_responses(401, 403)}}})
