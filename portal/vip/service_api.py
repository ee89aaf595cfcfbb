"""Entitlements and service requests as JSON under /api/v1 (bearer tokens)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, jsonify, request

from portal.api.auth import api_user, token_required
from portal.api.openapi import PAGE_PARAMETERS, _error_responses, _page_of, register_path
from portal.errors import Forbidden, Invalid
from portal.paging import MAX_PER_PAGE
from portal.extensions import csrf, db
from portal.scope import customer_in_scope, scope_for
from portal.vip import entitlements as ent
from portal.vip import service_requests as sr
from portal.vip.models import SERVICE_STATUSES, ServiceRequest, TierEntitlement
from portal.web import actor

blueprint = Blueprint("service_api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)  # bearer tokens, not cookies


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid("the request body must be a JSON object")
    return body


def _at(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _whole(args: Any, name: str, default: int, maximum: int | None = None) -> int:
    raw = args.get(name)
    if raw in (None, ""):
        return default
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1 or \
            (maximum is not None and int(raw) > maximum):
        raise Invalid(f"{name} must be a whole number from 1"
                      + (f" to {maximum}" if maximum else ""))
    return int(raw)


def entitlement_json(e: TierEntitlement) -> dict[str, Any]:
    return {"id": e.id, "code": e.code, "yearly_quota": e.yearly_quota,
            "sla_hours": e.sla_hours, "active": e.active}


def entitlements_json() -> dict[str, Any]:
    tiers = ent.current_tiers(db.session)
    by_tier: dict[str, list[dict[str, Any]]] = {t.code: [] for t in tiers}
    for e in ent.configured(db.session):
        by_tier[e.tier_code].append(entitlement_json(e))
    return {"rule_version": ent.current_version(db.session),
            "tiers": [{"code": t.code, "rank": t.rank, "name_en": t.name_en,
                       "name_zh": t.name_zh, "entitlements": by_tier[t.code]} for t in tiers]}


def request_json(row: sr.RequestRow) -> dict[str, Any]:
    r: ServiceRequest = row.request
    return {"id": r.id, "customer_id": r.customer_id, "customer_name": row.customer_name,
            "entitlement": r.entitlement_code, "tier": r.tier_code, "staff_id": r.staff_id,
            "branch": r.branch_code, "status": r.status, "note": r.note,
            "resolution": r.resolution, "quota_year": r.quota_year,
            "requested_by": r.requested_by, "requested_at": _at(r.requested_at),
            "due_at": _at(r.due_at), "resolved_at": _at(r.resolved_at),
            "overdue": row.overdue, "resolved_late": row.late}


# -- entitlements ---------------------------------------------------------------------

@blueprint.get("/entitlements")
@token_required
def entitlements():  # type: ignore[no-untyped-def]
    return jsonify(entitlements_json())


@blueprint.put("/entitlements")
@token_required
def put_entitlements():  # type: ignore[no-untyped-def]
    user = api_user()
    if user.role != "admin":
        raise Forbidden("entitlements are configured by administrators")
    items = _body().get("entitlements")
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise Invalid("entitlements must be a non-empty list of objects")
    specs = []
    for item in items:
        if not isinstance(item.get("tier"), str) or not isinstance(item.get("code"), str):
            raise Invalid("each entitlement needs a tier and a code")
        # Types are checked by the service (a quota or SLA that is not an integer is refused).
        specs.append(ent.EntitlementSpec(
            tier_code=item["tier"], code=item["code"], yearly_quota=item.get("yearly_quota"),
            sla_hours=item.get("sla_hours"), active=item.get("active", True)))
    ent.put_entitlements(db.session, actor(user), specs)
    return jsonify(entitlements_json())


@blueprint.get("/customers/<int:customer_id>/entitlements")
@token_required
def customer_entitlements(customer_id: int):  # type: ignore[no-untyped-def]
    customer = customer_in_scope(db.session, scope_for(db.session, api_user()), customer_id)
    panel = sr.customer_service_panel(db.session, customer.id)
    return jsonify(customer_id=customer.id, tier=panel.tier_code, year=panel.year,
                   entitlements=[{"code": e.code, "yearly_quota": e.yearly_quota,
                                  "used": e.used, "remaining": e.remaining,
                                  "sla_hours": e.sla_hours, "available": e.available}
                                 for e in panel.entitlements])


# -- service requests -----------------------------------------------------------------

@blueprint.get("/service-requests")
@token_required
def requests():  # type: ignore[no-untyped-def]
    result = sr.list_requests(
        db.session, scope_for(db.session, api_user()), sr.RequestFilter.parse(request.args),
        page=_whole(request.args, "page", 1),
        per_page=_whole(request.args, "per_page", 20, MAX_PER_PAGE))
    return jsonify(items=[request_json(r) for r in result.items], total=result.total,
                   page=result.page, per_page=result.per_page,
                   counts={"open": result.counts.open,
                           "in_progress": result.counts.in_progress,
                           "overdue": result.counts.overdue})


@blueprint.post("/service-requests")
@token_required
def create():  # type: ignore[no-untyped-def]
    body = _body()
    customer_id, code, note = body.get("customer_id"), body.get("entitlement"), body.get("note")
    if type(customer_id) is not int or not isinstance(code, str) or \
            not isinstance(note, (str, type(None))):
        raise Invalid("customer_id (integer) and entitlement (string) are required; "
                      "note is an optional string")
    user = api_user()
    scope = scope_for(db.session, user)
    raised = sr.raise_request(db.session, actor(user), scope, customer_id, code, note)
    return jsonify(request_json(sr.get_request(db.session, scope, raised.id))), 201


@blueprint.get("/service-requests/<int:request_id>")
@token_required
def show(request_id: int):  # type: ignore[no-untyped-def]
    return jsonify(request_json(sr.get_request(db.session, scope_for(db.session, api_user()),
                                               request_id)))


@blueprint.patch("/service-requests/<int:request_id>")
@token_required
def move(request_id: int):  # type: ignore[no-untyped-def]
    body = _body()
    status, resolution = body.get("status"), body.get("resolution")
    if not isinstance(status, str) or not isinstance(resolution, (str, type(None))):
        raise Invalid("status (string) is required; resolution is an optional string")
    user = api_user()
    scope = scope_for(db.session, user)
    sr.transition(db.session, actor(user), scope, request_id, status, resolution)
    return jsonify(request_json(sr.get_request(db.session, scope, request_id)))


# -- OpenAPI ---------------------------------------------------------------------------

_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_QUOTA = {"type": ["integer", "null"], "minimum": 0, "description": "Per calendar year; "
          "null: unlimited; 0: no request this year"}
_SLA = {"type": "integer", "minimum": 1, "maximum": ent.MAX_SLA_HOURS}

ENTITLEMENTS_SCHEMA = {
    "type": "object", "required": ["rule_version", "tiers"], "properties": {
        "rule_version": {"type": ["integer", "null"]},
        "tiers": {"type": "array", "items": {
            "type": "object", "required": ["code", "rank", "entitlements"], "properties": {
                "code": _STRING, "rank": {"type": "integer"}, "name_en": _STRING,
                "name_zh": _STRING,
                "entitlements": {"type": "array", "items": {
                    "type": "object",
                    "required": ["id", "code", "yearly_quota", "sla_hours", "active"],
                    "properties": {"id": {"type": "integer"}, "code": _STRING,
                                   "yearly_quota": _QUOTA, "sla_hours": _SLA,
                                   "active": {"type": "boolean"}}}}}}}}}

REQUEST_SCHEMA = {
    "type": "object",
    "required": ["id", "customer_id", "entitlement", "tier", "staff_id", "status",
                 "quota_year", "requested_at", "due_at", "overdue", "resolved_late"],
    "properties": {
        "id": {"type": "integer"}, "customer_id": {"type": "integer"},
        "customer_name": _STRING, "entitlement": _STRING,
        "tier": {**_STRING, "description": "The customer's tier when requested"},
        "staff_id": {**_STRING, "description": "The customer's RM when requested"},
        "branch": _NULLABLE_STRING, "status": {"type": "string", "enum": list(SERVICE_STATUSES)},
        "note": _NULLABLE_STRING, "resolution": _NULLABLE_STRING,
        "quota_year": {"type": "integer"}, "requested_by": {"type": "integer"},
        "requested_at": _TIME, "due_at": {**_TIME, "description": "requested_at + the SLA"},
        "resolved_at": _NULLABLE_TIME,
        "overdue": {"type": "boolean", "description": "Not resolved and past due"},
        "resolved_late": {"type": "boolean", "description": "Fulfilled after due"}}}

_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
_REQUEST_RESPONSE = {"content": {"application/json": {"schema": REQUEST_SCHEMA}}}

register_path("/entitlements", {
    "get": {
        "summary": "The entitlements of the current rule version's tiers",
        "description": "Any signed-in role. Inactive entitlements are listed with "
                       "active false.",
        "responses": {"200": {"description": "Tiers and their entitlements", "content": {
            "application/json": {"schema": ENTITLEMENTS_SCHEMA}}}, **_error_responses(401)}},
    "put": {
        "summary": "Create or update entitlements (admins; audited)",
        "description": "Each listed entitlement, named by tier and code, is created or "
                       "updated; entitlements not listed stay as they are (deactivate with "
                       "active false). All or nothing. Codes are 3 to 30 of a-z and _; "
                       f"SLA 1 to {ent.MAX_SLA_HOURS} hours; the tier must be one of the "
                       "current rule version.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["entitlements"], "properties": {
                "entitlements": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["tier", "code", "sla_hours"],
                    "properties": {"tier": _STRING,
                                   "code": {"type": "string", "pattern": "^[a-z_]{3,30}$"},
                                   "yearly_quota": _QUOTA, "sla_hours": _SLA,
                                   "active": {"type": "boolean", "default": True}}}}}}}}},
        "responses": {"200": {"description": "The entitlements after the change", "content": {
            "application/json": {"schema": ENTITLEMENTS_SCHEMA}}},
            **_error_responses(400, 401, 403)}},
})

register_path("/customers/{id}/entitlements", {"get": {
    "summary": "A customer's entitlements at the current tier, with this year's quota left",
    "parameters": [_ID],
    "responses": {"200": {"description": "The customer's tier and entitlements", "content": {
        "application/json": {"schema": {
            "type": "object", "required": ["customer_id", "tier", "year", "entitlements"],
            "properties": {
                "customer_id": {"type": "integer"}, "tier": _STRING,
                "year": {"type": "integer"},
                "entitlements": {"type": "array", "items": {
                    "type": "object",
                    "required": ["code", "yearly_quota", "used", "remaining", "sla_hours"],
                    "properties": {"code": _STRING, "yearly_quota": _QUOTA,
                                   "used": {"type": "integer"},
                                   "remaining": {"type": ["integer", "null"],
                                                 "description": "null: unlimited"},
                                   "sla_hours": _SLA,
                                   "available": {"type": "boolean"}}}}}}}}},
        **_error_responses(401, 404)}}})

register_path("/service-requests", {
    "get": {
        "summary": "Service requests in your scope (RMs, advisers, branch managers)",
        "description": "An RM's or adviser's own customers' requests; a branch manager's "
                       "those of the branch subtree. Unresolved first, soonest due first. "
                       "Analysts and admins get 403.",
        "parameters": [
            {"name": "status", "in": "query",
             "schema": {"type": "string", "enum": list(SERVICE_STATUSES)}},
            {"name": "overdue", "in": "query", "schema": {"type": "boolean"},
             "description": "Only unresolved requests past due"},
            {"name": "entitlement", "in": "query", "schema": {"type": "string"}},
            {"name": "tier", "in": "query", "schema": {"type": "string"}},
            {"name": "customer", "in": "query", "schema": {"type": "integer"}},
            *PAGE_PARAMETERS],
        "responses": {"200": {"description": "A page of requests and the open counts",
                              "content": {"application/json": {"schema": {
                                  **_page_of(REQUEST_SCHEMA),
                                  "properties": {
                                      **_page_of(REQUEST_SCHEMA)["properties"],
                                      "counts": {"type": "object", "properties": {
                                          "open": {"type": "integer"},
                                          "in_progress": {"type": "integer"},
                                          "overdue": {"type": "integer"}}}}}}}},
                      **_error_responses(400, 401, 403)}},
    "post": {
        "summary": "Raise a service request for a customer in your scope (audited)",
        "description": "Checked against the customer's current tier: the tier must have the "
                       "entitlement active and its quota for the calendar year must not be "
                       "used up (400 saying which). Due at now + the tier's SLA.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["customer_id", "entitlement"], "properties": {
                "customer_id": {"type": "integer"}, "entitlement": _STRING,
                "note": {"type": ["string", "null"], "maxLength": sr.MAX_NOTE}}}}}},
        "responses": {"201": {"description": "The request", **_REQUEST_RESPONSE},
                      **_error_responses(400, 401, 403, 404)}},
})

register_path("/service-requests/{id}", {
    "get": {
        "summary": "One service request in your scope",
        "parameters": [_ID],
        "responses": {"200": {"description": "The request", **_REQUEST_RESPONSE},
                      **_error_responses(401, 403, 404)}},
    "patch": {
        "summary": "Move a service request on (audited)",
        "description": "open → in_progress or rejected; in_progress → fulfilled or "
                       "rejected; fulfilled and rejected are final (409 otherwise). A "
                       "rejection needs a resolution (the reason) and gives the quota back.",
        "parameters": [_ID],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["status"], "properties": {
                "status": {"type": "string", "enum": ["in_progress", "fulfilled", "rejected"]},
                "resolution": {"type": ["string", "null"], "maxLength": sr.MAX_RESOLUTION}}}}}},
        "responses": {"200": {"description": "The request", **_REQUEST_RESPONSE},
                      **_error_responses(400, 401, 403, 404, 409)}},
})
