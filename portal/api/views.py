"""The JSON API under /api/v1 (documented in openapi.py)."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from portal import audit
from portal.api.auth import Unauthorized, token_settings
from portal.api.openapi import document
from portal.errors import Invalid
from portal.extensions import csrf, db
from portal.security import AuthError, authenticate, issue_token
from portal.audit import Actor
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
        user = authenticate(db.session, username, password)
    except AuthError as exc:
        g.commit_on_error = True  # keep the failure count and its audit
        audit.record(db.session, Actor(None, username[:64], client_ip(),
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
