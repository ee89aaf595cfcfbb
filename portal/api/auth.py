"""Bearer-token authentication for the JSON API (systems and scripts)."""
from __future__ import annotations

from datetime import timedelta
from functools import wraps
from typing import Any, Callable

from flask import current_app, g, request

from portal.errors import DomainError
from portal.extensions import db
from portal.models import User
from portal.security import AuthError, TokenSettings, user_from_token


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


def token_settings() -> TokenSettings:
    return TokenSettings(secret=current_app.config["SECRET_KEY"],
                         lifetime=timedelta(seconds=current_app.config["TOKEN_LIFETIME_SECONDS"]))


def api_user() -> User:
    return g.api_user  # type: ignore[no-any-return]


def token_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("a bearer token is required (POST /api/v1/auth/token)")
        try:
            g.api_user = user_from_token(db.session, token.strip(), token_settings())
        except AuthError as exc:
            raise Unauthorized(str(exc)) from None
        return view(*args, **kwargs)

    return wrapper
