"""Each customer's AUM and liabilities in CNY, refreshed set-based: the same figures the
360 view computes one customer at a time."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.customers.services import customer_view
from portal.scope import Scope
from portal.workbench.metrics import refresh_metrics
from portal.workbench.models import ContactPolicy, CustomerMetrics
from tests.feeds import BDATE


def _metrics(engine) -> dict[int, tuple[Decimal, Decimal]]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return {m.customer_id: (m.aum, m.liabilities)
                for m in session.scalars(select(CustomerMetrics))}


def test_refresh_matches_the_360_view_for_every_customer(engine, bank) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        summary = refresh_metrics(session, BDATE)
    assert summary["customers"] == 4
    metrics = _metrics(engine)
    # 张三: savings 150,000 + USD 1,000 at 7.1 + fund 10,500; a 300,000 mortgage.
    assert metrics[bank.ids["C1"]] == (Decimal("167600.0000"), Decimal("300000.0000"))
    assert metrics[bank.ids["C4"]] == (Decimal(0), Decimal(0))
    with Session(engine) as session:
        for customer_id, (aum, liabilities) in metrics.items():
            view = customer_view(session, Scope("all"), customer_id, as_of=BDATE)
            assert (view.aum_cny, view.liabilities_cny) == (aum, liabilities)


def test_refresh_replaces_the_previous_figures(engine, bank) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        refresh_metrics(session, BDATE)
        refresh_metrics(session, BDATE)
    assert len(_metrics(engine)) == 4


def test_the_default_contact_policy_is_seeded(engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        policy = {p.min_aum: p.interval_days for p in session.scalars(select(ContactPolicy))}
    assert policy == {Decimal(6_000_000): 30, Decimal(500_000): 90, Decimal(50_000): 180}
