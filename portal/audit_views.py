"""Reading the audit trail: the /audit page and GET /api/v1/audit, with the same rules
(admins everything; branch managers their subtree and the customers in their scope)."""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Any, Mapping

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_login import current_user, login_required

from portal import audit
from portal.api.auth import api_user, token_required
from portal.api.openapi import PAGE_PARAMETERS, _error_responses, _page_of, register_path
from portal.errors import Invalid
from portal.extensions import csrf, db
from portal.models import User
from portal.scope import scope_for

blueprint = Blueprint("audit", __name__)
api = Blueprint("audit_api", __name__, url_prefix="/api/v1")
csrf.exempt(api)  # bearer tokens, not cookies

MAX_PER_PAGE = 100


def _positive(args: Mapping[str, str], name: str, default: int, maximum: int | None = None
              ) -> int:
    raw = args.get(name)
    if raw in (None, ""):
        return default
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise Invalid(f"{name} must be a whole number of at least 1")
    value = int(raw)
    if maximum is not None and value > maximum:
        raise Invalid(f"{name} may be at most {maximum}")
    return value


def _since(raw: str | None) -> datetime | None:
    """An ISO 8601 date or date-time; without a zone it is UTC."""
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw) if "T" in raw or " " in raw.strip() else \
            datetime.combine(date.fromisoformat(raw), time.min)
    except ValueError:
        raise Invalid("since must be an ISO 8601 date or date-time") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def parse_query(args: Mapping[str, str]) -> tuple[audit.AuditFilter, int, int]:
    """Filters and paging from a query string; Invalid (400) on a malformed value."""
    customer = args.get("customer") or None
    if customer is not None and (not customer.isascii() or not customer.isdigit()):
        raise Invalid("customer must be a customer id")
    filters = audit.AuditFilter(
        customer_id=int(customer) if customer else None,
        username=(args.get("user") or "").strip()[:64] or None,
        action=(args.get("action") or "").strip()[:40] or None,
        since=_since(args.get("since")))
    page = _positive(args, "page", 1)
    per_page = _positive(args, "per_page", current_app.config["API_PAGE_SIZE"], MAX_PER_PAGE)
    return filters, page, per_page


def _search(user: User, args: Mapping[str, str]) -> audit.AuditPage:
    filters, page, per_page = parse_query(args)
    return audit.search(db.session, user, scope_for(db.session, user), filters, page, per_page)


@blueprint.get("/audit")
@login_required
def events():  # type: ignore[no-untyped-def]
    user = current_user._get_current_object()  # type: ignore[attr-defined]
    result = _search(user, request.args)
    pages = max(1, -(-result.total // result.per_page))
    return render_template("audit/events.html", result=result, pages=pages,
                           args=request.args.to_dict())


@api.get("/audit")
@token_required
def events_json():  # type: ignore[no-untyped-def]
    result = _search(api_user(), request.args)
    return jsonify(items=[audit.as_json(e) for e in result.items], total=result.total,
                   page=result.page, per_page=result.per_page)


EVENT: dict[str, Any] = {"type": "object", "required": ["id", "at", "username", "action"],
                         "properties": {
    "id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
    "user_id": {"type": ["integer", "null"]}, "username": {"type": "string"},
    "action": {"type": "string",
               "description": "sign_in, sign_in_failed, sign_out, token_issued, "
                              "token_refused, reassign, user_create, …"},
    "customer_id": {"type": ["integer", "null"]}, "branch_code": {"type": ["string", "null"]},
    "detail": {"type": "object"}, "ip": {"type": ["string", "null"]},
    "user_agent": {"type": ["string", "null"]}}}

register_path("/audit", {"get": {
    "summary": "The audit trail, newest first",
    "description": "Admins read every event; branch managers the events of their branch "
                   "subtree and those about customers in their scope; other roles get 403. "
                   "A customer outside a branch manager's scope answers 404.",
    "parameters": [
        {"name": "customer", "in": "query", "schema": {"type": "integer"},
         "description": "Only events about this customer"},
        {"name": "user", "in": "query", "schema": {"type": "string"},
         "description": "Only events by this username"},
        {"name": "action", "in": "query", "schema": {"type": "string"}},
        {"name": "since", "in": "query", "schema": {"type": "string"},
         "description": "ISO 8601 date or date-time (UTC when no zone is given)"},
        *PAGE_PARAMETERS],
    "responses": {"200": {"description": "A page of events", "content": {
        "application/json": {"schema": _page_of(EVENT)}}},
        **_error_responses(400, 401, 403, 404)}}})
