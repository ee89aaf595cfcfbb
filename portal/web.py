"""Small helpers every view uses: the current actor, scope, and client details."""
from __future__ import annotations

from flask import request
from flask_login import current_user

from portal.audit import Actor
from portal.extensions import db
from portal.models import User
from portal.scope import Scope, scope_for


def client_ip() -> str | None:
    return request.remote_addr


def actor(user: User | None = None) -> Actor:
    user = user or current_user._get_current_object()  # type: ignore[attr-defined]
    return Actor.of(user, client_ip(), request.headers.get("User-Agent"))


def current_scope(user: User | None = None) -> Scope:
    user = user or current_user._get_current_object()  # type: ignore[attr-defined]
    return scope_for(db.session, user)
