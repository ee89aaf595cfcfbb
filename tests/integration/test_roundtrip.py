"""Property: whatever valid records we write, importing the file gives back the same values."""
from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from integration import models as m
from integration.feedwriter import FeedWriter
from integration.pipeline import import_file

SEQUENCE = itertools.count(1)

text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    min_size=1, max_size=40,
).map(str.strip).filter(bool)
money = st.decimals(min_value=Decimal("-999999999999.9999"), max_value=Decimal("999999999999.9999"),
                    places=4, allow_nan=False, allow_infinity=False)
days = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))
txn_types = st.sampled_from(["CASH_DEPOSIT", "TRANSFER_OUT", "PAYMENT", "CARD_SPEND", "FEE"])

account = st.fixed_dictionaries({
    "balance": money, "open_date": days,
    "transactions": st.lists(st.tuples(money, days, txn_types, st.none() | text), max_size=4),
})
customer = st.fixed_dictionaries({
    "name": text, "birth_date": st.none() | days, "mobile": st.none() | st.from_regex(
        r"1[3-9][0-9]{9}", fullmatch=True),
    "address": st.none() | text, "income": st.none() | money.map(abs),
    "accounts": st.lists(account, min_size=0, max_size=3),
})


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(customers=st.lists(customer, min_size=1, max_size=5))
def test_records_survive_the_round_trip(engine, tmp_path, customers):
    seq = next(SEQUENCE)
    prefix = f"R{seq}-"
    path = tmp_path / f"round-{seq}.xml"
    with FeedWriter(path, "CBS", date(2026, 11, 20), seq) as feed:
        if seq == 1:
            feed.branch("HO", "总行", "杭州")
            feed.product("SAV", "活期", "DEPOSIT", "R1", "CNY", "0")
        for i, c in enumerate(customers):
            feed.customer(f"{prefix}C{i}", c["name"], birth_date=c["birth_date"],
                          mobile=c["mobile"], address=c["address"], annual_income=c["income"])
        for i, c in enumerate(customers):
            for j, a in enumerate(c["accounts"]):
                feed.account(f"{prefix}A{i}.{j}", f"{prefix}C{i}", product="SAV",
                             type="SAVINGS", currency="CNY", balance=a["balance"],
                             open_date=a["open_date"])
        for i, c in enumerate(customers):
            for j, a in enumerate(c["accounts"]):
                for k, (amount, day, kind, narrative) in enumerate(a["transactions"]):
                    feed.transaction(f"{prefix}T{i}.{j}.{k}", f"{prefix}A{i}.{j}",
                                     booking_date=day, amount=amount, currency="CNY", type=kind,
                                     channel="MOBILE", narrative=narrative)
    result = import_file(engine, path, max_bytes=10**8, chunk=3)
    assert result.status == "applied", result.reason
    with engine.connect() as conn:
        for i, c in enumerate(customers):
            golden = conn.execute(
                select(m.Customer).join(m.CustomerSource)
                .where(m.CustomerSource.source_id == f"{prefix}C{i}")).one()
            assert (golden.name, golden.birth_date, golden.mobile, golden.address) == (
                c["name"], c["birth_date"], c["mobile"], c["address"])
            assert golden.annual_income == c["income"]
            for j, a in enumerate(c["accounts"]):
                acct = conn.execute(select(m.Account).where(
                    m.Account.source_id == f"{prefix}A{i}.{j}")).one()
                assert (acct.customer_id, acct.balance, acct.open_date) == (
                    golden.id, a["balance"], a["open_date"])
                got = conn.execute(
                    select(m.Transaction.source_id, m.Transaction.amount,
                           m.Transaction.booking_date, m.Transaction.type,
                           m.Transaction.narrative)
                    .where(m.Transaction.account_id == acct.id)
                    .order_by(m.Transaction.source_id)).all()
                want = sorted((f"{prefix}T{i}.{j}.{k}", *t)
                              for k, t in enumerate(a["transactions"]))
                assert [tuple(r) for r in got] == want
