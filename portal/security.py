"""Passwords, lock-out and API tokens: one place, vetted libraries only."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from integration.db import utcnow
from portal.models import User

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
TOKEN_ALGORITHM = "HS256"  # pinned: a token naming any other algorithm is refused
TOKEN_ISSUER = "bank-crm"
TOKEN_AUDIENCE = "bank-crm-api"
MIN_PASSWORD_LENGTH = 10


class AuthError(Exception):
    """Sign-in or token refused; the message is safe to show."""


def hash_password(password: str, method: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return generate_password_hash(password, method=method)


DEFAULT_PASSWORD_METHOD = "scrypt"


@lru_cache(maxsize=4)
def _dummy_hash(method: str) -> str:
    """A hash to check against when the user does not exist.  It uses the method real
    passwords use, so an unknown user costs as much time as a wrong password: the answer
    time must not tell which usernames exist."""
    return generate_password_hash("not-a-real-password", method=method)


def authenticate(session: Session, username: str, password: str, now: datetime | None = None,
                 password_method: str = DEFAULT_PASSWORD_METHOD) -> User:
    """The user, or AuthError; counts failures and locks the account after too many.

    ``password_method`` is the method new passwords are hashed with (the app's
    PASSWORD_METHOD); unknown usernames are checked against a hash of that method."""
    now = now or utcnow()
    # FOR UPDATE: parallel attempts on one account queue here, so none reads a stale
    # failure count and a burst of guesses cannot slip past the lock-out.  (SQLite ignores
    # it; a stale reader there fails to write instead.)
    user = session.scalar(select(User).where(User.username == username).with_for_update()
                          .execution_options(populate_existing=True))
    if user is None:
        check_password_hash(_dummy_hash(password_method), password)
        raise AuthError("wrong username or password")
    if user.locked_until is not None and user.locked_until > now:
        raise AuthError("account locked after repeated failures; try again later")
    if not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
        session.flush()
        raise AuthError("wrong username or password")
    if not user.active:
        raise AuthError("account disabled")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    session.flush()
    return user


@dataclass(frozen=True)
class TokenSettings:
    secret: str
    lifetime: timedelta


def issue_token(user: User, settings: TokenSettings, now: datetime | None = None) -> str:
    now = now or utcnow()
    claims = {"sub": str(user.id), "ver": user.session_version, "role": user.role,
              "iss": TOKEN_ISSUER, "aud": TOKEN_AUDIENCE, "iat": now,
              "exp": now + settings.lifetime}
    return jwt.encode(claims, settings.secret, algorithm=TOKEN_ALGORITHM)


def user_from_token(session: Session, token: str, settings: TokenSettings) -> User:
    """The token's user, or AuthError: bad signature, algorithm, issuer, audience, expiry,
    or a user disabled (or whose password was reset) since the token was issued."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token, settings.secret, algorithms=[TOKEN_ALGORITHM], audience=TOKEN_AUDIENCE,
            issuer=TOKEN_ISSUER, options={"require": ["exp", "iat", "sub", "iss", "aud"]})
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.InvalidTokenError:
        raise AuthError("invalid token") from None
    user = session.get(User, int(claims["sub"])) if str(claims["sub"]).isdecimal() else None
    if user is None or not user.active or claims.get("ver") != user.session_version:
        raise AuthError("invalid token")
    return user
