"""Managing portal users (the CLI now; an admin page can call the same functions)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integration.models import Branch
from portal.errors import Conflict, Invalid, NotFound
from portal.models import ROLES, User
from portal.security import hash_password

ROLES_WITH_BOOK = ("rm", "advisor")


def create_user(session: Session, username: str, role: str, branch_code: str, password: str,
                method: str, staff_id: str | None = None,
                display_name: str | None = None) -> User:
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    if not username or len(username) > 64 or not username.isprintable() or " " in username:
        raise Invalid("username must be 1-64 printable characters without spaces")
    if role in ROLES_WITH_BOOK and not staff_id:
        raise Invalid(f"a {role} needs --staff-id: their book is the customers the feeds "
                      f"assign to that staff id")
    if session.get(Branch, branch_code) is None:
        raise Invalid(f"branch {branch_code!r} is unknown (load the branch feed first)")
    try:
        hashed = hash_password(password, method)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    user = User(username=username, role=role, branch_code=branch_code, staff_id=staff_id,
                display_name=display_name, password_hash=hashed, active=True,
                failed_logins=0, session_version=1)
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"username {username!r} or staff id {staff_id!r} is taken") from None
    return user


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def disable_user(session: Session, username: str) -> User:
    """Signs the user out everywhere: sessions and tokens carry the old version."""
    user = _user(session, username)
    user.active = False
    user.session_version += 1
    session.flush()
    return user


def enable_user(session: Session, username: str) -> User:
    user = _user(session, username)
    user.active = True
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    return user


def reset_password(session: Session, username: str, password: str, method: str) -> User:
    user = _user(session, username)
    try:
        user.password_hash = hash_password(password, method)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    user.session_version += 1
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    return user
