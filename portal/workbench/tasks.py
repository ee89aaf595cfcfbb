"""Tasks: what an RM is to do, for whom, by when, and what came of it."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.db import utcnow
from integration.models import Customer
from portal.errors import Invalid
from portal.models import User
from portal.workbench.models import PRIORITIES, RECURRENCES, TASK_KINDS, Task

MAX_TITLE = 200
MAX_NOTE = 2000


def staff_branch(session: Session, staff_id: str) -> str | None:
    return session.scalar(select(User.branch_code).where(User.staff_id == staff_id))


def add_task(session: Session, *, assignee_staff_id: str, title: str, due_date: date,
             customer_id: int | None = None, kind: str = "manual", priority: str = "normal",
             note: str | None = None, reason: dict[str, Any] | None = None,
             recurrence: str | None = None, contact_id: int | None = None,
             created_by: int | None = None, dedupe_key: str | None = None) -> Task:
    """Write one task (callers have checked scope and who may be given it)."""
    title = (title or "").strip()
    if not title:
        raise Invalid("a title is required")
    if len(title) > MAX_TITLE:
        raise Invalid(f"the title may have at most {MAX_TITLE} characters")
    if note is not None and len(note) > MAX_NOTE:
        raise Invalid(f"the note may have at most {MAX_NOTE} characters")
    if kind not in TASK_KINDS:
        raise Invalid(f"unknown task kind {kind!r}")
    if priority not in PRIORITIES:
        raise Invalid(f"priority must be one of {', '.join(PRIORITIES)}")
    if recurrence is not None and recurrence not in RECURRENCES:
        raise Invalid(f"recurrence must be one of {', '.join(RECURRENCES)}")
    branch = (session.scalar(select(Customer.branch_code).where(Customer.id == customer_id))
              if customer_id is not None else staff_branch(session, assignee_staff_id))
    task = Task(customer_id=customer_id, assignee_staff_id=assignee_staff_id,
                branch_code=branch, kind=kind, title=title, note=note or None, reason=reason,
                due_date=due_date, priority=priority, status="open", recurrence=recurrence,
                contact_id=contact_id, created_by=created_by, dedupe_key=dedupe_key,
                created_at=utcnow())
    session.add(task)
    session.flush()
    return task


def for_customer(session: Session, customer_id: int, limit: int = 20) -> list[Task]:
    """The customer's open tasks, soonest first (the customer is in the caller's scope)."""
    return list(session.scalars(
        select(Task).where(Task.customer_id == customer_id, Task.status == "open")
        .order_by(Task.due_date, Task.id).limit(limit)))
