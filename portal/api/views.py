"""The JSON API under /api/v1 (documented in openapi.py)."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select

from portal import audit
from portal.assignments import MAX_CUSTOMERS
from portal.api.auth import Unauthorized, api_user, token_required, token_settings
from portal.api.openapi import _error_responses, document, register_path
from portal.errors import Invalid
from portal.extensions import csrf, db
from portal.models import User
from portal.security import AuthError, authenticate, issue_token
from portal.audit import Actor
from portal.scope import scope_for
from portal.web import client_ip

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)  # bearer tokens, not cookies: no cross-site request can carry one


def json_body() -> dict:  # type: ignore[type-arg]
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid("the request body must be a JSON object")
    return body


@blueprint.post("/auth/token")
def token():  # type: ignore[no-untyped-def]
    body = json_body()
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise Invalid("username and password are required strings")
    try:
        user = authenticate(db.session, username, password,
                            password_method=current_app.config["PASSWORD_METHOD"])
    except AuthError as exc:
        g.commit_on_error = True  # keep the failure count and its audit
        # Like a failed sign-in: the event names a known account, so its branch reads it.
        known = db.session.scalar(select(User).where(User.username == username))
        audit.record(db.session, Actor(known, username[:64], client_ip(),
                                       request.headers.get("User-Agent")),
                     "token_refused", reason=str(exc))
        raise Unauthorized(str(exc)) from None
    settings = token_settings()
    audit.record(db.session, Actor.of(user, client_ip(), request.headers.get("User-Agent")),
                 "token_issued")
    return jsonify(access_token=issue_token(user, settings), token_type="Bearer",
                   expires_in=int(settings.lifetime.total_seconds()))


@blueprint.get("/openapi.json")
def openapi():  # type: ignore[no-untyped-def]
    return jsonify(document())



@blueprint.post("/assignments")
@token_required
def assignments():  # type: ignore[no-untyped-def]
    from portal.assignments import reassign

    body = json_body()
    customers, to_staff_id, reason = body.get("customers"), body.get("to_staff_id"), \
        body.get("reason")
    if (not isinstance(customers, list) or not customers or len(customers) > MAX_CUSTOMERS
            or not all(type(c) is int for c in customers)):
        raise Invalid(f"customers must be a list of 1 to {MAX_CUSTOMERS} customer ids")
    if not isinstance(to_staff_id, str) or not isinstance(reason, str):
        raise Invalid("to_staff_id and reason are required strings")
    user = api_user()
    result = reassign(db.session, Actor.of(user, client_ip(), request.headers.get("User-Agent")),
                      scope_for(db.session, user), customers, to_staff_id, reason)
    return jsonify(to_staff_id=result.to_staff_id, reassigned=result.moved,
                   unchanged=result.unchanged,
                   handed_over={"tasks": result.tasks_moved,
                                "opportunities": result.opportunities_moved,
                                "service_requests": result.service_requests_moved})


register_path("/assignments", {"post": {
    "summary": "Reassign customers to another RM (branch managers)",
    "description": "All or nothing: every customer must be in the caller's scope (else 404) "
                   "and the RM must be an active RM or adviser of the caller's branch "
                   "subtree (else 400). The reassignment holds until the feed names another "
                   "manager for the customer; each move is kept in the history and audited. "
                   "In the same transaction the previous RMs' open tasks, open "
                   "opportunities and open service requests of the moved customers go to "
                   "the new RM, who gets a "
                   "hand-over task per moved customer (its note sums up the last three "
                   "contacts and the work handed over) and one notification; each previous "
                   "RM with a user account is notified once. Customers already with that RM "
                   "are left alone.",
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["customers", "to_staff_id", "reason"], "properties": {
            "customers": {"type": "array", "items": {"type": "integer"}, "minItems": 1,
                          "maxItems": MAX_CUSTOMERS},
            "to_staff_id": {"type": "string"},
            "reason": {"type": "string", "minLength": 1, "maxLength": 500}}}}}},
    "responses": {"200": {"description": "Customers moved, and those already with that RM",
                          "content": {"application/json": {"schema": {
                              "type": "object",
                              "required": ["to_staff_id", "reassigned", "unchanged",
                                           "handed_over"],
                              "properties": {
                                  "to_staff_id": {"type": "string"},
                                  "reassigned": {"type": "array", "items": {"type": "integer"}},
                                  "unchanged": {"type": "array",
                                                "items": {"type": "integer"}},
                                  "handed_over": {"type": "object", "properties": {
                                      "tasks": {"type": "integer"},
                                      "opportunities": {"type": "integer"},
                                      "service_requests": {"type": "integer"}}}}}}}},
                  **_error_responses(400, 401, 403, 404, 409)}}})


@blueprint.get("/customers/<int:customer_id>/assignments")
@token_required
def customer_assignments(customer_id: int):  # type: ignore[no-untyped-def]
    from portal.assignments import history
    from portal.scope import customer_in_scope

    user = api_user()
    customer = customer_in_scope(db.session, scope_for(db.session, user), customer_id)
    audit.record(db.session, Actor.of(user, client_ip(), request.headers.get("User-Agent")),
                 "view_customer", customer_id=customer.id, branch_code=customer.branch_code,
                 part="assignments")
    return jsonify(items=[{"assigned_at": move.assigned_at.isoformat(),
                           "from_staff_id": move.from_staff_id, "to_staff_id": move.to_staff_id,
                           "by": move.by, "reason": move.reason}
                          for move in history(db.session, customer.id)])


register_path("/customers/{id}/assignments", {"get": {
    "summary": "The customer's reassignments between RMs, newest first (the last 20; "
               "audited as a view of the customer)",
    "parameters": [{"name": "id", "in": "path", "required": True,
                    "schema": {"type": "integer"}}],
    "responses": {"200": {"description": "The history", "content": {"application/json": {
        "schema": {"type": "object", "required": ["items"], "properties": {"items": {
            "type": "array", "items": {"type": "object", "properties": {
                "assigned_at": {"type": "string", "format": "date-time"},
                "from_staff_id": {"type": ["string", "null"]},
                "to_staff_id": {"type": "string"}, "by": {"type": "string"},
                "reason": {"type": "string"}}}}}}}}},
                  **_error_responses(401, 404)}}})
