"""Tasks: what an RM is to do, for whom, by when, and what came of it.

Who sees a task is decided by ``portal.scope.restrict_work`` (an RM or adviser their own
tasks, a branch manager those of their subtree's branches); any other task answers
NotFound, exactly like a missing one. A task changes state only while it is open:
completing (with an outcome), cancelling, or changing its due date, priority or assignee
of a task that is done or cancelled is a Conflict. Completing a recurring task creates its
next occurrence, dated from the completed task's due date."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Mapping

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from integration.bank_calendar import add_months, bank_today
from integration.db import utcnow
from integration.models import Customer
from portal.errors import N_, Conflict, Forbidden, Invalid, NotFound
from portal.paging import Paged, check_page
from portal.models import User
from portal.scope import (
    ASSIGNABLE_ROLES,
    Scope,
    assignable_staff,
    customer_in_scope,
    restrict_work,
)
from portal.workbench import notifications
from portal.workbench.models import PRIORITIES, RECURRENCES, TASK_KINDS, TASK_STATUSES, Task

MAX_TITLE = 200
MAX_NOTE = 2000
MAX_OUTCOME = 500
UPCOMING_DAYS = 7
AGENDA_LIMIT = 100  # rows shown per agenda section (the count says how many there are)
STATUS_FILTERS = (*TASK_STATUSES, "all")
RECURRENCE_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}
# Sorting: high before normal before low.
PRIORITY_ORDER = case({"high": 0, "normal": 1, "low": 2}, value=Task.priority, else_=1)


def today() -> date:
    """The bank's calendar date the agenda is about (an RM opening it at 7:00 in Shanghai
    is on a new day while the server's UTC is not). Tests replace this function."""
    return bank_today()


def staff_branch(session: Session, staff_id: str) -> str | None:
    """The branch of the user with this staff id (None if there is none)."""
    return session.scalar(select(User.branch_code).where(User.staff_id == staff_id))


def add_task(session: Session, *, assignee_staff_id: str, title: str, due_date: date,
             customer_id: int | None = None, kind: str = "manual", priority: str = "normal",
             note: str | None = None, reason: dict[str, Any] | None = None,
             recurrence: str | None = None, contact_id: int | None = None,
             created_by: int | None = None, dedupe_key: str | None = None) -> Task:
    """Write one task (callers have checked scope and who may be given it)."""
    title = (title or "").strip()
    if not title:
        raise Invalid(N_("a title is required"))
    if len(title) > MAX_TITLE:
        raise Invalid(N_("the title may have at most %(max_title)s characters"),
                      max_title=MAX_TITLE)
    if note is not None and len(note) > MAX_NOTE:
        raise Invalid(N_("the note may have at most %(max_note)s characters"), max_note=MAX_NOTE)
    if kind not in TASK_KINDS:
        raise Invalid(N_("unknown task kind %(kind)r"), kind=kind)
    if priority not in PRIORITIES:
        raise Invalid(N_("priority must be one of %(priorities)s"),
                      priorities=", ".join(PRIORITIES))
    if recurrence is not None and recurrence not in RECURRENCES:
        raise Invalid(N_("recurrence must be one of %(recurrences)s"),
                      recurrences=", ".join(RECURRENCES))
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


# -- reading ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TaskRow:
    task: Task
    customer_name: str | None
    assignee_name: str | None


@dataclass(frozen=True)
class TaskPage(Paged):
    items: list[TaskRow]
    total: int
    page: int
    per_page: int


@dataclass(frozen=True)
class TaskFilter:
    """The list's filters; ``status`` "all" lists every status."""

    status: str = "open"
    kind: str | None = None
    due_from: date | None = None
    due_to: date | None = None
    customer_id: int | None = None
    assignee: str | None = None

    @classmethod
    def parse(cls, args: Mapping[str, Any]) -> TaskFilter:
        """From query-string values (empty means no filter); Invalid on bad values."""
        def text(name: str) -> str | None:
            value = args.get(name)
            return (str(value).strip() or None) if value is not None else None

        status = text("status") or "open"
        if status not in STATUS_FILTERS:
            raise Invalid(N_("status must be one of %(status_filters)s"),
                          status_filters=", ".join(STATUS_FILTERS))
        kind = text("kind")
        if kind is not None and kind not in TASK_KINDS:
            raise Invalid(N_("kind must be one of %(task_kinds)s"),
                          task_kinds=", ".join(TASK_KINDS))
        due_from, due_to = parse_day(text("due_from"), "due_from"), \
            parse_day(text("due_to"), "due_to")
        if due_from and due_to and due_from > due_to:
            raise Invalid(N_("due_from must not be after due_to"))
        customer = text("customer")
        if customer is not None and not (customer.isascii() and customer.isdigit()
                                         and len(customer) <= 9):
            raise Invalid(N_("customer must be a customer id"))
        assignee = text("assignee")
        if assignee is not None and len(assignee) > 32:
            raise Invalid(N_("assignee must be a staff id"))
        return cls(status, kind, due_from, due_to, int(customer) if customer else None,
                   assignee)

    def conditions(self) -> list[Any]:
        found = []
        if self.status != "all":
            found.append(Task.status == self.status)
        if self.kind:
            found.append(Task.kind == self.kind)
        if self.due_from:
            found.append(Task.due_date >= self.due_from)
        if self.due_to:
            found.append(Task.due_date <= self.due_to)
        if self.customer_id is not None:
            found.append(Task.customer_id == self.customer_id)
        if self.assignee:
            found.append(Task.assignee_staff_id == self.assignee)
        return found

    def args(self) -> dict[str, str]:
        """As query-string values again (for paging links)."""
        values = {"status": self.status, "kind": self.kind,
                  "due_from": self.due_from.isoformat() if self.due_from else None,
                  "due_to": self.due_to.isoformat() if self.due_to else None,
                  "customer": str(self.customer_id) if self.customer_id else None,
                  "assignee": self.assignee}
        return {k: v for k, v in values.items() if v}


def parse_day(text: str | None, name: str) -> date | None:
    """A date written YYYY-MM-DD (empty: None); Invalid otherwise."""
    if text is None or text == "":
        return None
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise Invalid(N_("%(name)s must be a date (YYYY-MM-DD)"), name=name) from None


def _rows(query: Select[Any]) -> Select[Any]:
    """Tasks with their customer's name and their assignee's name."""
    return (query.add_columns(Customer.name, func.coalesce(User.display_name, User.username))
            .outerjoin(Customer, Customer.id == Task.customer_id)
            .outerjoin(User, User.staff_id == Task.assignee_staff_id))


def _scoped(scope: Scope, *conditions: Any) -> Select[Any]:
    return restrict_work(select(Task).where(*conditions), scope, Task.assignee_staff_id,
                         Task.branch_code)


def list_tasks(session: Session, scope: Scope, filters: TaskFilter, page: int = 1,
               per_page: int = 20) -> TaskPage:
    """A page of the tasks in scope that match the filters, soonest due first."""
    check_page(page, per_page)
    query = _scoped(scope, *filters.conditions())
    total = session.scalar(select(func.count()).select_from(
        query.with_only_columns(Task.id).subquery())) or 0
    rows = session.execute(_rows(query).order_by(Task.due_date, PRIORITY_ORDER, Task.id)
                           .limit(per_page).offset((page - 1) * per_page)) \
        if total > (page - 1) * per_page else []
    return TaskPage([TaskRow(*row) for row in rows], total, page, per_page)


def get_task(session: Session, scope: Scope, task_id: int) -> Task:
    """The task, or NotFound — the same answer whether it exists or is out of scope."""
    task = session.scalar(_scoped(scope, Task.id == task_id))
    if task is None:
        raise NotFound(N_("no such task"))
    return task


def task_row(session: Session, scope: Scope, task_id: int) -> TaskRow:
    """The task with its customer's and assignee's names, or NotFound (as get_task)."""
    row = session.execute(_rows(_scoped(scope, Task.id == task_id))).first()
    if row is None:
        raise NotFound(N_("no such task"))
    return TaskRow(*row)


@dataclass(frozen=True)
class Agenda:
    today: date
    overdue: list[TaskRow]
    due_today: list[TaskRow]
    upcoming: list[TaskRow]
    counts: dict[str, int]  # section → number of tasks (the lists stop at AGENDA_LIMIT)


def agenda(session: Session, scope: Scope, day: date, staff_id: str | None = None,
           limit: int = AGENDA_LIMIT) -> Agenda:
    """Open tasks overdue, due ``day`` and due in the 7 days after it; a branch manager's
    narrowed to one RM with ``staff_id``."""
    base = [Task.status == "open"]
    if staff_id:
        base.append(Task.assignee_staff_id == staff_id)
    last = day + timedelta(days=UPCOMING_DAYS)
    sections = {"overdue": Task.due_date < day, "today": Task.due_date == day,
                "upcoming": (Task.due_date > day) & (Task.due_date <= last)}
    totals = session.execute(_scoped(scope, *base, Task.due_date <= last).with_only_columns(
        *[func.sum(case((condition, 1), else_=0)) for condition in sections.values()])).one()
    counts = {name: int(total or 0) for name, total in zip(sections, totals)}
    found = {name: [TaskRow(*row) for row in session.execute(
        _rows(_scoped(scope, *base, condition))
        .order_by(Task.due_date, PRIORITY_ORDER, Task.id).limit(limit))]
        if counts.get(name) else [] for name, condition in sections.items()}
    return Agenda(day, found["overdue"], found["today"], found["upcoming"], counts)


def team(session: Session, scope: Scope) -> list[User]:
    """Who may be given tasks by the holder of ``scope``: a branch manager's active RMs and
    advisers, or the RM themself."""
    query = select(User).where(User.active.is_(True), User.role.in_(ASSIGNABLE_ROLES),
                               User.staff_id.is_not(None))
    if scope.kind == "branches":
        query = query.where(User.branch_code.in_(sorted(scope.branches)))
    elif scope.kind == "book" and scope.staff_id:
        query = query.where(User.staff_id == scope.staff_id)
    else:
        return []
    return list(session.scalars(query.order_by(User.staff_id)))


# -- changing --------------------------------------------------------------------------

def _require_work(scope: Scope) -> None:
    if scope.kind not in ("book", "branches"):
        raise Forbidden(N_("tasks are for relationship managers, advisers and branch managers"))


def _text(value: Any, name: str, limit: int, missing: str | None = None) -> str | None:
    """Stripped text of at most ``limit`` characters; Invalid(``missing``) when empty and
    required."""
    if value is not None and not isinstance(value, str):
        raise Invalid(N_("the %(name)s must be text"), name=name)
    value = (value or "").strip()
    if missing and not value:
        raise Invalid(missing)
    if len(value) > limit:
        raise Invalid(N_("the %(name)s may have at most %(limit)s characters"),
                      name=name, limit=limit)
    return value or None


def _check_due(due_date: Any, day: date) -> date:
    if not isinstance(due_date, date):
        raise Invalid(N_("a due date is required"))
    if due_date < day:
        raise Invalid(N_("the due date cannot be in the past"))
    return due_date


def _tell_assignee(session: Session, user: User, task: Task) -> None:
    """Someone other than the assignee gave them the task: notify them."""
    if task.assignee_staff_id != user.staff_id:
        notifications.notify_staff(
            session, [task.assignee_staff_id], "task_assigned",
            {"title": task.title, "due_date": task.due_date.isoformat(),
             "by": user.display_name or user.username},
            customer_id=task.customer_id, task_id=task.id)


def create_task(session: Session, scope: Scope, user: User, *, title: Any, due_date: Any,
                day: date, customer_id: int | None = None, assignee: str | None = None,
                priority: str = "normal", note: Any = None,
                recurrence: str | None = None) -> Task:
    """A task for a customer in scope (or none), given to the creator or — by a branch
    manager — to an RM of the subtree, who is notified."""
    _require_work(scope)
    title = _text(title, "title", MAX_TITLE, "a title is required")
    note = _text(note, "note", MAX_NOTE)
    _check_due(due_date, day)
    staff_id = assignee or scope.staff_id
    if not staff_id:
        raise Invalid(N_("an assignee is required"))
    assignable_staff(session, scope, staff_id)
    if customer_id is not None:
        customer_in_scope(session, scope, customer_id)
    task = add_task(session, assignee_staff_id=staff_id, title=title or "", due_date=due_date,
                    customer_id=customer_id, priority=priority or "normal", note=note,
                    recurrence=recurrence or None, created_by=user.id)
    _tell_assignee(session, user, task)
    return task


def _open(session: Session, scope: Scope, task_id: int) -> Task:
    task = get_task(session, scope, task_id)
    if task.status != "open":
        raise Conflict(N_("the task is %(status)s, not open"), status=task.status)
    return task


def _change_open(session: Session, task: Task, values: dict[str, Any]) -> None:
    """Change a task only while it is still open: of two requests closing it, one loses."""
    changed = session.execute(
        update(Task).where(Task.id == task.id, Task.status == "open").values(**values)
        .execution_options(synchronize_session=False)).rowcount
    if changed != 1:
        raise Conflict(N_("the task was just closed by someone else"))
    session.refresh(task)


def next_due(due: date, recurrence: str, today: date | None = None) -> date:
    """The next occurrence's due date: a week, or 1, 3 or 12 months later, on the series'
    schedule (counted from ``due``, clamped to the end of a shorter month: 31 January →
    28 or 29 February, then 31 March again); occurrences already past when a task is
    completed late are skipped, so the next one is never overdue on arrival."""
    step = 1
    while True:
        following = (due + timedelta(days=7 * step) if recurrence == "weekly"
                     else add_months(due, RECURRENCE_MONTHS[recurrence] * step))
        if today is None or following >= today:
            return following
        step += 1


@dataclass(frozen=True)
class Completion:
    task: Task
    next_task: Task | None  # a recurring task's next occurrence


def complete_task(session: Session, scope: Scope, user: User, task_id: int,
                  outcome: Any) -> Completion:
    """Done, with what came of it (required); a recurring task gets its next occurrence."""
    task = _open(session, scope, task_id)
    outcome = _text(outcome, "outcome", MAX_OUTCOME, "an outcome is required")
    _change_open(session, task, {"status": "done", "outcome": outcome,
                                 "completed_by": user.id, "completed_at": utcnow()})
    following = None
    if task.recurrence:
        following = add_task(
            session, assignee_staff_id=task.assignee_staff_id, title=task.title,
            due_date=next_due(task.due_date, task.recurrence, today()),
            customer_id=task.customer_id,
            kind=task.kind, priority=task.priority, note=task.note, reason=task.reason,
            recurrence=task.recurrence, created_by=task.created_by)
    return Completion(task, following)


def cancel_task(session: Session, scope: Scope, user: User, task_id: int,
                note: Any = None) -> Task:
    """Cancelled (ends a recurring task's series); ``note`` says why, optionally."""
    task = _open(session, scope, task_id)
    note = _text(note, "reason", MAX_OUTCOME)
    _change_open(session, task, {"status": "cancelled", "outcome": note,
                                 "completed_by": user.id, "completed_at": utcnow()})
    return task


def update_task(session: Session, scope: Scope, user: User, task_id: int, *, day: date,
                due_date: date | None = None, priority: str | None = None,
                assignee: str | None = None) -> Task:
    """Change an open task's due date, priority or — by a branch manager — assignee (who is
    notified)."""
    task = _open(session, scope, task_id)
    # Everything is checked before anything changes: a refusal leaves the task as it was.
    if due_date is not None and due_date != task.due_date:
        _check_due(due_date, day)
    if priority is not None and priority not in PRIORITIES:
        raise Invalid(N_("priority must be one of %(priorities)s"),
                      priorities=", ".join(PRIORITIES))
    target = None
    if assignee is not None and assignee != task.assignee_staff_id:
        if scope.kind != "branches":
            raise Forbidden(N_("only branch managers reassign tasks"))
        target = assignable_staff(session, scope, assignee)
    changes: dict[str, Any] = {}
    if due_date is not None:
        changes["due_date"] = due_date
    if priority is not None:
        changes["priority"] = priority
    if target is not None:
        changes["assignee_staff_id"] = target.staff_id
        if task.customer_id is None:
            changes["branch_code"] = target.branch_code
    if changes:
        _change_open(session, task, changes)
    if target is not None:
        _tell_assignee(session, user, task)
    return task
