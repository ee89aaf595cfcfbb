"""The audit trail: every view of customer details, reveal, export, sign-in and
reassignment, written in the same transaction as what it records; and who may read it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence

from sqlalchemy import Select, func, insert, or_, select
from sqlalchemy.orm import Session

from integration.db import utcnow
from integration.models import Customer
from portal.errors import Forbidden
from portal.models import AuditEvent, User
from portal.scope import Scope, customer_in_scope, restrict


@dataclass(frozen=True)
class Actor:
    """Who is acting and from where (filled by the web layer, or by the CLI)."""

    user: User | None
    username: str
    ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def of(cls, user: User, ip: str | None = None, user_agent: str | None = None) -> Actor:
        return cls(user, user.username, ip, user_agent)


def record(session: Session, actor: Actor, action: str, *, customer_id: int | None = None,
           branch_code: str | None = None, **detail: Any) -> AuditEvent:
    event = AuditEvent(
        user_id=actor.user.id if actor.user else None, username=actor.username[:64],
        action=action, customer_id=customer_id,
        branch_code=branch_code or (actor.user.branch_code if actor.user else None),
        detail=detail, ip=actor.ip, user_agent=(actor.user_agent or "")[:300] or None)
    session.add(event)
    session.flush()
    return event


def record_many(session: Session, actor: Actor, action: str,
                events: Sequence[Mapping[str, Any]]) -> int:
    """One event per mapping (customer_id, branch_code, detail), in one bulk insert."""
    if not events:
        return 0
    at = utcnow()
    rows = [{"at": at, "user_id": actor.user.id if actor.user else None,
             "username": actor.username[:64], "action": action,
             "customer_id": event.get("customer_id"),
             "branch_code": event.get("branch_code")
             or (actor.user.branch_code if actor.user else None),
             "detail": dict(event.get("detail") or {}), "ip": actor.ip,
             "user_agent": (actor.user_agent or "")[:300] or None} for event in events]
    session.execute(insert(AuditEvent), rows)
    return len(rows)


# Reading the trail ---------------------------------------------------------------------

@dataclass(frozen=True)
class AuditFilter:
    customer_id: int | None = None
    username: str | None = None
    action: str | None = None
    since: datetime | None = None


@dataclass(frozen=True)
class AuditPage:
    items: list[AuditEvent]
    total: int
    page: int
    per_page: int


def readable(session: Session, user: User, scope: Scope) -> Select[tuple[AuditEvent]]:
    """Events the user may read: admins all; branch managers those of their branch
    subtree and those about customers in their scope; anyone else: Forbidden."""
    query = select(AuditEvent)
    if user.role == "admin":
        return query
    if user.role == "branch_manager" and scope.kind == "branches":
        customers = restrict(select(Customer.id), scope)
        return query.where(or_(AuditEvent.branch_code.in_(sorted(scope.branches)),
                               AuditEvent.customer_id.in_(customers)))
    raise Forbidden("the audit log is read by branch managers and administrators")


def search(session: Session, user: User, scope: Scope, filters: AuditFilter,
           page: int = 1, per_page: int = 20) -> AuditPage:
    """A page of the events the user may read, newest first."""
    query = readable(session, user, scope)
    if filters.customer_id is not None:
        if user.role != "admin":
            customer_in_scope(session, scope, filters.customer_id)  # 404 outside the scope
        query = query.where(AuditEvent.customer_id == filters.customer_id)
    if filters.username:
        # A known user's events are found through the (user_id, at) index; a name nobody
        # has (failed sign-ins of made-up names, "cli") only by its text.
        user_id = session.scalar(select(User.id).where(User.username == filters.username))
        query = query.where(AuditEvent.user_id == user_id if user_id is not None
                            else AuditEvent.username == filters.username)
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.since is not None:
        query = query.where(AuditEvent.at >= filters.since)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    items = session.scalars(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                            .limit(per_page).offset((page - 1) * per_page)).all()
    return AuditPage(list(items), total or 0, page, per_page)


def as_json(event: AuditEvent) -> dict[str, Any]:
    return {"id": event.id, "at": event.at.isoformat(), "user_id": event.user_id,
            "username": event.username, "action": event.action,
            "customer_id": event.customer_id, "branch_code": event.branch_code,
            "detail": event.detail, "ip": event.ip, "user_agent": event.user_agent}
