"""Notifications as JSON under /api/v1 (bearer tokens): the caller's own, nobody else's."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from portal.api.auth import api_user, token_required
from portal.api.openapi import PAGE_PARAMETERS, _error_responses, _page_of, register_path
from portal.customers.services import parse_int
from portal.errors import Invalid
from portal.extensions import csrf, db
from portal.workbench import notifications
from portal.workbench.models import Notification
from portal.workbench.notification_text import describe

blueprint = Blueprint("notifications_api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)  # bearer tokens, not cookies

DEFAULT_PER_PAGE = 20
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


def _stamp(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def notification_json(n: Notification) -> dict[str, Any]:
    return {"id": n.id, "kind": n.kind, "params": n.params or {}, "text": describe(n),
            "created_at": _stamp(n.created_at), "read_at": _stamp(n.read_at),
            "customer_id": n.customer_id, "task_id": n.task_id}


@blueprint.get("/notifications")
@token_required
def index():  # type: ignore[no-untyped-def]
    unread = (request.args.get("unread") or "").strip().lower()
    if unread not in TRUE + FALSE:
        raise Invalid("unread must be true or false")
    page = parse_int(request.args.get("page"), "page", 1)
    per_page = parse_int(request.args.get("per_page"), "per_page", DEFAULT_PER_PAGE)
    items, total = notifications.page_of(db.session, api_user().id, page, per_page,
                                         unread_only=unread in TRUE)
    return jsonify(items=[notification_json(n) for n in items], total=total, page=page,
                   per_page=per_page)


@blueprint.get("/notifications/unread-count")
@token_required
def unread_count():  # type: ignore[no-untyped-def]
    return jsonify(unread=notifications.unread_count(db.session, api_user().id))


@blueprint.post("/notifications/<int:notification_id>/read")
@token_required
def mark_read(notification_id: int):  # type: ignore[no-untyped-def]
    found = notifications.open_one(db.session, api_user().id, notification_id)
    return jsonify(notification_json(found))


@blueprint.post("/notifications/read-all")
@token_required
def mark_all_read():  # type: ignore[no-untyped-def]
    marked = notifications.mark_read(db.session, api_user().id)
    return jsonify(marked=marked, unread=0)


NOTIFICATION = {"type": "object", "required": [
    "id", "kind", "params", "text", "created_at", "read_at", "customer_id", "task_id"],
    "properties": {
        "id": {"type": "integer"},
        "kind": {"type": "string", "enum": list(notifications.KINDS)},
        "params": {"type": "object", "description": "The figures the text is worded from"},
        "text": {"type": "string",
                 "description": "The notification worded in the request's language"},
        "created_at": {"type": "string", "format": "date-time"},
        "read_at": {"type": ["string", "null"], "format": "date-time"},
        "customer_id": {"type": ["integer", "null"]},
        "task_id": {"type": ["integer", "null"]}}}
ID_PARAMETER = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}

register_path("/notifications", {"get": {
    "summary": "The caller's notifications, newest first",
    "parameters": [{"name": "unread", "in": "query", "schema": {"type": "boolean"},
                    "description": "true: only those not yet read"}, *PAGE_PARAMETERS],
    "responses": {"200": {"description": "A page of notifications", "content": {
        "application/json": {"schema": _page_of(NOTIFICATION)}}},
        **_error_responses(400, 401)}}})
register_path("/notifications/unread-count", {"get": {
    "summary": "How many of the caller's notifications are unread (the bell)",
    "responses": {"200": {"description": "The count", "content": {"application/json": {
        "schema": {"type": "object", "required": ["unread"],
                   "properties": {"unread": {"type": "integer"}}}}}},
        **_error_responses(401)}}})
register_path("/notifications/{id}/read", {"post": {
    "summary": "Mark one of the caller's notifications as read",
    "description": "Another user's notification answers 404, like a missing one.",
    "parameters": [ID_PARAMETER],
    "responses": {"200": {"description": "The notification, read", "content": {
        "application/json": {"schema": NOTIFICATION}}},
        **_error_responses(401, 404)}}})
register_path("/notifications/read-all", {"post": {
    "summary": "Mark every notification of the caller as read",
    "responses": {"200": {"description": "How many were marked", "content": {
        "application/json": {"schema": {"type": "object", "required": ["marked", "unread"],
                                        "properties": {"marked": {"type": "integer"},
                                                       "unread": {"type": "integer"}}}}}},
        **_error_responses(401)}}})
