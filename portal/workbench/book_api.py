"""The book of business and the team view as JSON under /api/v1 (bearer tokens)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import Blueprint, jsonify, request

from portal.api.auth import api_user, token_required
from portal.api.openapi import _error_responses, _page_of, register_path
from portal.customers.services import parse_int, round_money
from portal.extensions import csrf, db
from portal.scope import scope_for
from portal.workbench import book, team
from portal.workbench.book import BookQuery

blueprint = Blueprint("book_api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)  # bearer tokens, not cookies


def _money(value: Decimal | None) -> str | None:
    return str(round_money(value)) if value is not None else None


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@blueprint.get("/book")
@token_required
def book_list():  # type: ignore[no-untyped-def]
    scope = scope_for(db.session, api_user())
    book.check_reads_book(scope)
    query, _problems = BookQuery.parse(request.args)
    page = parse_int(request.args.get("page"), "page", 1)
    per_page = parse_int(request.args.get("per_page"), "per_page", book.PER_PAGE)
    result = book.book_page(db.session, scope, query, page, per_page)
    response = jsonify(
        items=[{"id": r.id, "name": r.name, "status": r.status, "branch": r.branch_code,
                "branch_name": r.branch_name, "rm": r.rm, "rm_name": r.rm_name,
                "mobile": r.mobile, "aum": _money(r.aum), "liabilities": _money(r.liabilities),
                "last_contact": _iso(r.last_contact), "next_task_due": _iso(r.next_task),
                "open_alerts": r.open_alerts, "overdue_for_contact": r.overdue}
               for r in result.rows],
        total=result.total, page=result.page, per_page=result.per_page,
        balances_as_of=_iso(result.as_of), today=_iso(result.today),
        query=query.params())
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/team")
@token_required
def team_list():  # type: ignore[no-untyped-def]
    result = team.team_view(db.session, scope_for(db.session, api_user()))
    return jsonify(team.as_json(result, _money))


# -- OpenAPI ---------------------------------------------------------------------------

_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_MONEY = {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$",
          "description": "CNY with 2 decimals (rounded half up)"}
_NULLABLE_MONEY = {**_MONEY, "type": ["string", "null"]}
_DATE = {"type": ["string", "null"], "format": "date"}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema, "description": description}


BOOK_PARAMETERS = [
    _query("q", {"type": "string", "maxLength": book.MAX_PREFIX}, "Name starts with"),
    _query("branch", _STRING, "A branch of your scope and every branch below it"),
    _query("rm", _STRING, "Effective RM's staff id (branch managers)"),
    _query("status", {"type": "string", "enum": list(book.STATUSES)}, "Customer status"),
    _query("band", _STRING, "A contact-policy band by its minimum AUM (e.g. 500000), or "
           "'none' for below every band"),
    _query("aum_min", _STRING, "AUM at least (CNY)"),
    _query("aum_max", _STRING, "AUM at most (CNY)"),
    _query("contact_age", {"type": "string", "enum": list(book.CONTACT_AGES)},
           "never: never contacted; 30/90/180: not contacted within that many days "
           "(never contacted included)"),
    _query("overdue", {"type": "string", "enum": ["1", "0"]},
           "1: only customers overdue for contact under the contact policy"),
    _query("sort", {"type": "string", "enum": list(book.SORTS), "default": "name"},
           "Sort column (ties broken by customer id)"),
    _query("dir", {"type": "string", "enum": list(book.DIRECTIONS), "default": "asc"},
           "Sort direction"),
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
    {"name": "per_page", "in": "query", "schema": {
        "type": "integer", "minimum": 1, "maximum": book.MAX_PER_PAGE,
        "default": book.PER_PAGE}},
]

BOOK_ROW = {"type": "object", "required": ["id", "name", "rm", "aum", "open_alerts",
                                           "overdue_for_contact"], "properties": {
    "id": {"type": "integer"}, "name": _STRING, "status": _STRING,
    "branch": _NULLABLE_STRING, "branch_name": _NULLABLE_STRING,
    "rm": {**_NULLABLE_STRING, "description": "Effective RM's staff id"},
    "rm_name": _NULLABLE_STRING, "mobile": {**_NULLABLE_STRING, "description": "Masked"},
    "aum": _NULLABLE_MONEY, "liabilities": _NULLABLE_MONEY,
    "last_contact": {"type": ["string", "null"], "format": "date-time"},
    "next_task_due": _DATE, "open_alerts": {"type": "integer"},
    "overdue_for_contact": {"type": "boolean"}}}

_book_page = _page_of(BOOK_ROW)
_book_page["properties"] = {**_book_page["properties"], "balances_as_of": _DATE,
                            "today": _DATE, "query": {"type": "object",
                                                      "additionalProperties": _STRING}}

register_path("/book", {"get": {
    "summary": "Your book of business (RMs, advisers) or your subtree's (branch managers)",
    "description": "Customers in your scope with AUM and liabilities as of the last nightly "
                   "refresh, last contact, next open task, open alerts and whether they are "
                   "overdue for contact. Analysts and admins: 403.",
    "parameters": BOOK_PARAMETERS,
    "responses": {"200": {"description": "A page of the book", "content": {
        "application/json": {"schema": _book_page}}}, **_error_responses(400, 401, 403)}}})

TEAM_ROW = {"type": "object", "properties": {
    "staff_id": _NULLABLE_STRING, "name": _NULLABLE_STRING,
    "customers": {"type": "integer"}, "aum": _MONEY,
    "overdue_for_contact": {"type": "integer"}, "contacts_this_month": {"type": "integer"},
    "open_tasks": {"type": "integer"}, "overdue_tasks": {"type": "integer"},
    "pipeline": _MONEY, "weighted_pipeline": _MONEY, "won_this_month": {"type": "integer"},
    "won_this_month_amount": _MONEY, "confirmed_this_month": {"type": "integer"},
    "confirmed_this_month_amount": _MONEY}}

register_path("/team", {"get": {
    "summary": "Your team: per RM or adviser of your subtree (branch managers)",
    "responses": {"200": {"description": "The team with a totals row", "content": {
        "application/json": {"schema": {
            "type": "object", "required": ["items", "total"], "properties": {
                "as_of": _DATE, "month_start": _DATE,
                "items": {"type": "array", "items": TEAM_ROW}, "total": TEAM_ROW}}}}},
        **_error_responses(401, 403)}}})
