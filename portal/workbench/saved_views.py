"""Saved views of the book of business: a user's filters and sort under a name of their
own. The params are checked again whenever a view is applied, because what they name can
change (a branch moved out of scope, a contact-policy band dropped)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integration.db import utcnow
from portal.errors import N_, Conflict, NotFound
from portal.scope import Scope
from portal.workbench.book import BookError, BookQuery, validate
from portal.workbench.models import SavedView

MAX_VIEWS = 20
MAX_NAME = 60


def list_views(session: Session, user_id: int) -> list[SavedView]:
    return list(session.scalars(select(SavedView).where(SavedView.user_id == user_id)
                                .order_by(SavedView.name, SavedView.id)))


def save_view(session: Session, user_id: int, name: str, query: BookQuery) -> SavedView:
    """Save the query's filters and sort under ``name`` (unique per user, at most
    MAX_VIEWS views each)."""
    name = " ".join((name or "").split())
    if not name:
        raise BookError("view_name", "a name is required")
    if len(name) > MAX_NAME:
        raise BookError("view_name_long", f"the name may have at most {MAX_NAME} characters",
                        limit=MAX_NAME)
    views = session.scalar(select(func.count()).select_from(SavedView)
                           .where(SavedView.user_id == user_id)) or 0
    if views >= MAX_VIEWS:
        raise BookError("too_many_views", f"you have {MAX_VIEWS} saved views already; "
                        f"delete one first", limit=MAX_VIEWS)
    view = SavedView(user_id=user_id, name=name, params=query.params(), created_at=utcnow())
    try:
        with session.begin_nested():  # a refused view leaves nothing pending behind
            session.add(view)
            session.flush()
    except IntegrityError:
        raise ViewNameTaken(name) from None
    return view


class ViewNameTaken(Conflict):
    def __init__(self, name: str) -> None:
        super().__init__(f"you already have a view named {name!r}")
        self.name = name


def get_view(session: Session, user_id: int, view_id: int) -> SavedView:
    """The user's own view; another user's answers as a missing one."""
    view = session.scalar(select(SavedView).where(SavedView.id == view_id,
                                                  SavedView.user_id == user_id))
    if view is None:
        raise NotFound(N_("no such saved view"))
    return view


def apply_view(session: Session, scope: Scope, user_id: int, view_id: int
               ) -> tuple[SavedView, BookQuery, list[BookError]]:
    """The view's query as it applies today, and what had to be left out of it."""
    view = get_view(session, user_id, view_id)
    params: dict[str, Any] = view.params if isinstance(view.params, dict) else {}
    query, problems = validate(session, scope, params)
    return view, query, problems


def delete_view(session: Session, user_id: int, view_id: int) -> None:
    session.delete(get_view(session, user_id, view_id))
    session.flush()
