"""The pipeline against the spec's rules, on a real database."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from integration import models as m
from integration.queries import stats
from tests.feeds import BDATE, LI, ZHANG, reference, txn, write


def customer_feed(feed, *, mobile="13812345678"):  # type: ignore[no-untyped-def]
    reference(feed)
    feed.customer("C1", "张三", gender="M", birth_date=date(1980, 1, 1),
                  id_doc=("RESIDENT_ID", ZHANG, date(2030, 1, 1)), mobile=mobile,
                  branch="S011", manager="RM0001", status="ACTIVE")
    feed.customer("C2", "李四", id_doc=("RESIDENT_ID", LI, None), branch="S011")
    feed.account("A1", "C1", product="SAV", type="SAVINGS", currency="CNY", balance="1000.50",
                 branch="S011", status="ACTIVE")
    feed.account("A2", "C2", product="TD1Y", type="TIME_DEPOSIT", currency="CNY",
                 balance="50000", maturity_date=BDATE + timedelta(days=20))
    feed.holding("H1", "C1", product="FUND1", units="100.5", market_value="1234.5678",
                 currency="CNY", cost="1200")
    txn(feed, "T1", "A1", "8000.00")
    txn(feed, "T2", "A1", "-120.35", type="PAYMENT")
    txn(feed, "T3", "A2", "50000", type="CASH_DEPOSIT", channel="COUNTER")


def counts(engine):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return stats(conn)


def test_a_clean_file_is_applied_whole(engine, import_feed, feed_path):
    result = import_feed(write(feed_path(), customer_feed))
    assert (result.status, result.read, result.applied, result.quarantined) == (
        "applied", 15, 15, 0)
    assert counts(engine) == {"customers": 2, "accounts": 2, "holdings": 1,
                              "transactions": 3, "quarantined": 0, "batches": 1}
    with engine.connect() as conn:
        account = conn.execute(select(m.Account).where(m.Account.source_id == "A1")).one()
        assert account.balance == Decimal("1000.5000") and account.balance_date == BDATE
        amounts = conn.execute(select(m.Transaction.amount).order_by(m.Transaction.source_id)
                               ).scalars().all()
        assert amounts == [Decimal("8000"), Decimal("-120.35"), Decimal("50000")]
        holding = conn.execute(select(m.Holding)).one()
        assert holding.market_value == Decimal("1234.5678")
        batch = conn.execute(select(m.FeedBatch)).one()
        assert (batch.status, batch.source, batch.sequence, batch.records_read) == (
            "applied", "CBS", 1, 15)
        assert batch.delivery_key == "1" and batch.finished_at is not None


def test_redelivery_is_a_duplicate_and_changes_nothing(engine, import_feed, feed_path):
    path = write(feed_path(), customer_feed)
    import_feed(path)
    before = counts(engine)
    again = import_feed(write(feed_path(), lambda f: customer_feed(f, mobile="13900000000")))
    assert again.status == "duplicate" and "already loaded" in again.reason
    after = counts(engine)
    assert after == {**before, "batches": 2}
    with engine.connect() as conn:
        assert conn.execute(select(m.Customer.mobile).where(m.Customer.name == "张三")
                            ).scalar_one() == "13812345678"


def test_transactions_are_never_counted_twice(engine, import_feed, feed_path):
    import_feed(write(feed_path(), customer_feed))

    def later(feed):  # type: ignore[no-untyped-def]
        txn(feed, "T1", "A1", "8000.00")       # re-delivered
        txn(feed, "T4", "A1", "10.00")
        txn(feed, "T4", "A1", "10.00")         # twice in one file
    result = import_feed(write(feed_path(), later, sequence=2, business_date=BDATE + timedelta(1)))
    assert result.status == "applied"
    assert result.new_transactions == 1
    with engine.connect() as conn:
        ids = conn.execute(select(m.Transaction.source_id).order_by(m.Transaction.source_id)
                           ).scalars().all()
    assert ids == ["T1", "T2", "T3", "T4"]


def test_sequence_gap_and_late_delivery_are_warnings(engine, import_feed, feed_path):
    import_feed(write(feed_path(), reference, sequence=5))
    gap = import_feed(write(feed_path(), reference, sequence=8))
    assert gap.status == "applied"
    assert gap.warnings == ["sequence gap: CBS 6..7 not received"]
    late = import_feed(write(feed_path(), reference, sequence=6))
    assert late.status == "applied" and "late delivery" in late.warnings[0]


def test_bad_records_are_quarantined_with_a_precise_reason(engine, import_feed, feed_path):
    def build(feed):  # type: ignore[no-untyped-def]
        customer_feed(feed)
    path = write(feed_path(), build)
    text = path.read_text("utf-8")
    text = text.replace("<Balance>1000.50</Balance>", "<Balance>1000.50505</Balance>", 1)
    text = text.replace("<Type>PAYMENT</Type>", "<Type>GIFT</Type>", 1)
    path.write_text(text, "utf-8")
    result = import_feed(path)
    assert result.status == "partial" and result.quarantined == 3
    with engine.connect() as conn:
        rows = conn.execute(select(m.QuarantinedRecord.kind, m.QuarantinedRecord.record_key,
                                   m.QuarantinedRecord.reason_code, m.QuarantinedRecord.reason)
                            .order_by(m.QuarantinedRecord.id)).all()
    reasons = {(kind, key): (code, reason) for kind, key, code, reason in rows}
    assert reasons[("account", "A1")] == (
        "INVALID", "Balance '1000.50505' has more than 4 fraction digits")
    assert reasons[("transaction", "T2")][1].startswith("Type 'GIFT' is not one of")
    # T1 belongs to the quarantined account: it waits for it, it is not dropped.
    assert reasons[("transaction", "T1")] == ("MISSING_REF", "account 'A1' is unknown")
    assert counts(engine)["transactions"] == 1


def test_missing_references_are_applied_when_they_arrive(engine, import_feed, feed_path):
    def orphans(feed):  # type: ignore[no-untyped-def]
        reference(feed)
        feed.account("K1", "KC9", product="SAV", type="SAVINGS", currency="CNY", balance="5")
        feed.holding("KH1", "KC9", product="NEWFUND", units="1", market_value="1",
                     currency="CNY")
        txn(feed, "KT1", "K1", "-5")
    first = import_feed(write(feed_path(), orphans, source="CARD"))
    assert (first.status, first.quarantined) == ("partial", 3)

    def customer(feed):  # type: ignore[no-untyped-def]
        feed.customer("KC9", "王五", branch="S011")
    second = import_feed(write(feed_path(), customer, source="CARD", sequence=2))
    # The customer unlocks the account, which unlocks its transaction; the holding
    # still waits for its product.
    assert second.status == "applied" and second.released == 2
    with engine.connect() as conn:
        waiting = conn.execute(select(m.QuarantinedRecord.record_key, m.QuarantinedRecord.reason)
                               .where(m.QuarantinedRecord.status == "waiting")).all()
        assert waiting == [("KH1", "product 'NEWFUND' is unknown")]
        applied = conn.execute(select(m.QuarantinedRecord.resolved_batch_id)
                               .where(m.QuarantinedRecord.status == "applied")).scalars().all()
        assert applied == [second.batch_id, second.batch_id]
        # Provenance of a released record points at the file it came in.
        account = conn.execute(select(m.Account).where(m.Account.source_id == "K1")).one()
        assert account.batch_id == first.batch_id
    assert counts(engine)["transactions"] == 1


def test_identity_resolution_merges_sources_by_document(engine, import_feed, feed_path):
    import_feed(write(feed_path(), customer_feed))

    def card(feed):  # type: ignore[no-untyped-def]
        # Same person, lower-case check character and spaces: still the same document.
        spaced = ZHANG[:6] + " " + ZHANG[6:].lower()
        feed.customer("K77", "张三", id_doc=("RESIDENT_ID", spaced, None), email="z3@example.cn",
                      mobile="13999999999")
    result = import_feed(write(feed_path(), card, source="CARD", business_date=BDATE))
    assert result.status == "applied"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(m.Customer)).scalar_one() == 2
        zhang = conn.execute(select(m.Customer).where(m.Customer.name == "张三")).one()
        links = conn.execute(select(m.CustomerSource.source, m.CustomerSource.source_id)
                             .where(m.CustomerSource.customer_id == zhang.id)
                             .order_by(m.CustomerSource.source)).all()
    assert links == [("CARD", "K77"), ("CBS", "C1")]
    # Same business date: CBS wins the tie for the mobile; CARD adds the e-mail it alone has.
    assert zhang.mobile == "13812345678"
    assert zhang.email == "z3@example.cn"
    assert zhang.provenance["mobile"][0] == "CBS"
    assert zhang.provenance["email"][0] == "CARD"


def test_newer_business_date_wins_and_provenance_says_where_from(engine, import_feed, feed_path):
    import_feed(write(feed_path(), customer_feed))

    def card(feed):  # type: ignore[no-untyped-def]
        feed.customer("K77", "张三", id_doc=("RESIDENT_ID", ZHANG, None), mobile="13999999999")
    later = import_feed(write(feed_path(), card, source="CARD",
                              business_date=BDATE + timedelta(days=1)))
    with engine.connect() as conn:
        zhang = conn.execute(select(m.Customer).where(m.Customer.name == "张三")).one()
    assert zhang.mobile == "13999999999"
    assert zhang.provenance["mobile"] == ["CARD", later.batch_id, "2026-11-21"]
    assert zhang.provenance["gender"][0] == "CBS"  # CARD did not say: CBS's value stays

    def older(feed):  # type: ignore[no-untyped-def]
        feed.customer("W1", "张三", id_doc=("RESIDENT_ID", ZHANG, None), mobile="13700000000")
    import_feed(write(feed_path(), older, source="WMS", business_date=BDATE - timedelta(days=3)))
    with engine.connect() as conn:
        assert conn.execute(select(m.Customer.mobile).where(m.Customer.id == zhang.id)
                            ).scalar_one() == "13999999999"


def test_bad_checksum_is_a_warning_not_a_merge(engine, import_feed, feed_path):
    import_feed(write(feed_path(), customer_feed))
    wrong = ZHANG[:17] + ("0" if ZHANG[17] != "0" else "1")

    def card(feed):  # type: ignore[no-untyped-def]
        feed.customer("K5", "张三", id_doc=("RESIDENT_ID", wrong, None))
    assert import_feed(write(feed_path(), card, source="CARD")).status == "applied"
    with engine.connect() as conn:
        rows = conn.execute(select(m.Customer.identity_key, m.Customer.dq_warnings)
                            .where(m.Customer.name == "张三").order_by(m.Customer.id)).all()
    assert len(rows) == 2
    assert rows[0].identity_key == f"RESIDENT_ID:{ZHANG}" and rows[0].dq_warnings == []
    assert rows[1].identity_key is None
    assert "fails its checksum" in rows[1].dq_warnings[0]
    assert wrong not in rows[1].dq_warnings[0]  # the warning masks the number


def test_close_marks_records_closed_and_never_deletes(engine, import_feed, feed_path):
    import_feed(write(feed_path(), customer_feed))

    def closes(feed):  # type: ignore[no-untyped-def]
        feed.customer("C2", "李四", op="close")
        feed.account("A2", "C2", product="TD1Y", type="TIME_DEPOSIT", currency="CNY",
                     balance="0", op="close")
        feed.holding("H1", "C1", product="FUND1", units="0", market_value="0", currency="CNY",
                     op="close")
    assert import_feed(write(feed_path(), closes, sequence=2)).status == "applied"
    with engine.connect() as conn:
        assert conn.execute(select(m.Customer.status).where(m.Customer.name == "李四")
                            ).scalar_one() == "CLOSED"
        assert conn.execute(select(m.Account.status).where(m.Account.source_id == "A2")
                            ).scalar_one() == "CLOSED"
        assert conn.execute(select(m.Holding.closed)).scalar_one() is True
    assert counts(engine)["customers"] == 2 and counts(engine)["accounts"] == 2


def test_a_failure_half_way_leaves_the_database_as_it_was(engine, import_feed, feed_path,
                                                          monkeypatch):
    import integration.apply as apply_module
    import_feed(write(feed_path(), customer_feed))
    before = counts(engine)

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")
    monkeypatch.setattr(apply_module, "apply_holdings", boom)

    def second(feed):  # type: ignore[no-untyped-def]
        feed.customer("C3", "赵六", branch="S011")
        feed.account("A3", "C3", product="SAV", type="SAVINGS", currency="CNY", balance="1")
        feed.holding("H3", "C3", product="FUND1", units="1", market_value="1", currency="CNY")
    result = import_feed(write(feed_path(), second, sequence=2))
    assert result.status == "rejected" and "disk full" in result.reason
    assert counts(engine) == {**before, "batches": 2}
    # The sequence was not used up: the corrected delivery goes through.
    monkeypatch.undo()
    assert import_feed(write(feed_path(), second, sequence=2)).status == "applied"


def test_operator_release_and_discard(engine, import_feed, feed_path):
    from integration.quarantine import operator_discard, operator_release

    def orphans(feed):  # type: ignore[no-untyped-def]
        reference(feed)
        feed.account("X1", "NOPE", product="SAV", type="SAVINGS", currency="CNY", balance="5")
        feed.account("X2", "NOPE2", product="SAV", type="SAVINGS", currency="CNY", balance="5")
    import_feed(write(feed_path(), orphans))
    with engine.connect() as conn:
        ids = conn.execute(select(m.QuarantinedRecord.id).order_by(m.QuarantinedRecord.id)
                           ).scalars().all()
    still = operator_release(engine, ids, "ops1")
    assert (still.applied, still.still_waiting) == (0, 2)
    assert operator_discard(engine, [ids[0]], "ops1", "account opened by mistake") == 1
    with engine.connect() as conn:
        rows = conn.execute(select(m.QuarantinedRecord.status, m.QuarantinedRecord.resolved_by)
                            .order_by(m.QuarantinedRecord.id)).all()
    assert rows == [("discarded", "ops1"), ("waiting", None)]
