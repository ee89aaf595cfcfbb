"""Contacts and the contact policy as JSON under /api/v1 (bearer tokens)."""
from __future__ import annotations

from datetime import date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, jsonify, request

from portal.api.auth import api_user, token_required
from portal.api.openapi import PAGE_PARAMETERS, _error_responses, _page_of, register_path
from portal.api.views import json_body
from portal.customers.services import parse_int
from portal.errors import Invalid
from portal.extensions import csrf, db
from portal.scope import scope_for
from portal.web import actor
from portal.workbench import contact_policy, contacts
from portal.workbench.models import CONTACT_CHANNELS, CONTACT_PURPOSES

blueprint = Blueprint("contacts_api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)  # bearer tokens, not cookies

DEFAULT_PER_PAGE = 20


def bank_zone() -> tzinfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def contact_json(row: contacts.ContactRow) -> dict[str, Any]:
    return {"id": row.id, "customer_id": row.customer_id, "customer_name": row.customer_name,
            "contacted_at": row.contacted_at.isoformat(), "channel": row.channel,
            "purpose": row.purpose, "outcome": row.outcome, "next_step": row.next_step,
            "staff_id": row.staff_id, "logged_by": row.logged_by, "branch": row.branch_code,
            "created_at": row.created_at.isoformat()}


def band_json(row: contact_policy.PolicyRow) -> dict[str, Any]:
    return {"min_aum": f"{row.min_aum:.2f}", "interval_days": row.interval_days,
            "updated_by": row.updated_by, "updated_at": row.updated_at.isoformat()}


@blueprint.get("/contacts")
@token_required
def index():  # type: ignore[no-untyped-def]
    user = api_user()
    page = contacts.search_contacts(
        db.session, scope_for(db.session, user), contacts.ContactFilter.parse(request.args),
        page=parse_int(request.args.get("page"), "page", 1),
        per_page=parse_int(request.args.get("per_page"), "per_page", DEFAULT_PER_PAGE),
        zone=bank_zone(), actor=actor(user))
    return jsonify(items=[contact_json(r) for r in page.items], total=page.total,
                   page=page.page, per_page=page.per_page)


@blueprint.get("/contacts/<int:contact_id>")
@token_required
def show(contact_id: int):  # type: ignore[no-untyped-def]
    user = api_user()
    row = contacts.get_contact(db.session, scope_for(db.session, user), contact_id,
                               actor=actor(user))
    return jsonify(contact_json(row) | {
        "follow_up_task_ids": contacts.follow_up_ids(db.session, row)})


def _str(body: dict[str, Any], name: str, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{name} must be a string")
    return value


def _moment(value: Any) -> datetime:
    if not isinstance(value, str):
        raise Invalid("contacted_at is required (an ISO 8601 date-time)")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise Invalid("contacted_at must be an ISO 8601 date-time") from None


def _follow_up(value: Any) -> contacts.FollowUp | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Invalid("follow_up must be an object with due_date (and title)")
    due = value.get("due_date")
    try:
        due_date = date.fromisoformat(due) if isinstance(due, str) else None
    except ValueError:
        due_date = None
    if due_date is None:
        raise Invalid("follow_up.due_date must be a date (YYYY-MM-DD)")
    return contacts.FollowUp(due_date, _str(value, "title"))


@blueprint.post("/contacts")
@token_required
def create():  # type: ignore[no-untyped-def]
    body = json_body()
    customer_id = body.get("customer_id")
    if isinstance(customer_id, bool) or not isinstance(customer_id, int):
        raise Invalid("customer_id must be a customer id")
    new = contacts.NewContact(
        customer_id=customer_id, contacted_at=_moment(body.get("contacted_at")),
        channel=_str(body, "channel", True) or "", purpose=_str(body, "purpose", True) or "",
        outcome=_str(body, "outcome", True) or "", next_step=_str(body, "next_step"),
        follow_up=_follow_up(body.get("follow_up")))
    user = api_user()
    scope = scope_for(db.session, user)
    logged = contacts.log_contact(db.session, scope, user, new, zone=bank_zone())
    row = contacts.get_contact(db.session, scope, logged.contact.id)
    response = jsonify(contact=contact_json(row),
                       follow_up_task_id=logged.follow_up.id if logged.follow_up else None)
    response.status_code = 201
    return response


@blueprint.get("/contact-policy")
@token_required
def policy():  # type: ignore[no-untyped-def]
    return jsonify(bands=[band_json(r) for r in contact_policy.policy_rows(db.session)])


def _band(value: Any) -> contact_policy.Band:
    if not isinstance(value, dict):
        raise Invalid("each band must be an object with min_aum and interval_days")
    raw, days = value.get("min_aum"), value.get("interval_days")
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise contact_policy.PolicyInvalid("min_aum", "min_aum must be a decimal string")
    try:
        min_aum = Decimal(str(raw))
    except InvalidOperation:
        raise contact_policy.PolicyInvalid("min_aum", "min_aum must be a decimal string") \
            from None
    return contact_policy.Band(min_aum, days)


@blueprint.put("/contact-policy")
@token_required
def replace_policy():  # type: ignore[no-untyped-def]
    user = api_user()
    contact_policy.require_admin(actor(user))  # 403 before reading the body
    bands = json_body().get("bands")
    if not isinstance(bands, list):
        raise Invalid("bands must be a list of {min_aum, interval_days}")
    contact_policy.replace_bands(db.session, actor(user), [_band(b) for b in bands])
    return jsonify(bands=[band_json(r) for r in contact_policy.policy_rows(db.session)])


# -- OpenAPI ---------------------------------------------------------------------------

_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_MONEY = {"type": "string", "pattern": r"^[0-9]+\.[0-9]{2}$"}

CONTACT_SCHEMA = {
    "type": "object",
    "required": ["id", "customer_id", "contacted_at", "channel", "purpose", "outcome"],
    "properties": {
        "id": {"type": "integer"}, "customer_id": {"type": "integer"},
        "customer_name": _STRING,
        "contacted_at": {"type": "string", "format": "date-time", "description": "UTC"},
        "channel": {"type": "string", "enum": list(CONTACT_CHANNELS)},
        "purpose": {"type": "string", "enum": list(CONTACT_PURPOSES)},
        "outcome": _STRING, "next_step": _NULLABLE_STRING,
        "staff_id": {**_NULLABLE_STRING,
                     "description": "Staff id of who logged it (null: staff without one)"},
        "logged_by": {**_STRING, "description": "Display name of who logged it"},
        "branch": {**_NULLABLE_STRING, "description": "The customer's branch"},
        "created_at": {"type": "string", "format": "date-time"}}}

NEW_CONTACT_SCHEMA = {
    "type": "object", "required": ["customer_id", "contacted_at", "channel", "purpose",
                                   "outcome"],
    "properties": {
        "customer_id": {"type": "integer"},
        "contacted_at": {"type": "string", "format": "date-time",
                         "description": "ISO 8601; without an offset it is the bank's local "
                                        "time (Asia/Shanghai). Not in the future, not more "
                                        "than one year ago."},
        "channel": {"type": "string", "enum": list(CONTACT_CHANNELS)},
        "purpose": {"type": "string", "enum": list(CONTACT_PURPOSES)},
        "outcome": {"type": "string", "minLength": 1, "maxLength": contacts.MAX_OUTCOME},
        "next_step": {"type": ["string", "null"], "maxLength": contacts.MAX_NEXT_STEP},
        "follow_up": {
            "type": ["object", "null"], "required": ["due_date"],
            "description": "Create a follow-up task: for the RM or adviser who logs it; "
                           "when a branch manager logs it, for the customer's RM.",
            "properties": {
                "due_date": {"type": "string", "format": "date",
                             "description": "On or after the contact's (local) date"},
                "title": {"type": ["string", "null"], "maxLength": 200,
                          "description": "Default: the next step"}}}}}

BAND_SCHEMA = {
    "type": "object", "required": ["min_aum", "interval_days"],
    "properties": {
        "min_aum": {**_MONEY, "description": "Customers with AUM (CNY) at or above this"},
        "interval_days": {"type": "integer", "minimum": 1,
                          "maximum": contact_policy.MAX_INTERVAL_DAYS},
        "updated_by": {**_NULLABLE_STRING, "description": "Username"},
        "updated_at": {"type": "string", "format": "date-time"}}}

POLICY_SCHEMA = {"type": "object", "required": ["bands"],
                 "properties": {"bands": {"type": "array", "items": BAND_SCHEMA,
                                          "description": "Highest band first"}}}

_FILTERS = [
    {"name": "customer_id", "in": "query", "schema": {"type": "integer"},
     "description": "All of this customer's contacts (404 when the customer is outside "
                    "your scope); without it, your own contacts (branch managers: their "
                    "branches')"},
    {"name": "channel", "in": "query", "schema": {"type": "string",
                                                  "enum": list(CONTACT_CHANNELS)}},
    {"name": "purpose", "in": "query", "schema": {"type": "string",
                                                  "enum": list(CONTACT_PURPOSES)}},
    {"name": "date_from", "in": "query", "schema": {"type": "string", "format": "date"},
     "description": "Contacts on or after this day (bank's local time)"},
    {"name": "date_to", "in": "query", "schema": {"type": "string", "format": "date"},
     "description": "Contacts on or before this day (bank's local time)"},
]

register_path("/contacts", {
    "get": {
        "summary": "The contact log, newest first",
        "description": "RMs and advisers read the contacts they logged, branch managers "
                       "those of their branch subtree; analysts and admins none.",
        "parameters": [*_FILTERS, *PAGE_PARAMETERS],
        "responses": {"200": {"description": "A page of contacts", "content": {
            "application/json": {"schema": _page_of(CONTACT_SCHEMA)}}},
            **_error_responses(400, 401, 404)}},
    "post": {
        "summary": "Log a contact with a customer in your scope (optionally a follow-up task)",
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": NEW_CONTACT_SCHEMA}}},
        "responses": {"201": {"description": "The contact and its follow-up task", "content": {
            "application/json": {"schema": {
                "type": "object", "required": ["contact", "follow_up_task_id"],
                "properties": {"contact": CONTACT_SCHEMA,
                               "follow_up_task_id": {"type": ["integer", "null"]}}}}}},
            **_error_responses(400, 401, 403, 404)}},
})

register_path("/contacts/{id}", {"get": {
    "summary": "One contact (audited)",
    "parameters": [{"name": "id", "in": "path", "required": True,
                    "schema": {"type": "integer"}}],
    "responses": {"200": {"description": "The contact", "content": {"application/json": {
        "schema": {**CONTACT_SCHEMA, "properties": {
            **CONTACT_SCHEMA["properties"],  # type: ignore[dict-item]
            "follow_up_task_ids": {"type": "array", "items": {"type": "integer"}}}}}}},
        **_error_responses(401, 404)}}})

register_path("/contact-policy", {
    "get": {
        "summary": "The contact policy: how often customers are to be contacted, by AUM band",
        "description": "The highest band a customer's AUM reaches applies; customers below "
                       "every band have no required contact. Any signed-in role may read it.",
        "responses": {"200": {"description": "The bands", "content": {
            "application/json": {"schema": POLICY_SCHEMA}}}, **_error_responses(401)}},
    "put": {
        "summary": "Replace the contact policy (admins; audited)",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["bands"], "properties": {"bands": {
                "type": "array", "items": {
                    "type": "object", "required": ["min_aum", "interval_days"],
                    "properties": {"min_aum": {"type": "string",
                                               "description": "Decimal, at least 0, at "
                                                              "most 2 places; unique"},
                                   "interval_days": {"type": "integer", "minimum": 1,
                                                     "maximum": 3650}}}}}}}}},
        "responses": {"200": {"description": "The policy now", "content": {
            "application/json": {"schema": POLICY_SCHEMA}}},
            **_error_responses(400, 401, 403)}},
})
