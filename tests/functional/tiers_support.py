"""Helpers shared by the tier engine's tests: monthly aggregates and metrics written
directly (the evaluation's inputs), rule changes, evaluation in a unit of work."""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import delete, select
from sqlalchemy.dialects import oracle
from sqlalchemy.orm import Session

from integration.db import utcnow
from portal.audit import Actor
from portal.vip import evaluation, rules
from portal.vip.models import CustomerMonthAum, CustomerTier, TierDecision
from portal.workbench.models import CustomerMetrics

CLI = Actor(None, "test")
SEP, OCT, NOV, DEC = date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)
AUG = date(2026, 8, 1)


def set_month(session: Session, customer_id: int, month: date, adb: Decimal | str | int,
              contribution: Decimal | str | int = 0, days: int = 30,
              products: int = 0) -> None:
    """A month whose average daily AUM is ``adb`` (``days`` days at that AUM)."""
    session.merge(CustomerMonthAum(
        customer_id=customer_id, month=month, aum_day_sum=Decimal(adb) * days, days=days,
        last_date=month.replace(day=days), last_aum=Decimal(adb),
        contribution=Decimal(contribution), products=products))
    session.flush()


def set_months(session: Session, customer_id: int, adb: Any, *months: date,
               products: int = 0) -> None:
    for month in months:
        set_month(session, customer_id, month, adb, products=products)


def set_metrics(session: Session, as_of: date, aums: dict[int, Decimal | int | str]) -> None:
    """CustomerMetrics of a business date, as the nightly refresh leaves them."""
    session.execute(delete(CustomerMetrics))
    session.add_all(CustomerMetrics(customer_id=c, aum=Decimal(a), liabilities=Decimal(0),
                                    as_of=as_of, refreshed_at=utcnow())
                    for c, a in aums.items())
    session.flush()


def change_rules(session: Session, window: int | None = None, grace: int | None = None,
                 **tiers: dict[str, Any]) -> rules.RuleSet:
    """A new rule version: the current one with ``tiers`` (code → changed fields)."""
    now = rules.current(session)
    specs = [replace(t, **tiers.get(t.code, {})) for t in now.tiers]
    return rules.create_version(session, CLI, rules.Proposal(
        specs, window or now.version.window_months,
        now.version.grace_months if grace is None else grace))


def evaluate(engine: Any, month: date, **kwargs: Any) -> evaluation.EvaluationResult:
    with Session(engine) as session, session.begin():
        return evaluation.evaluate(session, month, **kwargs)


def decision(engine: Any, customer_id: int, month: date) -> TierDecision:
    with Session(engine) as session:
        found = session.scalar(select(TierDecision).where(
            TierDecision.customer_id == customer_id, TierDecision.month == month))
        assert found is not None, f"no decision for {customer_id} in {month}"
        return found


def explained(engine: Any, customer_id: int, month: date) -> dict[str, Any]:
    """The decision's explanation (portal.vip.explain.of), as pages and the API give it."""
    from portal.vip import explain

    with Session(engine) as session:
        found = session.scalar(select(TierDecision).where(
            TierDecision.customer_id == customer_id, TierDecision.month == month))
        assert found is not None, f"no decision for {customer_id} in {month}"
        return explain.of(found)


def current_tier(engine: Any, customer_id: int) -> CustomerTier:
    with Session(engine) as session:
        found = session.get(CustomerTier, customer_id)
        assert found is not None
        return found


class _Recorder:
    """Stands in for a session: records the statements a service runs (scalar queries
    answer None), so they can be compiled for a database we do not run (Oracle)."""

    def __init__(self, dialect: Any) -> None:
        self.dialect = dialect
        self.statements: list[Any] = []

    def get_bind(self) -> Any:
        return self

    def scalar(self, _query: Any) -> None:
        return None

    def execute(self, statement: Any) -> Any:
        self.statements.append(statement)
        return self

    rowcount = 0


def oracle_statements(service: Callable[[Any], Any]) -> list[str]:
    """The SQL ``service(session)`` runs, compiled for Oracle."""
    dialect = oracle.dialect()
    recorder = _Recorder(dialect)
    service(recorder)
    return [str(s.compile(dialect=dialect)) for s in recorder.statements]
