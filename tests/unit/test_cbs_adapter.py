"""The cbs reader on its own: records in order, typed values, bounded memory."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

import integration.adapters.cbs as cbs
from integration.adapters.base import FeedRejected
from tests.feeds import BDATE, ZHANG, reference, txn, write


def read(path, max_bytes=10**8):  # type: ignore[no-untyped-def]
    adapter = cbs.CbsAdapter(path, max_bytes)
    header = adapter.header()
    records = list(adapter.records())
    return header, records, adapter.summary()


def test_header_records_and_summary(feed_path):
    def build(feed):  # type: ignore[no-untyped-def]
        reference(feed)
        feed.customer("C1", "张三 & <Co>", gender="M", birth_date=date(1980, 1, 1),
                      id_doc=("RESIDENT_ID", ZHANG, date(2030, 5, 1)), annual_income="120000.5",
                      branch="S011", manager="RM0001")
        feed.account("A1", "C1", product="SAV", type="SAVINGS", currency="CNY", balance="-0.0001",
                     overdue_days=3)
        feed.transaction("T1", "A1", booking_date=BDATE, amount="12.34", currency="USD",
                         type="PAYMENT", channel="POS", counterparty=("某公司", "6222", "ICBC"),
                         narrative="咖啡")
    header, records, summary = read(write(feed_path(), build, sequence=412))
    assert (header.source, header.business_date, header.sequence) == ("CBS", BDATE, 412)
    assert [r.kind for r in records] == ["rate", "branch", "branch", "branch", "product",
                                         "product", "product", "customer", "account",
                                         "transaction"]
    customer, account, transaction = records[-3:]
    assert customer.values["name"] == "张三 & <Co>"
    assert customer.values["id_type"] == "RESIDENT_ID" and customer.values["id_number"] == ZHANG
    assert customer.values["id_expiry"] == date(2030, 5, 1)
    assert customer.values["annual_income"] == Decimal("120000.5")
    assert account.values["balance"] == Decimal("-0.0001") and account.values["overdue_days"] == 3
    assert transaction.values["currency"] == "USD"
    assert (transaction.values["counterparty_name"], transaction.values["counterparty_account"],
            transaction.values["counterparty_bank"]) == ("某公司", "6222", "ICBC")
    assert summary.records == 10 and summary.delivery_key == "412"


@pytest.mark.parametrize("field, value, reason", [
    ("<BookingDate>2026-11-20</BookingDate>", "<BookingDate>2026-02-30</BookingDate>",
     "BookingDate '2026-02-30' is not a date (YYYY-MM-DD)"),
    ("<Amount currency=\"CNY\">5</Amount>", "<Amount currency=\"CNY\">1e3</Amount>",
     "Amount '1e3' is not a decimal amount"),
    ("<Amount currency=\"CNY\">5</Amount>", "<Amount currency=\"cny\">5</Amount>",
     "Amount@currency 'cny' is not an ISO 4217 currency code"),
    ("<Channel>MOBILE</Channel>", "", "Channel is required"),
    ("<Channel>MOBILE</Channel>", "<Channel>MOBILE</Channel><Colour>red</Colour>",
     "unexpected element 'Colour'"),
    ("<Channel>MOBILE</Channel>", "<Channel>MOBILE</Channel><Channel>ATM</Channel>",
     "Channel appears twice"),
])
def test_invalid_values_give_a_precise_reason(feed_path, field, value, reason):
    path = write(feed_path(), lambda f: txn(f, "T1", "A1", "5"))
    text = path.read_text("utf-8")
    assert field in text
    path.write_text(text.replace(field, value), "utf-8")
    _, (record,), _ = read(path)
    assert record.error == reason and record.values == {}
    assert b"T1" in record.raw


def test_a_record_of_another_section_is_refused(feed_path):
    path = write(feed_path(), lambda f: txn(f, "T1", "A1", "5"))
    text = path.read_text("utf-8").replace("<Transactions>", "<Accounts>").replace(
        "</Transactions>", "</Accounts>")
    path.write_text(text, "utf-8")
    with pytest.raises(FeedRejected, match="outside its section"):
        read(path)


def test_memory_stays_flat_while_streaming(feed_path, monkeypatch):
    """Each record is freed once read: the tree holds one read-ahead buffer, not the file."""
    widths: list[int] = []
    real_release = cbs.release

    def watching(elem):  # type: ignore[no-untyped-def]
        parent = elem.getparent()
        real_release(elem)
        if parent is not None:
            widths.append(len(parent))
    monkeypatch.setattr(cbs, "release", watching)

    def build(feed):  # type: ignore[no-untyped-def]
        for i in range(5000):
            txn(feed, f"T{i}", "A1", "1.00")
    _, records, _ = read(write(feed_path(), build))
    assert len(records) == 5000 and len(widths) >= 5000
    # lxml parses ahead by one read buffer; what matters is that it never accumulates.
    assert max(widths) < 400
