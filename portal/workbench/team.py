"""The team view for branch managers: per RM or adviser of the subtree, their customers,
AUM, customers overdue for contact, contacts this month, open and overdue tasks, open
pipeline (amount and weighted by stage), and wins this month with how many the feeds have
confirmed.

Set-based: one GROUP BY per kind of record (customers, contacts, tasks, opportunities),
merged here by staff id, whatever the size of the team. Customers count under their
effective RM; contacts, tasks and opportunities under the staff id they belong to.
"This month" is the bank's calendar month up to now."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from integration.bank_calendar import bank_today, day_start
from integration.db import Decimal4
from integration.models import Customer
from portal.errors import N_, Forbidden
from portal.models import User
from portal.scope import (
    ASSIGNABLE_ROLES,
    Scope,
    join_effective_manager,
    restrict_listing,
    restrict_work,
)
from portal.workbench.book import overdue, staff_names
from portal.workbench.contact_policy import Band, bands
from portal.workbench.models import OPEN_STAGES, Contact, CustomerMetrics, Opportunity, Task
from portal.workbench.opportunities import weighted_amount

ZERO = Decimal(0)


@dataclass
class TeamRow:
    staff_id: str | None          # None: customers whose RM nobody knows
    name: str | None = None       # the user's display name; None without an account
    customers: int = 0
    aum: Decimal = ZERO
    overdue_contact: int = 0      # customers overdue for contact
    contacts_month: int = 0
    open_tasks: int = 0
    overdue_tasks: int = 0
    pipeline: Decimal = ZERO      # open opportunities' amount
    weighted: Decimal = ZERO      # … times their stage's probability
    won_month: int = 0
    won_month_amount: Decimal = ZERO
    confirmed_month: int = 0      # of the wins this month, confirmed by the feeds
    confirmed_month_amount: Decimal = ZERO

    def add(self, other: TeamRow) -> None:
        for f in fields(self):
            if f.name not in ("staff_id", "name"):
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass
class Team:
    rows: list[TeamRow]
    total: TeamRow = field(default_factory=lambda: TeamRow(None))
    month_start: date | None = None
    today: date | None = None


def statements(scope: Scope, policy: list[Band], day: date, dialect: str
               ) -> dict[str, Select[Any]]:
    """The GROUP BY of each kind of record, by staff id (SQL only: see team_view)."""
    month_start = day.replace(day=1)
    since = day_start(month_start)
    everyone, manager = join_effective_manager(
        select(Customer.id).select_from(Customer)
        .outerjoin(CustomerMetrics, CustomerMetrics.customer_id == Customer.id))
    per_customer = restrict_listing(everyone.with_only_columns(
        manager.label("staff"), CustomerMetrics.aum.label("aum"),
        case((overdue(policy, day), 1), else_=0).label("overdue"),
        maintain_column_froms=False), scope).subquery()
    zero = literal(ZERO, Decimal4())
    is_open = Opportunity.stage.in_(OPEN_STAGES)
    won = (Opportunity.stage == "won") & (Opportunity.won_on >= month_start) \
        & (Opportunity.won_on <= day)
    confirmed = won & Opportunity.confirmed_at.is_not(None)
    # Grouped by an expression (the columns are never NULL), so SQLite narrows by the branch
    # index instead of walking a whole staff index in GROUP BY order.
    contact_staff = func.coalesce(Contact.staff_id, "")
    task_staff = func.coalesce(Task.assignee_staff_id, "")
    owner = func.coalesce(Opportunity.owner_staff_id, "")
    return {
        "staff": select(User.staff_id).where(User.role.in_(ASSIGNABLE_ROLES),
                                             User.staff_id.is_not(None),
                                             User.branch_code.in_(sorted(scope.branches))),
        # Customers, AUM and overdue for contact, under each customer's effective RM.
        "customers": select(per_customer.c.staff, func.count(), func.sum(per_customer.c.aum),
                            func.sum(per_customer.c.overdue)).group_by(per_customer.c.staff),
        # The RMs' and advisers' own contacts (a branch manager's contact has no staff id:
        # it is no one's row).
        "contacts": restrict_work(
            select(contact_staff, func.count()).where(Contact.contacted_at >= since,
                                                      Contact.staff_id.is_not(None)),
            scope, Contact.staff_id, Contact.branch_code).group_by(contact_staff),
        "tasks": restrict_work(
            select(task_staff, func.count(), func.sum(case((Task.due_date < day, 1), else_=0)))
            .where(Task.status == "open"),
            scope, Task.assignee_staff_id, Task.branch_code).group_by(task_staff),
        "opportunities": restrict_work(
            select(owner,
                   func.sum(case((is_open, Opportunity.amount), else_=zero)),
                   func.sum(case((is_open, weighted_amount(dialect)), else_=zero)),
                   func.sum(case((won, 1), else_=0)),
                   func.sum(case((won, Opportunity.amount), else_=zero)),
                   func.sum(case((confirmed, 1), else_=0)),
                   func.sum(case((confirmed, Opportunity.amount), else_=zero)))
            .where(is_open | won),
            scope, Opportunity.owner_staff_id, Opportunity.branch_code)
        .group_by(owner),
    }


def team_view(session: Session, scope: Scope, as_of: date | None = None) -> Team:
    """The branch manager's team, one row per staff id, with a totals row."""
    if scope.kind != "branches":
        raise Forbidden(N_("the team view is for branch managers"))
    day = as_of or bank_today()
    sql = statements(scope, bands(session), day, session.get_bind().dialect.name)
    rows: dict[str | None, TeamRow] = {}

    def row(staff: str | None) -> TeamRow:
        if staff not in rows:
            rows[staff] = TeamRow(staff)
        return rows[staff]

    for (staff,) in session.execute(sql["staff"]):
        row(staff)
    for staff, count, aum, late in session.execute(sql["customers"]):
        entry = row(staff)
        entry.customers, entry.aum, entry.overdue_contact = count, aum or ZERO, late or 0
    for staff, contacts in session.execute(sql["contacts"]):
        row(staff).contacts_month = contacts
    for staff, open_tasks, overdue_tasks in session.execute(sql["tasks"]):
        entry = row(staff)
        entry.open_tasks, entry.overdue_tasks = open_tasks, overdue_tasks or 0
    for (staff, pipeline, weighted, won_count, won_amount, confirmed_count,
         confirmed_amount) in session.execute(sql["opportunities"]):
        entry = row(staff)
        entry.pipeline, entry.weighted = pipeline or ZERO, weighted or ZERO
        entry.won_month, entry.won_month_amount = won_count or 0, won_amount or ZERO
        entry.confirmed_month = confirmed_count or 0
        entry.confirmed_month_amount = confirmed_amount or ZERO

    names = staff_names(session, {s for s in rows if s})
    for staff, entry in rows.items():
        entry.name = names.get(staff) if staff else None
    ordered = sorted(rows.values(), key=lambda r: (r.staff_id is None, r.staff_id or ""))
    team = Team(ordered, month_start=day.replace(day=1), today=day)
    for entry in ordered:
        team.total.add(entry)
    return team


def as_json(team: Team, money: Any) -> dict[str, Any]:
    """The team as the API returns it (``money`` renders a Decimal)."""
    def one(r: TeamRow) -> dict[str, Any]:
        return {"staff_id": r.staff_id, "name": r.name, "customers": r.customers,
                "aum": money(r.aum), "overdue_for_contact": r.overdue_contact,
                "contacts_this_month": r.contacts_month, "open_tasks": r.open_tasks,
                "overdue_tasks": r.overdue_tasks, "pipeline": money(r.pipeline),
                "weighted_pipeline": money(r.weighted), "won_this_month": r.won_month,
                "won_this_month_amount": money(r.won_month_amount),
                "confirmed_this_month": r.confirmed_month,
                "confirmed_this_month_amount": money(r.confirmed_month_amount)}
    return {"as_of": team.today.isoformat() if team.today else None,
            "month_start": team.month_start.isoformat() if team.month_start else None,
            "items": [one(r) for r in team.rows], "total": one(team.total)}
