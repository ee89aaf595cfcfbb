"""The pipeline forecast per RM and per branch, computed by the database (GROUP BY with
conditional sums; no loop over opportunities).

For each group, as of ``today`` (the bank's date):

- open pipeline: how many open opportunities and their amount;
- weighted value (amount × the stage's probability, portal.workbench.opportunities) of the
  open opportunities by expected close: overdue (before today), the rest of this month,
  each of the next two months, and later;
- won this month and this calendar quarter: amount, count, and how many of those the feeds
  have confirmed.

A branch manager sees their subtree by branch (the customer's branch) and by RM (the
owner); an RM or adviser sees their own."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from integration.bank_calendar import add_months as calendar_add_months
from integration.bank_calendar import bank_today, month_start
from integration.db import Decimal4
from integration.models import Branch
from portal.models import User
from portal.scope import Scope
from portal.workbench.models import OPEN_STAGES, Opportunity
from portal.workbench.opportunities import (
    check_works_pipeline,
    scoped,
    weighted_amount,
)

ZERO = Decimal(0)
BUCKETS = ("overdue", "month0", "month1", "month2", "later")
SUMS = ("open_amount", *BUCKETS, "won_month_amount", "won_quarter_amount")
COUNTS = ("open_count", "won_month_count", "won_month_confirmed", "won_quarter_count",
          "won_quarter_confirmed")


def add_months(day: date, months: int) -> date:
    """The first day of the month ``months`` after ``day``'s month."""
    return calendar_add_months(month_start(day), months)


def quarter_start(day: date) -> date:
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


@dataclass
class ForecastRow:
    key: str | None          # staff id or branch code; None for the total
    name: str | None
    open_count: int = 0
    open_amount: Decimal = ZERO
    overdue: Decimal = ZERO
    month0: Decimal = ZERO
    month1: Decimal = ZERO
    month2: Decimal = ZERO
    later: Decimal = ZERO
    won_month_amount: Decimal = ZERO
    won_month_count: int = 0
    won_month_confirmed: int = 0
    won_quarter_amount: Decimal = ZERO
    won_quarter_count: int = 0
    won_quarter_confirmed: int = 0

    @property
    def weighted(self) -> Decimal:
        return self.overdue + self.month0 + self.month1 + self.month2 + self.later

    def add(self, other: ForecastRow) -> None:
        for name in (*SUMS, *COUNTS):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Forecast:
    today: date
    months: tuple[date, date, date]      # first days of this month and the next two
    quarter: date                        # first day of this quarter
    by_rm: list[ForecastRow] = field(default_factory=list)
    by_branch: list[ForecastRow] = field(default_factory=list)
    total: ForecastRow = field(default_factory=lambda: ForecastRow(None, None))

    def largest(self, name: str) -> Decimal:
        """The largest value of a column over the groups (for the bars)."""
        rows = self.by_rm + self.by_branch
        return max([getattr(r, name) for r in rows] + [ZERO])


def _measures(dialect: str, today: date) -> list[Any]:
    month0 = add_months(today, 0)
    month1, month2, month3 = (add_months(today, n) for n in (1, 2, 3))
    quarter = quarter_start(today)
    zero = literal(ZERO, Decimal4())
    is_open = Opportunity.stage.in_(OPEN_STAGES)
    close = Opportunity.expected_close
    weighted = weighted_amount(dialect)

    def weighted_when(condition: Any) -> Any:
        return func.sum(case((and_(is_open, condition), weighted), else_=zero))

    def won_since(start: date) -> Any:
        return and_(Opportunity.stage == "won", Opportunity.won_on >= start,
                    Opportunity.won_on <= today)

    def count_when(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    def amount_when(condition: Any) -> Any:
        return func.sum(case((condition, Opportunity.amount), else_=zero))

    confirmed = Opportunity.confirmed_at.is_not(None)
    return [
        count_when(is_open).label("open_count"),
        amount_when(is_open).label("open_amount"),
        weighted_when(close < today).label("overdue"),
        weighted_when(and_(close >= today, close < month1)).label("month0"),
        weighted_when(and_(close >= month1, close < month2)).label("month1"),
        weighted_when(and_(close >= month2, close < month3)).label("month2"),
        weighted_when(close >= month3).label("later"),
        amount_when(won_since(month0)).label("won_month_amount"),
        count_when(won_since(month0)).label("won_month_count"),
        count_when(and_(won_since(month0), confirmed)).label("won_month_confirmed"),
        amount_when(won_since(quarter)).label("won_quarter_amount"),
        count_when(won_since(quarter)).label("won_quarter_count"),
        count_when(and_(won_since(quarter), confirmed)).label("won_quarter_confirmed"),
    ]


def grouped_query(scope: Scope, key: Any, today: date, dialect: str) -> Select[Any]:
    """SQL: the forecast's figures per ``key`` (owner or branch) within the scope."""
    relevant = or_(Opportunity.stage.in_(OPEN_STAGES),
                   and_(Opportunity.stage == "won", Opportunity.won_on >= quarter_start(today)))
    return scoped(select(key.label("key"), *_measures(dialect, today))
                  .where(relevant), scope).group_by(key).order_by(key)


def _grouped(session: Session, scope: Scope, key: Any, today: date) -> list[ForecastRow]:
    query = grouped_query(scope, key, today, session.get_bind().dialect.name)
    rows = []
    for found in session.execute(query).mappings():
        values = {name: found[name] or ZERO for name in SUMS}
        values.update({name: int(found[name] or 0) for name in COUNTS})
        rows.append(ForecastRow(key=found["key"], name=None, **values))
    return rows


def _names(session: Session, by_rm: list[ForecastRow], by_branch: list[ForecastRow]) -> None:
    staff = sorted({r.key for r in by_rm if r.key})
    branches = sorted({r.key for r in by_branch if r.key})
    names: dict[str, str] = {}
    for start in range(0, len(staff), 1000):
        names.update((key, name) for key, name in session.execute(
            select(User.staff_id, func.coalesce(User.display_name, User.username))
            .where(User.staff_id.in_(staff[start:start + 1000]))))
    for r in by_rm:
        r.name = names.get(r.key or "")
    branch_names: dict[str, str] = {}
    for start in range(0, len(branches), 1000):
        branch_names.update((key, name) for key, name in session.execute(
            select(Branch.code, Branch.name)
            .where(Branch.code.in_(branches[start:start + 1000]))))
    for r in by_branch:
        r.name = branch_names.get(r.key or "")


def forecast(session: Session, scope: Scope, today: date | None = None) -> Forecast:
    """The forecast of the caller's scope (see the module's docstring)."""
    check_works_pipeline(scope)
    today = today or bank_today()
    result = Forecast(today=today,
                      months=(add_months(today, 0), add_months(today, 1), add_months(today, 2)),
                      quarter=quarter_start(today))
    result.by_rm = _grouped(session, scope, Opportunity.owner_staff_id, today)
    if scope.kind == "branches":
        result.by_branch = _grouped(session, scope, Opportunity.branch_code, today)
    _names(session, result.by_rm, result.by_branch)
    for r in result.by_rm:  # a handful of groups, already summed by the database
        result.total.add(r)
    return result
