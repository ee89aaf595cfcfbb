"""Tier rules, evaluation and customer tiers as JSON under /api/v1 (bearer tokens).

Anyone signed in reads the rules; admins write a new version and evaluate a month; a
customer's tier is read by whoever may see the customer (404 otherwise, as for the 360
view); branch managers pin and unpin."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from integration.bank_calendar import bank_today
from integration.queries import latest_business_date
from portal.api.auth import api_user, token_required
from portal.api.openapi import _error_responses, register_path
from portal.customers.services import round_money
from portal.errors import Forbidden, Invalid
from portal.extensions import csrf, db
from portal.scope import scope_for
from portal.vip import evaluation, explain, pins, rules
from portal.vip.models import DECISION_OUTCOMES, CustomerTier, TierDecision
from portal.web import actor

blueprint = Blueprint("tiers_api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)  # bearer tokens, not cookies


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    return body


def _admin() -> Any:
    user = api_user()
    if user.role != "admin":
        raise Forbidden("only administrators change tier rules and run evaluations")
    return user


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(round_money(value))


def _names(version: int, code: str | None) -> dict[str, str | None]:
    en, zh = explain.version_names(version).get(code or "", (None, None))
    return {"name_en": en, "name_zh": zh}


def decision_json(d: TierDecision) -> dict[str, Any]:
    return {"month": d.month.strftime("%Y-%m"), "rule_version": d.rule_version,
            "outcome": d.outcome, "from_tier": d.from_tier, "to_tier": d.to_tier,
            **_names(d.rule_version, d.to_tier),
            "qualified_tier": d.qualified_tier, "adb": _money(d.adb),
            "contribution": _money(d.contribution), "products": d.products,
            "months_below": d.months_below, "explanation": explain.of(d),
            "explanation_text": explain.describe(explain.of(d)),
            "decided_at": d.decided_at.isoformat()}


def tier_json(tier: CustomerTier | None, latest: TierDecision | None) -> dict[str, Any] | None:
    """The current tier; ``latest``, the decision behind it, names its month and version."""
    if tier is None or latest is None:
        return None
    pin = None if tier.pinned_tier is None else {
        "tier": tier.pinned_tier, "reason": tier.pin_reason,
        "expires": tier.pin_expires.isoformat() if tier.pin_expires else None,
        "pinned_by": tier.pinned_by}
    return {"code": tier.tier_code, **_names(latest.rule_version, tier.tier_code),
            "since": tier.since.isoformat(),
            "evaluated_month": latest.month.strftime("%Y-%m"),
            "rule_version": latest.rule_version, "months_below": tier.months_below, "pin": pin}


@blueprint.get("/tiers/rules")
@token_required
def current_rules():  # type: ignore[no-untyped-def]
    return jsonify(rules.current(db.session).as_json())


@blueprint.get("/tiers/rules/versions")
@token_required
def rule_versions():  # type: ignore[no-untyped-def]
    return jsonify(items=[r.as_json() for r in rules.versions(db.session)])


@blueprint.post("/tiers/rules")
@token_required
def create_rules():  # type: ignore[no-untyped-def]
    user = _admin()
    body = _body()
    based_on = body.get("based_on")
    if based_on is not None and (isinstance(based_on, bool) or not isinstance(based_on, int)):
        raise Invalid("based_on must be a rule version")
    proposal = rules.merge(rules.current(db.session), body)
    created = rules.create_version(db.session, actor(user), proposal, based_on)
    return jsonify(created.as_json()), 201


@blueprint.post("/tiers/evaluations")
@token_required
def evaluate():  # type: ignore[no-untyped-def]
    user = _admin()
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict) or set(body) - {"month"}:
        raise Invalid("the body may only give the month (YYYY-MM)")
    month_text = body.get("month")
    if month_text is not None and not isinstance(month_text, str):
        raise Invalid("month must be a month as YYYY-MM")
    today = latest_business_date(db.session)
    month = evaluation.parse_month(month_text) or evaluation.default_month(today)
    result = evaluation.evaluate(db.session, month, business_date=today, actor=actor(user))
    return jsonify(result.as_json())


@blueprint.get("/customers/<int:customer_id>/tier")
@token_required
def customer_tier(customer_id: int):  # type: ignore[no-untyped-def]
    user = api_user()
    view = pins.view_tier(db.session, scope_for(db.session, user), actor(user), customer_id,
                          channel="api")
    latest = view.history[0] if view.history else None
    explanation = explain.of(latest) if latest is not None else None
    response = jsonify(
        customer_id=view.customer_id, tier=tier_json(view.current, latest),
        explanation=explanation,
        explanation_text=explain.describe(explanation) if explanation else None,
        history=[decision_json(d) for d in view.history])
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.put("/customers/<int:customer_id>/tier/pin")
@token_required
def pin(customer_id: int):  # type: ignore[no-untyped-def]
    user = api_user()
    body = _body()
    unknown = set(body) - {"tier", "reason", "expires"}
    if unknown:
        raise Invalid(f"unknown field {sorted(unknown)[0]!r}")
    tier, reason, expires = body.get("tier"), body.get("reason"), body.get("expires")
    if not isinstance(tier, str) or not isinstance(reason, (str, type(None))):
        raise Invalid("tier (a tier code) and reason (text) are required")
    try:
        expiry = date.fromisoformat(expires) if isinstance(expires, str) else None
    except ValueError:
        raise Invalid("expires must be a date (YYYY-MM-DD)") from None
    pinned = pins.pin(db.session, scope_for(db.session, user), actor(user), customer_id, tier,
                      reason, expiry, bank_today())
    return jsonify(customer_id=customer_id, tier=tier_json(pinned, _latest(customer_id)))


@blueprint.delete("/customers/<int:customer_id>/tier/pin")
@token_required
def unpin(customer_id: int):  # type: ignore[no-untyped-def]
    user = api_user()
    unpinned = pins.unpin(db.session, scope_for(db.session, user), actor(user), customer_id)
    return jsonify(customer_id=customer_id, tier=tier_json(unpinned, _latest(customer_id)))


def _latest(customer_id: int) -> TierDecision | None:
    """The customer's latest decision (a pin needs an evaluated customer)."""
    return db.session.scalar(select(TierDecision).where(TierDecision.customer_id == customer_id)
                             .order_by(TierDecision.month.desc()).limit(1))


# -- OpenAPI ---------------------------------------------------------------------------

_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}
_MONEY = {"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{4}$",
          "description": "A decimal amount in CNY with 4 places"}
_NULLABLE_MONEY = {**_MONEY, "type": ["string", "null"]}
_AMOUNT = {"type": ["string", "integer", "null"],
           "description": "An amount in CNY (a string, at most 4 decimals)"}
_CUSTOMER_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
TIER_SCHEMA = {"type": "object", "required": ["code", "rank", "name_en", "name_zh", "min_adb",
                                              "combine"], "properties": {
    "code": _STRING, "rank": {"type": "integer", "minimum": 0}, "name_en": _STRING,
    "name_zh": _STRING, "min_adb": _MONEY, "min_contribution": _NULLABLE_MONEY,
    "min_products": {"type": ["integer", "null"]},
    "combine": {"type": "string", "enum": list(rules.COMBINES)}}}
RULES_SCHEMA = {"type": "object", "required": ["version", "window_months", "grace_months",
                                               "tiers"], "properties": {
    "version": {"type": "integer"}, "window_months": {"type": "integer"},
    "grace_months": {"type": "integer"}, "note": _NULLABLE_STRING,
    "created_at": {"type": ["string", "null"], "format": "date-time"},
    "created_by": _NULLABLE_STRING, "tiers": {"type": "array", "items": TIER_SCHEMA}}}
EXPLANATION_SCHEMA = {"type": ["object", "null"], "additionalProperties": True,
                      "description": "code (the outcome), month, version, window, grace, "
                                     "adb, contribution, products, from, to, qualified, "
                                     "next, months_below, below_for, pin, and the "
                                     "conditions of the tiers it speaks of"}
DECISION_SCHEMA = {"type": "object", "properties": {
    "month": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}$"},
    "rule_version": {"type": "integer"},
    "outcome": {"type": "string", "enum": list(DECISION_OUTCOMES)},
    "from_tier": _NULLABLE_STRING, "to_tier": _STRING, "name_en": _NULLABLE_STRING,
    "name_zh": _NULLABLE_STRING, "qualified_tier": _STRING,
    "adb": {**_MONEY, "pattern": r"^-?[0-9]+\.[0-9]{2}$"},
    "contribution": {**_MONEY, "pattern": r"^-?[0-9]+\.[0-9]{2}$"},
    "products": {"type": "integer"}, "months_below": {"type": "integer"},
    "explanation": EXPLANATION_SCHEMA, "explanation_text": _STRING,
    "decided_at": {"type": "string", "format": "date-time"}}}
CUSTOMER_TIER_SCHEMA = {"type": ["object", "null"], "properties": {
    "code": _STRING, "name_en": _NULLABLE_STRING, "name_zh": _NULLABLE_STRING,
    "since": {"type": "string", "format": "date"}, "evaluated_month": _STRING,
    "rule_version": {"type": "integer"}, "months_below": {"type": "integer"},
    "pin": {"type": ["object", "null"], "properties": {
        "tier": _STRING, "reason": _NULLABLE_STRING,
        "expires": {"type": ["string", "null"], "format": "date"},
        "pinned_by": {"type": ["integer", "null"]}}}}}
PIN_RESULT = {"200": {"description": "The customer's tier and pin", "content": {
    "application/json": {"schema": {"type": "object", "properties": {
        "customer_id": {"type": "integer"}, "tier": CUSTOMER_TIER_SCHEMA}}}}}}

register_path("/tiers/rules", {
    "get": {"summary": "The tier rules in force (the newest version) with its tiers",
            "responses": {"200": {"description": "The rules", "content": {
                "application/json": {"schema": RULES_SCHEMA}}}, **_error_responses(401)}},
    "post": {
        "summary": "Write a new rule version (admins; audited)",
        "description": "Copy-on-write: fields not given keep the current version's values; "
                       "tiers are matched by code (a new code adds a tier). Ranks unique; "
                       "the base tier at rank 0 has no minimum; the minimum average daily "
                       "AUM rises with the rank; window 1-12 months, grace 0-12. based_on: "
                       "the version edited (409 if a newer one was saved meanwhile). The "
                       "next evaluation uses the new version; past decisions keep theirs.",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "properties": {
                "window_months": {"type": "integer", "minimum": 1, "maximum": 12},
                "grace_months": {"type": "integer", "minimum": 0, "maximum": 12},
                "note": _NULLABLE_STRING, "based_on": {"type": "integer"},
                "tiers": {"type": "array", "items": {
                    "type": "object", "required": ["code"], "properties": {
                        "code": _STRING, "rank": {"type": "integer"}, "name_en": _STRING,
                        "name_zh": _STRING, "min_adb": _AMOUNT, "min_contribution": _AMOUNT,
                        "min_products": {"type": ["integer", "null"]},
                        "combine": {"type": "string", "enum": list(rules.COMBINES)}}}}}}}}},
        "responses": {"201": {"description": "The new version", "content": {
            "application/json": {"schema": RULES_SCHEMA}}},
            **_error_responses(400, 401, 403, 409)}},
})

register_path("/tiers/rules/versions", {"get": {
    "summary": "Every rule version, newest first",
    "responses": {"200": {"description": "The versions", "content": {"application/json": {
        "schema": {"type": "object", "required": ["items"], "properties": {
            "items": {"type": "array", "items": RULES_SCHEMA}}}}}},
        **_error_responses(401)}}})

register_path("/tiers/evaluations", {"post": {
    "summary": "Evaluate every customer's tier for a month (admins; audited)",
    "description": "month: YYYY-MM, a complete month (default: the last complete month "
                   "before the newest business date). The latest evaluated month may be "
                   "evaluated again (its decisions are replaced, e.g. after a rule change); "
                   "an earlier one answers 409.",
    "requestBody": {"required": False, "content": {"application/json": {"schema": {
        "type": "object", "properties": {
            "month": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}$"}}}}}},
    "responses": {"200": {"description": "Counts of the month's decisions by outcome",
                          "content": {"application/json": {"schema": {
                              "type": "object", "properties": {
                                  "month": _STRING, "version": {"type": "integer"},
                                  "replaced": {"type": "boolean"},
                                  "customers": {"type": "integer"},
                                  "counts": {"type": "object", "additionalProperties": {
                                      "type": "integer"}}}}}}},
                  **_error_responses(400, 401, 403, 409)}}})

register_path("/customers/{id}/tier", {"get": {
    "summary": "A customer's tier, why, and the tier history (audited)",
    "description": "A customer outside your scope answers 404. explanation_text is in the "
                   "caller's language; history holds the last 12 evaluated months.",
    "parameters": [_CUSTOMER_ID],
    "responses": {"200": {"description": "The tier", "content": {"application/json": {
        "schema": {"type": "object", "required": ["customer_id", "tier", "history"],
                   "properties": {"customer_id": {"type": "integer"},
                                  "tier": CUSTOMER_TIER_SCHEMA,
                                  "explanation": EXPLANATION_SCHEMA,
                                  "explanation_text": _NULLABLE_STRING,
                                  "history": {"type": "array", "items": DECISION_SCHEMA}}}}}},
        **_error_responses(401, 404)}}})

register_path("/customers/{id}/tier/pin", {
    "put": {"summary": "Pin the customer's tier (branch managers; audited)",
            "description": "Honoured from the next evaluation until the expiry date (after "
                           "today, at most 12 months ahead). The customer must have been "
                           "evaluated once (409 otherwise).",
            "parameters": [_CUSTOMER_ID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["tier", "reason", "expires"], "properties": {
                    "tier": _STRING, "reason": {"type": "string", "maxLength": 500},
                    "expires": {"type": "string", "format": "date"}}}}}},
            "responses": {**PIN_RESULT, **_error_responses(400, 401, 403, 404, 409)}},
    "delete": {"summary": "Remove the customer's pin (branch managers; audited)",
               "parameters": [_CUSTOMER_ID],
               "responses": {**PIN_RESULT, **_error_responses(401, 403, 404, 409)}},
})
