"""camt statements through the pipeline: matched to CRM accounts by account number."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from integration import models as m
from tests.feeds import reference, write

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "camt"
MULTI = SAMPLES / "genkgo-camt053.v2.multi.statement.xml"
IBAN = "NL26VAYB8060476890"


def account_feed(balance_date: date):  # type: ignore[no-untyped-def]
    def build(feed):  # type: ignore[no-untyped-def]
        reference(feed)
        feed.customer("C1", "Jan de Vries", branch="S011")
        feed.account(IBAN, "C1", product="SAV", type="CURRENT", currency="EUR", balance="100")
    return build, balance_date


def test_statement_entries_become_transactions_of_the_account(engine, import_feed, feed_path):
    build, day = account_feed(date(2014, 12, 1))
    import_feed(write(feed_path(), build, business_date=day))
    result = import_feed(MULTI)
    assert (result.status, result.source, result.read, result.quarantined) == (
        "applied", "CAMT", 4, 0)
    with engine.connect() as conn:
        rows = conn.execute(
            select(m.Transaction.source, m.Transaction.amount, m.Transaction.booking_date,
                   m.Transaction.counterparty_name, m.Account.source_id)
            .join(m.Account).order_by(m.Transaction.source_id)).all()
        account = conn.execute(select(m.Account)).one()
    assert [tuple(r) for r in rows] == [
        ("CAMT", Decimal("8.85"), date(2014, 12, 31), None, IBAN),
        ("CAMT", Decimal("-7.00"), date(2014, 12, 31), "Company Name 2", IBAN)]
    # The statements close on 2014-12-31, newer than the CRM's balance of 2014-12-01;
    # of two statements closing the same day the later one in the file wins.
    assert (account.balance, account.balance_date) == (Decimal("20.00"), date(2014, 12, 31))


def test_older_statement_does_not_overwrite_a_newer_balance(engine, import_feed, feed_path):
    build, day = account_feed(date(2026, 11, 20))
    import_feed(write(feed_path(), build, business_date=day))
    assert import_feed(MULTI).status == "applied"
    with engine.connect() as conn:
        account = conn.execute(select(m.Account)).one()
    assert (account.balance, account.balance_date) == (Decimal("100"), date(2026, 11, 20))


def test_redelivered_statement_is_a_duplicate(engine, import_feed, feed_path):
    build, day = account_feed(date(2014, 12, 1))
    import_feed(write(feed_path(), build, business_date=day))
    assert import_feed(MULTI).status == "applied"
    again = import_feed(MULTI)
    assert again.status == "duplicate" and "CAMT053RIB000000000001" in again.reason
    with engine.connect() as conn:
        assert len(conn.execute(select(m.Transaction.id)).all()) == 2


def test_entries_of_unknown_accounts_wait_for_the_account(engine, import_feed, feed_path):
    first = import_feed(MULTI)
    assert (first.status, first.quarantined) == ("partial", 4)
    build, day = account_feed(date(2014, 12, 1))
    second = import_feed(write(feed_path(), build, business_date=day))
    assert second.released == 4
    with engine.connect() as conn:
        assert len(conn.execute(select(m.Transaction.id)).all()) == 2
        waiting = conn.execute(select(m.QuarantinedRecord.id)
                               .where(m.QuarantinedRecord.status == "waiting")).all()
    assert waiting == []
