"""Customer search, the 360 view and reveal as JSON under /api/v1 (bearer tokens)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Blueprint, g, jsonify, request

from portal.api.auth import api_user, token_required
from portal.api.openapi import PAGE_PARAMETERS, _error_responses, _page_of, register_path
from portal.customers import services
from portal.errors import Invalid
from portal.extensions import csrf, db
from portal.identifiers import MASKED_FIELDS
from portal.scope import scope_for
from portal.web import actor

blueprint = Blueprint("customers_api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)  # bearer tokens, not cookies: no cross-site request can carry one

DEFAULT_PER_PAGE = 20


def _paging() -> tuple[int, int]:
    return (services.parse_int(request.args.get("page"), "page", 1),
            services.parse_int(request.args.get("per_page"), "per_page", DEFAULT_PER_PAGE))


def _money(value: Decimal | None) -> str | None:
    return str(services.round_money(value)) if value is not None else None


def _day(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


@blueprint.get("/customers")
@token_required
def search():  # type: ignore[no-untyped-def]
    q = request.args.get("q")
    if q is None:
        raise Invalid("q is required")
    page, per_page = _paging()
    rows, total = services.search_customers(db.session, scope_for(db.session, api_user()), q,
                                            page, per_page)
    return jsonify(items=[{"id": r.id, "name": r.name, "status": r.status,
                           "branch": r.branch_code, "branch_name": r.branch_name,
                           "manager": r.manager, "mobile": r.mobile} for r in rows],
                   total=total, page=page, per_page=per_page)


@blueprint.get("/customers/<int:customer_id>")
@token_required
def show(customer_id: int):  # type: ignore[no-untyped-def]
    user = api_user()
    page, per_page = _paging()
    view = services.view_customer(
        db.session, scope_for(db.session, user), actor(user), customer_id, channel="api",
        as_of=services.parse_date(request.args.get("as_of") or None, "as_of"),
        filters=services.TransactionFilter.parse(request.args), page=page, per_page=per_page)
    response = jsonify(view_json(view))
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/customers/<int:customer_id>/reveal")
@token_required
def reveal(customer_id: int):  # type: ignore[no-untyped-def]
    body = request.get_json(silent=True)
    field = body.get("field") if isinstance(body, dict) else None
    if field not in MASKED_FIELDS:
        raise Invalid(f"field must be one of {', '.join(MASKED_FIELDS)}")
    user = api_user()
    g.commit_on_error = True  # a refused reveal stays in the audit log
    value = services.reveal_identifier(db.session, scope_for(db.session, user), actor(user),
                                       customer_id, field, channel="api")
    response = jsonify(field=field, value=value)
    response.headers["Cache-Control"] = "no-store"
    return response


def _provenance(p: services.Provenance | None) -> dict[str, Any] | None:
    return None if p is None else {"source": p.source, "batch_id": p.batch_id,
                                   "business_date": p.business_date}


def _value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _money(value)
    return _day(value) if hasattr(value, "isoformat") else value


def view_json(view: services.CustomerView) -> dict[str, Any]:
    doc = view.id_document
    txns = view.transactions
    return {
        "id": view.id, "name": view.name, "status": view.status,
        "as_of": view.as_of.isoformat(),
        "branch": view.branch_code, "branch_name": view.branch_name,
        "manager": view.manager, "manager_name": view.manager_name,
        "profile": {f.field: _value(f.value) for f in view.profile},
        "provenance": {f.field: _provenance(f.provenance) for f in view.profile
                       if f.provenance is not None}
        | ({"id_document": _provenance(doc.provenance)} if doc and doc.provenance else {}),
        "id_document": None if doc is None else {
            "type": doc.type, "number": doc.number, "expiry": _day(doc.expiry),
            "expired": doc.expired},
        "dq_warnings": view.dq_warnings,
        "sources": [{"source": s.source, "source_id": s.source_id, "closed": s.closed,
                     "business_date": _day(s.business_date)} for s in view.sources],
        "fx_rates": {currency: str(rate) for currency, rate in sorted(view.rates.items())},
        "missing_rates": view.missing_rates,
        "aum_cny": _money(view.aum_cny),
        "liabilities_cny": _money(view.liabilities_cny),
        "accounts": [{
            "id": a.id, "source": a.source, "number": a.number, "type": a.type,
            "product": a.product_code, "product_name": a.product_name,
            "currency": a.currency, "balance": _money(a.balance),
            "balance_cny": _money(a.balance_cny), "balance_date": _day(a.balance_date),
            "status": a.status, "open_date": _day(a.open_date),
            "maturity_date": _day(a.maturity_date),
            "interest_rate": None if a.interest_rate is None else str(a.interest_rate),
            "credit_limit": _money(a.credit_limit), "overdue_days": a.overdue_days,
        } for a in view.accounts],
        "holdings": [{
            "category": group.category, "total_cny": _money(group.total_cny),
            "items": [{"id": h.id, "source": h.source, "source_id": h.source_id,
                       "product": h.product_code, "product_name": h.product_name,
                       "units": str(h.units), "currency": h.currency,
                       "market_value": _money(h.market_value),
                       "market_value_cny": _money(h.market_value_cny),
                       "cost": _money(h.cost), "valuation_date": _day(h.valuation_date)}
                      for h in group.items]} for group in view.holdings],
        "flows": [{"month": f.month.strftime("%Y-%m"), "inflow_cny": _money(f.inflow_cny),
                   "outflow_cny": _money(f.outflow_cny)} for f in view.flows],
        "recent_transactions": {
            "items": [{"id": t.id, "account": t.account, "booking_date": _day(t.booking_date),
                       "value_date": _day(t.value_date), "amount": _money(t.amount),
                       "currency": t.currency, "type": t.type, "channel": t.channel,
                       "counterparty": t.counterparty, "narrative": t.narrative}
                      for t in txns.items],
            "total": txns.total, "page": txns.page, "per_page": txns.per_page},
    }


# -- OpenAPI ---------------------------------------------------------------------------

_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_MONEY = {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$",
          "description": "A decimal amount with 2 places (rounded half up)"}
_NULLABLE_MONEY = {**_MONEY, "type": ["string", "null"]}
_DATE = {"type": ["string", "null"], "format": "date"}
_PROVENANCE = {"type": ["object", "null"], "required": ["source", "batch_id", "business_date"],
               "properties": {"source": _STRING, "batch_id": {"type": ["integer", "null"]},
                              "business_date": _NULLABLE_STRING}}
_CUSTOMER_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}

SUMMARY_SCHEMA = {"type": "object",
                  "required": ["id", "name", "branch", "manager", "mobile"],
                  "properties": {"id": {"type": "integer"}, "name": _STRING, "status": _STRING,
                                 "branch": _NULLABLE_STRING, "branch_name": _NULLABLE_STRING,
                                 "manager": _NULLABLE_STRING,
                                 "mobile": {**_NULLABLE_STRING, "description": "Masked"}}}

TRANSACTION_SCHEMA = {"type": "object", "properties": {
    "id": {"type": "integer"}, "account": _STRING, "booking_date": _DATE,
    "value_date": _DATE, "amount": _MONEY, "currency": _STRING, "type": _STRING,
    "channel": _STRING, "counterparty": _NULLABLE_STRING, "narrative": _NULLABLE_STRING}}

VIEW_SCHEMA = {
    "type": "object",
    "required": ["id", "name", "branch", "manager", "id_document", "aum_cny",
                 "liabilities_cny", "accounts", "holdings", "recent_transactions", "sources",
                 "provenance", "dq_warnings", "flows"],
    "properties": {
        "id": {"type": "integer"}, "name": _STRING, "status": _STRING,
        "as_of": {"type": "string", "format": "date",
                  "description": "Business date of the FX rates and the flow window"},
        "branch": _NULLABLE_STRING, "branch_name": _NULLABLE_STRING,
        "manager": {**_NULLABLE_STRING, "description": "Effective RM's staff id"},
        "manager_name": _NULLABLE_STRING,
        "profile": {"type": "object", "description": "Golden-record fields; mobile masked",
                    "additionalProperties": True},
        "provenance": {"type": "object", "additionalProperties": _PROVENANCE,
                       "description": "Per field: source system, batch id, business date"},
        "id_document": {"type": ["object", "null"], "properties": {
            "type": _NULLABLE_STRING, "number": {**_NULLABLE_STRING, "description": "Masked"},
            "expiry": _DATE, "expired": {"type": "boolean"}}},
        "dq_warnings": {"type": "array", "items": _STRING},
        "sources": {"type": "array", "items": {
            "type": "object", "required": ["source", "source_id"],
            "properties": {"source": _STRING, "source_id": _STRING,
                           "closed": {"type": "boolean"}, "business_date": _DATE}}},
        "fx_rates": {"type": "object", "additionalProperties": _STRING},
        "missing_rates": {"type": "array", "items": _STRING,
                          "description": "Currencies without a rate: left out of CNY totals"},
        "aum_cny": _MONEY, "liabilities_cny": _MONEY,
        "accounts": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "integer"}, "source": _STRING, "number": _STRING, "type": _STRING,
            "product": _STRING, "product_name": _NULLABLE_STRING, "currency": _STRING,
            "balance": _MONEY, "balance_cny": _NULLABLE_MONEY, "balance_date": _DATE,
            "status": _STRING, "open_date": _DATE, "maturity_date": _DATE,
            "interest_rate": _NULLABLE_STRING, "credit_limit": _NULLABLE_MONEY,
            "overdue_days": {"type": ["integer", "null"]}}}},
        "holdings": {"type": "array", "items": {"type": "object", "properties": {
            "category": _STRING, "total_cny": _MONEY,
            "items": {"type": "array", "items": {"type": "object", "properties": {
                "id": {"type": "integer"}, "source": _STRING, "source_id": _STRING,
                "product": _STRING, "product_name": _NULLABLE_STRING, "units": _STRING,
                "currency": _STRING, "market_value": _MONEY,
                "market_value_cny": _NULLABLE_MONEY, "cost": _NULLABLE_MONEY,
                "valuation_date": _DATE}}}}}},
        "flows": {"type": "array", "minItems": 12, "maxItems": 12, "items": {
            "type": "object", "required": ["month", "inflow_cny", "outflow_cny"],
            "properties": {"month": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}$"},
                           "inflow_cny": _MONEY, "outflow_cny": _MONEY}}},
        "recent_transactions": _page_of(TRANSACTION_SCHEMA),
    },
}

_FILTER_PARAMETERS = [
    {"name": "as_of", "in": "query", "schema": {"type": "string", "format": "date"},
     "description": "Business date for FX rates and flows (default: latest loaded)"},
    {"name": "date_from", "in": "query", "schema": {"type": "string", "format": "date"}},
    {"name": "date_to", "in": "query", "schema": {"type": "string", "format": "date"}},
    {"name": "direction", "in": "query", "schema": {"type": "string", "enum": ["in", "out"]}},
    {"name": "type", "in": "query", "schema": {"type": "string"},
     "description": "Transaction type, e.g. TRANSFER_IN"},
    {"name": "min_amount", "in": "query", "schema": {"type": "string"},
     "description": "Minimum absolute amount"},
]

register_path("/customers", {"get": {
    "summary": "Search customers in your scope",
    "description": "By name (exact or prefix), mobile, ID number, any source's customer "
                   "number, account number or customer id. Identifiers come back masked.",
    "parameters": [{"name": "q", "in": "query", "required": True,
                    "schema": {"type": "string", "minLength": 1,
                               "maxLength": services.MAX_QUERY_LENGTH}}, *PAGE_PARAMETERS],
    "responses": {"200": {"description": "A page of customers", "content": {
        "application/json": {"schema": _page_of(SUMMARY_SCHEMA)}}},
        **_error_responses(400, 401)}}})

register_path("/customers/{id}", {"get": {
    "summary": "The customer 360 view (audited)",
    "description": "page and per_page page the recent transactions; the filters narrow "
                   "them. A customer outside your scope answers 404.",
    "parameters": [_CUSTOMER_ID, *PAGE_PARAMETERS, *_FILTER_PARAMETERS],
    "responses": {"200": {"description": "The customer", "content": {
        "application/json": {"schema": VIEW_SCHEMA}}},
        **_error_responses(400, 401, 404)}}})

register_path("/customers/{id}/reveal", {"post": {
    "summary": "Reveal a masked identifier (audited; not for analysts)",
    "parameters": [_CUSTOMER_ID],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["field"],
        "properties": {"field": {"type": "string", "enum": list(MASKED_FIELDS)}}}}}},
    "responses": {"200": {"description": "The unmasked value", "content": {
        "application/json": {"schema": {
            "type": "object", "required": ["field", "value"],
            "properties": {"field": _STRING, "value": _NULLABLE_STRING}}}}},
        **_error_responses(400, 401, 403, 404)}}})
