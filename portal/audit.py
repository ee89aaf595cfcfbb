"""The audit trail: every view of customer details, reveal, export, sign-in and
reassignment, written in the same transaction as what it records."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from portal.models import AuditEvent, User


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
