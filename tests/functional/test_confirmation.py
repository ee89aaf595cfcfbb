"""Won opportunities confirmed against the feeds: a second night's feed is imported through
the real pipeline, then the nightly job (or the move to won itself) confirms what the
feeds show — a new account of the product opened after the opportunity was created, or
more units of the product held than when it was created — and nothing else."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integration.db import utcnow
from integration.jobs import run_nightly
from integration.pipeline import import_file
from portal.models import User
from portal.workbench.confirmation import confirm_wins
from portal.workbench.models import Notification, Opportunity
from tests.feeds import BDATE, write
from tests.functional.test_opportunities import create, move

CREATED = BDATE                       # the opportunities are created on the feed's day
NEXT_DAY = BDATE + timedelta(days=1)  # and the next night's feed shows what happened


@pytest.fixture
def session(engine, users) -> Iterator[Session]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        yield session


@pytest.fixture
def next_feed(engine, tmp_path):  # type: ignore[no-untyped-def]
    """Import the next night's feed (sequence 2) through the real pipeline."""
    def load(build: Callable[[Any], None]) -> None:
        path = write(tmp_path / "night-2.xml", build, business_date=NEXT_DAY, sequence=2)
        result = import_file(engine, path, max_bytes=10**8, chunk=50)
        assert result.status == "applied", result.reason
    return load


def nightly(engine) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The nightly run's confirmation job, in its own transaction as `crm nightly` runs it."""
    return run_nightly(engine, NEXT_DAY, only={"opportunities"})["opportunities"]


def won(session: Session, customer_id: int, product: str, username: str = "rm1",
        amount: str = "100000") -> int:
    """An opportunity created on CREATED and won the same day; committed."""
    opp = create(session, username, customer_id, product=product, amount=amount,
                 today=CREATED)
    move(session, username, opp.id, "won", today=CREATED)
    session.commit()
    return opp.id


def state(engine, opportunity_id: int) -> tuple[Any, Any]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        opp = s.get(Opportunity, opportunity_id)
        assert opp is not None
        return opp.confirmed_at, opp.confirmed_by


def notifications_of(engine, username: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return [n.params for n in s.scalars(
            select(Notification).join(User, User.id == Notification.user_id)
            .where(User.username == username, Notification.kind == "opportunity_confirmed")
            .order_by(Notification.id))]


def test_a_new_account_of_the_product_opened_after_creation_confirms_the_win(
        session, bank, engine, next_feed):
    opp = won(session, bank.ids["C1"], "TD1Y")
    assert state(engine, opp) == (None, None)  # nothing in the feeds yet
    next_feed(lambda feed: feed.account(
        "6222000011112222", "C1", product="TD1Y", type="TIME_DEPOSIT", currency="CNY",
        balance="100000", open_date=NEXT_DAY, maturity_date=NEXT_DAY + timedelta(days=365),
        branch="S011"))
    assert nightly(engine)["confirmed"] == 1
    confirmed_at, confirmed_by = state(engine, opp)
    assert confirmed_at is not None and confirmed_by == "account CBS 6222000011112222"
    assert notifications_of(engine, "rm1") == [{
        "opportunity_id": opp, "customer": "张三", "product": "一年定期",
        "product_code": "TD1Y", "amount": "100000.00", "evidence": "account CBS 6222000011112222"}]


def test_a_second_run_changes_nothing(session, bank, engine, next_feed):
    opp = won(session, bank.ids["C1"], "TD1Y")
    next_feed(lambda feed: feed.account(
        "A1T", "C1", product="TD1Y", type="TIME_DEPOSIT", currency="CNY", balance="100000",
        open_date=NEXT_DAY, branch="S011"))
    assert nightly(engine)["confirmed"] == 1
    first = state(engine, opp)
    assert nightly(engine)["confirmed"] == 0
    assert state(engine, opp) == first
    assert len(notifications_of(engine, "rm1")) == 1


def test_a_product_the_customer_already_had_does_not_confirm_it(session, bank, engine,
                                                                 next_feed):
    # 张三 had a savings account (A1) and 1000 units of FUND1 (H1) before.
    savings = won(session, bank.ids["C1"], "SAV")
    fund = won(session, bank.ids["C1"], "FUND1")
    assert confirm_wins(session, CREATED)["confirmed"] == 0
    session.commit()

    def night(feed: Any) -> None:
        # An old account only now sent by the feed, and the fund's price rising: neither is
        # a sale made by this opportunity.
        feed.account("A1OLD", "C1", product="SAV", type="SAVINGS", currency="CNY",
                     balance="500", open_date=date(2019, 5, 1), branch="S011")
        feed.holding("H1", "C1", product="FUND1", units="1000", market_value="12500.00",
                      currency="CNY", cost="10000")
    next_feed(night)
    assert nightly(engine)["confirmed"] == 0
    assert state(engine, savings) == (None, None) and state(engine, fund) == (None, None)


def test_a_holding_bought_after_the_win_confirms_it(session, bank, engine, next_feed):
    topped_up = won(session, bank.ids["C1"], "FUND1")   # 张三 holds 1000 units already
    first_time = won(session, bank.ids["C4"], "FUND1")  # the other customer holds none

    def night(feed: Any) -> None:
        feed.holding("H1", "C1", product="FUND1", units="1500", market_value="15750.00",
                     currency="CNY", cost="15000")
        feed.holding("H4", "C4", product="FUND1", units="200", market_value="2000.00",
                     currency="CNY")
    next_feed(night)
    assert nightly(engine)["confirmed"] == 2
    assert state(engine, topped_up)[1] == "holding CBS H1"
    assert state(engine, first_time)[1] == "holding CBS H4"


def test_a_closed_account_or_holding_confirms_nothing(session, bank, engine, next_feed):
    deposit = won(session, bank.ids["C1"], "TD1Y")
    fund = won(session, bank.ids["C4"], "FUND1")

    def night(feed: Any) -> None:
        feed.account("A1T", "C1", product="TD1Y", type="TIME_DEPOSIT", currency="CNY",
                     balance="0", open_date=NEXT_DAY, status="CLOSED", branch="S011")
        feed.holding("H4", "C4", product="FUND1", units="200", market_value="2000.00",
                     currency="CNY")
        feed.holding("H4", "C4", product="FUND1", units="200", market_value="2000.00",
                     currency="CNY", op="close")
    next_feed(night)
    assert nightly(engine)["confirmed"] == 0
    assert state(engine, deposit) == (None, None) and state(engine, fund) == (None, None)


def test_only_won_opportunities_are_ever_confirmed(session, bank, engine, next_feed):
    open_one = create(session, "rm1", bank.ids["C1"], product="TD1Y", today=CREATED)
    move(session, "rm1", open_one.id, "proposal", today=CREATED)
    lost_one = create(session, "rm1", bank.ids["C1"], product="TD1Y", today=CREATED)
    move(session, "rm1", lost_one.id, "lost", lost_reason="competitor", today=CREATED)
    session.commit()
    next_feed(lambda feed: feed.account(
        "A1T", "C1", product="TD1Y", type="TIME_DEPOSIT", currency="CNY", balance="100000",
        open_date=NEXT_DAY, branch="S011"))
    assert nightly(engine)["confirmed"] == 0
    assert state(engine, open_one.id) == (None, None)
    assert state(engine, lost_one.id) == (None, None)
    # Won later, it is confirmed at once: the account is already in the feeds.
    with Session(engine) as later:
        moved = move(later, "rm1", open_one.id, "won", today=NEXT_DAY)
        assert moved.confirmed_by == "account CBS A1T" and moved.confirmed_at is not None
        later.commit()
    assert len(notifications_of(engine, "rm1")) == 1


def test_the_nightly_job_is_registered_after_the_balances(app):  # type: ignore[no-untyped-def]
    from integration.jobs import nightly_jobs

    names = [job.name for job in nightly_jobs()]
    assert "opportunities" in names
    assert names.index("customer_metrics") < names.index("opportunities")


def test_confirmation_is_one_statement_for_any_number_of_opportunities(session, bank, engine,
                                                                       next_feed):
    ids = [won(session, bank.ids["C1"], "TD1Y") for _ in range(3)]
    next_feed(lambda feed: feed.account(
        "A1T", "C1", product="TD1Y", type="TIME_DEPOSIT", currency="CNY", balance="100000",
        open_date=NEXT_DAY, branch="S011"))
    from sqlalchemy import event

    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    with Session(engine) as s:
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert confirm_wins(s, NEXT_DAY)["confirmed"] == 3
        finally:
            event.remove(engine, "before_cursor_execute", count)
        s.commit()
    updates = [st for st in statements if st.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 1 and "EXISTS" in updates[0].upper()
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Opportunity)
                        .where(Opportunity.id.in_(ids),
                               Opportunity.confirmed_at.is_not(None))) == 3


def test_the_confirmation_compiles_for_oracle():
    from sqlalchemy.dialects import oracle

    from portal.workbench.confirmation import confirmation

    sql = str(confirmation(utcnow()).compile(dialect=oracle.dialect()))
    assert sql.startswith("UPDATE opportunities SET") and "EXISTS (SELECT" in sql
    assert "LIMIT" not in sql and "||" in sql
