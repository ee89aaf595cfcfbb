"""The bell: notifications to users about assignments, reassignments and new tasks.

Services call ``notify`` / ``notify_staff`` inside their own transaction; a notification
names its kind and parameters and is worded per locale when shown."""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from integration.db import utcnow
from portal.errors import N_, NotFound
from portal.paging import check_page
from portal.models import User
from portal.workbench.models import Notification

KINDS = ("assigned", "reassigned_away", "book_joined", "book_left", "tasks_generated",
         "task_assigned", "opportunity_confirmed", "tier_changed")


def notify(session: Session, user_ids: Iterable[int], kind: str,
           params: dict[str, Any] | None = None, customer_id: int | None = None,
           task_id: int | None = None) -> int:
    """One notification per user; the number written."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    rows = [{"user_id": user_id, "kind": kind, "params": params or {},
             "customer_id": customer_id, "task_id": task_id, "created_at": utcnow()}
            for user_id in sorted(set(user_ids))]
    if rows:
        session.execute(insert(Notification), rows)
    return len(rows)


def users_by_staff(session: Session, staff_ids: Iterable[str]) -> dict[str, int]:
    """Active users' ids by staff id (staff without an active user get nothing)."""
    wanted = sorted(set(staff_ids))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 1000):
        found.update((staff_id, user_id) for staff_id, user_id in session.execute(
            select(User.staff_id, User.id)
            .where(User.staff_id.in_(wanted[start:start + 1000]), User.active.is_(True))))
    return found


def notify_staff(session: Session, staff_ids: Iterable[str], kind: str,
                 params: dict[str, Any] | None = None, customer_id: int | None = None,
                 task_id: int | None = None) -> int:
    """``notify`` the active users of these staff ids; the number written."""
    users = users_by_staff(session, staff_ids)
    return notify(session, users.values(), kind, params, customer_id, task_id)


def unread_count(session: Session, user_id: int) -> int:
    """The bell's number (one count over the user's unread index range)."""
    return session.scalar(select(func.count()).select_from(Notification)
                          .where(Notification.user_id == user_id,
                                 Notification.read_at.is_(None))) or 0


def recent(session: Session, user_id: int, limit: int = 50) -> list[Notification]:
    """The user's latest notifications, newest first."""
    return list(session.scalars(select(Notification).where(Notification.user_id == user_id)
                                .order_by(Notification.created_at.desc(),
                                          Notification.id.desc()).limit(limit)))


def mark_read(session: Session, user_id: int, notification_id: int | None = None) -> int:
    """Mark one (or, without an id, every) unread notification of the user as read."""
    query = update(Notification).where(Notification.user_id == user_id,
                                       Notification.read_at.is_(None))
    if notification_id is not None:
        query = query.where(Notification.id == notification_id)
    count = session.execute(query.values(read_at=utcnow())).rowcount
    if notification_id is not None and count == 0 and session.scalar(
            select(Notification.id).where(Notification.id == notification_id,
                                          Notification.user_id == user_id)) is None:
        raise NotFound(N_("no such notification"))
    return count


def page_of(session: Session, user_id: int, page: int = 1, per_page: int = 20,
            unread_only: bool = False) -> tuple[list[Notification], int]:
    """One page of the user's notifications, newest first, and how many there are."""
    check_page(page, per_page)
    mine = [Notification.user_id == user_id]
    if unread_only:
        mine.append(Notification.read_at.is_(None))
    total = session.scalar(select(func.count()).select_from(Notification).where(*mine)) or 0
    items = list(session.scalars(
        select(Notification).where(*mine)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(per_page).offset((page - 1) * per_page)))
    return items, total


def get(session: Session, user_id: int, notification_id: int) -> Notification:
    """The user's own notification; anyone else's answers NotFound, as a missing one."""
    found = session.scalar(select(Notification).where(Notification.id == notification_id,
                                                      Notification.user_id == user_id))
    if found is None:
        raise NotFound(N_("no such notification"))
    return found


def open_one(session: Session, user_id: int, notification_id: int) -> Notification:
    """The user's notification, marked read (opening it is reading it)."""
    found = get(session, user_id, notification_id)
    if found.read_at is None:
        found.read_at = utcnow()
        session.flush()
    return found
