"""Average daily AUM kept as monthly aggregates: a day at a time (gaps carried at the last
known AUM, months rolling over, each day added once), contribution, and the backfill from
the transaction history."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from integration import models as m
from integration.jobs import run_nightly
from integration.pipeline import import_file
from portal.vip import aum
from portal.vip.models import CustomerMonthAum
from portal.workbench.metrics import refresh_metrics
from tests.feeds import BDATE, write
from tests.functional.tiers_support import NOV, OCT, SEP, oracle_statements, set_metrics


def rows(engine, customer_id: int) -> dict[date, CustomerMonthAum]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return {r.month: r for r in session.scalars(
            select(CustomerMonthAum).where(CustomerMonthAum.customer_id == customer_id))}


def add(engine, day: date, aums: dict[int, int | str]) -> dict:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        set_metrics(session, day, aums)
        return aum.add_day(session, day)


def test_days_without_a_feed_count_at_the_last_known_aum(engine, bank) -> None:  # type: ignore[no-untyped-def]
    c1, c2 = bank.ids["C1"], bank.ids["C2"]
    assert add(engine, date(2026, 11, 3), {c1: 100, c2: 7}) == \
        {"date": "2026-11-03", "updated": 0, "inserted": 2}
    # Nov 4 and 5 had no feed: they count at Nov 3's AUM, then Nov 6 at its own.
    assert add(engine, date(2026, 11, 6), {c1: "160.5", c2: 7})["updated"] == 2
    row = rows(engine, c1)[NOV]
    assert (row.aum_day_sum, row.days, row.last_date, row.last_aum) == \
        (Decimal("460.5"), 4, date(2026, 11, 6), Decimal("160.5"))
    assert rows(engine, c2)[NOV].aum_day_sum == 28  # 4 days at 7


def test_a_day_is_added_once_and_older_days_add_nothing(engine, bank) -> None:  # type: ignore[no-untyped-def]
    c1 = bank.ids["C1"]
    add(engine, date(2026, 11, 3), {c1: 100})
    add(engine, date(2026, 11, 6), {c1: 200})
    before = rows(engine, c1)[NOV]
    assert add(engine, date(2026, 11, 6), {c1: 999}) == \
        {"date": "2026-11-06", "updated": 0, "inserted": 0}
    assert add(engine, date(2026, 11, 5), {c1: 999})["updated"] == 0
    # A day of an earlier month, once a later month is kept, adds nothing either.
    assert add(engine, date(2026, 10, 31), {c1: 999})["skipped"]
    after = rows(engine, c1)
    assert list(after) == [NOV]
    assert (after[NOV].aum_day_sum, after[NOV].days) == (before.aum_day_sum, before.days) == \
        (Decimal(500), 4)


def test_a_new_month_starts_its_own_row_carrying_the_last_aum(engine, bank) -> None:  # type: ignore[no-untyped-def]
    c1, c3 = bank.ids["C1"], bank.ids["C3"]
    add(engine, date(2026, 10, 30), {c1: 200})
    # The first feed of November is on the 3rd: it completes October (the 31st had no feed
    # and counts at the 30th's AUM), and Nov 1 and 2 count at October's last AUM too.
    # C3 had no row in October: it starts on the 3rd.
    result = add(engine, date(2026, 11, 3), {c1: 300, c3: 50})
    assert (result["inserted"], result["previous_month_completed"]) == (2, 1)
    months = rows(engine, c1)
    assert (months[OCT].aum_day_sum, months[OCT].days, months[OCT].last_date) == \
        (Decimal(400), 2, date(2026, 10, 31))
    assert (months[NOV].aum_day_sum, months[NOV].days, months[NOV].last_aum) == \
        (Decimal(700), 3, Decimal(300))
    assert (rows(engine, c3)[NOV].aum_day_sum, rows(engine, c3)[NOV].days) == (Decimal(50), 1)


def test_completing_a_month_counts_its_last_days_fees_and_margin(engine, bank) -> None:  # type: ignore[no-untyped-def]
    c1 = bank.ids["C1"]
    with Session(engine) as session, session.begin():
        a1 = session.scalar(select(m.Account.id).where(m.Account.source_id == "A1"))
    add(engine, date(2026, 10, 30), {c1: 200})
    with Session(engine) as session, session.begin():
        session.add(m.Transaction(source="CBS", source_id="FEE31", account_id=a1,
                                  booking_date=date(2026, 10, 31), amount=Decimal("-40"),
                                  currency="CNY", type="FEE", channel="AUTO"))
    before = rows(engine, c1)[OCT].contribution
    with Session(engine) as session, session.begin():
        set_metrics(session, date(2026, 11, 2), {c1: 300})
        aum.add_day(session, date(2026, 11, 2), aum.Margins(Decimal(0), Decimal(0)))
    october, november = rows(engine, c1)[OCT], rows(engine, c1)[NOV]
    # The fee of Saturday the 31st is October's, not November's; margins are zero here.
    assert october.contribution - before == 40 and november.contribution == 0
    # Run again: the month is complete, nothing is added twice.
    with Session(engine) as session, session.begin():
        set_metrics(session, date(2026, 11, 2), {c1: 300})
        assert "previous_month_completed" not in aum.add_day(session, date(2026, 11, 2))
    assert rows(engine, c1)[OCT].contribution == october.contribution


def test_customers_without_metrics_for_the_day_are_left_alone(engine, bank) -> None:  # type: ignore[no-untyped-def]
    c1, c2 = bank.ids["C1"], bank.ids["C2"]
    add(engine, date(2026, 11, 3), {c1: 100, c2: 100})
    add(engine, date(2026, 11, 4), {c1: 100})
    assert rows(engine, c2)[NOV].days == 1
    add(engine, date(2026, 11, 5), {c1: 100, c2: 40})  # the gap is filled when it returns
    assert (rows(engine, c2)[NOV].aum_day_sum, rows(engine, c2)[NOV].days) == (Decimal(240), 3)


def test_contribution_is_fees_plus_the_interest_margin(engine, bank) -> None:  # type: ignore[no-untyped-def]
    c1 = bank.ids["C1"]
    with Session(engine) as session, session.begin():
        a1 = session.scalar(select(m.Account.id).where(m.Account.source_id == "A1"))
        session.add_all([
            m.Transaction(source="CBS", source_id="FEE1", account_id=a1, booking_date=BDATE,
                          amount=Decimal("-25.00"), currency="CNY", type="FEE", channel="AUTO"),
            m.Transaction(source="CBS", source_id="FEE0", account_id=a1,
                          booking_date=BDATE - timedelta(days=30), amount=Decimal("-99"),
                          currency="CNY", type="FEE", channel="AUTO")])
        refresh_metrics(session, BDATE)
        aum.add_day(session, BDATE, aum.Margins(Decimal("0.015"), Decimal("0.02")))
    # Deposits 150,000 + USD 1,000 at 7.1; the mortgage 300,000; one day (no row before):
    # 25 + (157,100 × 1.5% + 300,000 × 2%) / 365 = 25 + 22.8945. October's fee is not
    # November's.
    row = rows(engine, c1)[NOV]
    assert row.contribution == Decimal("47.8945")
    assert row.last_aum == Decimal("167600")  # the 360 view's AUM: deposits and the fund
    with Session(engine) as session, session.begin():
        session.add(m.Transaction(source="CBS", source_id="FEE2", account_id=a1,
                                  booking_date=BDATE + timedelta(days=2), amount=Decimal("3"),
                                  currency="CNY", type="FEE", channel="AUTO"))
        refresh_metrics(session, BDATE + timedelta(days=3))
        aum.add_day(session, BDATE + timedelta(days=3), aum.Margins(Decimal("0.015"), 0))
    # Three more days of deposit margin (157,100 × 1.5% × 3 / 365 = 19.3685); the credit of
    # 3 is a fee refunded: it gives back what the bank earned.
    assert rows(engine, c1)[NOV].contribution == Decimal("47.8945") - 3 + Decimal("19.3685")
    assert rows(engine, c1)[NOV].products == 4  # SAV, USDSAV, LOAN1 and the fund


def test_the_nightly_run_adds_the_business_date_after_the_metrics(app, engine, bank) -> None:  # type: ignore[no-untyped-def]
    # (the app registers the nightly jobs)
    results = run_nightly(engine, BDATE, {"customer_metrics", "tier_aum"})
    assert results["tier_aum"]["inserted"] == 4, results
    assert rows(engine, bank.ids["C1"])[NOV].last_aum == Decimal("167600")
    assert run_nightly(engine, BDATE, {"customer_metrics", "tier_aum"})["tier_aum"] == \
        {"date": BDATE.isoformat(), "updated": 0, "inserted": 0}


def history_feed(feed):  # type: ignore[no-untyped-def]
    feed.rate("USD", "7.1000")
    feed.branch("HO", "总行", "杭州")
    feed.product("SAV", "活期储蓄", "DEPOSIT", "R1", "CNY", "0")
    feed.product("FUND1", "稳健债券基金", "FUND", "R2", "CNY", "1000")
    feed.customer("H1", "赵六", branch="HO", manager="RM0001")
    feed.customer("H2", "钱七", branch="HO", manager="RM0001")
    feed.account("HA1", "H1", product="SAV", type="SAVINGS", currency="CNY",
                 balance="10000.00", branch="HO")
    feed.holding("HH1", "H1", product="FUND1", units="100", market_value="2000.00",
                 currency="CNY")
    for id, day, amount, kind in (("T1", date(2026, 10, 10), "3000", "TRANSFER_IN"),
                                  ("T2", date(2026, 10, 15), "-10", "FEE"),
                                  ("T3", date(2026, 11, 5), "-1000", "PAYMENT"),
                                  ("T4", date(2026, 11, 20), "500", "TRANSFER_IN"),
                                  ("T5", date(2026, 7, 20), "-50", "PAYMENT")):
        feed.transaction(id, "HA1", booking_date=day, amount=amount, currency="CNY",
                         type=kind, channel="MOBILE")


def test_backfill_derives_past_balances_from_the_transactions(engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = import_file(engine, write(tmp_path / "history.xml", history_feed),
                         max_bytes=10**7, chunk=50)
    assert result.status == "applied", result.reason
    with Session(engine) as session:
        ids = dict(session.execute(select(m.CustomerSource.source_id,
                                          m.CustomerSource.customer_id)).all())
    with Session(engine) as session, session.begin():
        summary = aum.backfill(session, BDATE, 2, aum.Margins(Decimal("0.015"), Decimal(0)))
    assert summary["months"] == ["2026-09-01", "2026-10-01", "2026-11-01"]
    assert summary["rows"] == 6
    # Balance at the end of each day = 10,000 − the transactions booked after it:
    # Nov 20: 10,000; Nov 5–19: 9,500; Oct 15–Nov 4: 10,500; Oct 10–14: 10,510;
    # Sep 1–Oct 9: 7,510. Plus the fund, 2,000 every day.
    months = rows(engine, ids["H1"])
    expected = {
        SEP: (30 * 7510 + 30 * 2000, 30, date(2026, 9, 30), 9510, Decimal("9.2589")),
        OCT: (9 * 7510 + 5 * 10510 + 17 * 10500 + 31 * 2000, 31, date(2026, 10, 31), 12500,
              10 + Decimal("12.2729")),
        NOV: (4 * 10500 + 15 * 9500 + 10000 + 20 * 2000, 20, BDATE, 12000, Decimal("7.9932")),
    }
    # Contributions: the deposit margin on Σ daily deposit balances × 1.5% / 365, plus
    # October's fee of 10.
    for month, (day_sum, days, last_date, last_aum, contribution) in expected.items():
        row = months[month]
        assert (row.aum_day_sum, row.days, row.last_date, row.last_aum, row.contribution) \
            == (Decimal(day_sum), days, last_date, Decimal(last_aum), contribution), month
    empty = rows(engine, ids["H2"])
    assert [(r.aum_day_sum, r.days) for r in empty.values()] == \
        [(Decimal(0), 30), (Decimal(0), 31), (Decimal(0), 20)]
    # Run again: the same rows, not twice as many.
    with Session(engine) as session, session.begin():
        assert aum.backfill(session, BDATE, 2)["rows"] == 6


def test_the_nightly_addition_continues_a_backfilled_month(engine, bank) -> None:  # type: ignore[no-untyped-def]
    c3 = bank.ids["C3"]
    with Session(engine) as session, session.begin():
        aum.backfill(session, BDATE, 1)
    assert (rows(engine, c3)[NOV].days, rows(engine, c3)[NOV].last_aum) == (20, Decimal(8000))
    add(engine, BDATE + timedelta(days=3), {c3: 9000})
    row = rows(engine, c3)[NOV]
    # 王五: 8,100 until the payment of 100 on Nov 20, then 8,000 (carried to the 22nd).
    assert (row.aum_day_sum, row.days) == (Decimal(19 * 8100 + 3 * 8000 + 9000), 23)


def test_the_statements_compile_for_oracle() -> None:
    compiled = oracle_statements(lambda s: (aum.add_day(s, BDATE), aum.backfill(s, BDATE, 3)))
    assert [c.split()[0] for c in compiled] == ["UPDATE", "INSERT", "DELETE", "INSERT"]
    for text in compiled:  # booleans and joins as Oracle wants them
        assert " IS 0" not in text and " ON 1 " not in text
    assert "FROM DUAL" in compiled[-1]  # the backfill's months
