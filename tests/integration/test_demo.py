"""The demo bank: deterministic, spec-conformant files that load through the real pipeline
with exactly the designed data-quality cases, and contain the patterns later features use."""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select

from integration import models as m
from integration.demo import NEW_PRODUCT, DemoSpec, demo_roles, staff_directory, write_demo
from integration.feedwriter import NAMESPACE
from integration.identity import resident_id_check_char

XSD = Path(__file__).resolve().parents[2] / "integration" / "schema" / "feed-v1.xsd"
NS = {"f": NAMESPACE}
BDATE = date(2026, 11, 20)
SPEC = DemoSpec(seed=7, customers=60, months=3, business_date=BDATE)
ORDER = [("CBS", "1"), ("CARD", "1"), ("WMS", "1"), ("CBS", "2"), ("CARD", "2")]
CUSTOMER_INITIATED = ("CASH_DEPOSIT", "CASH_WITHDRAWAL", "TRANSFER_OUT", "PAYMENT",
                      "PURCHASE", "CARD_SPEND")


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_demo(SPEC, tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def root(path: Path) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.parse(str(path), parser).getroot()


SECTION = {"Rate": "FxRates", "Branch": "Branches", "Product": "Products",
           "Customer": "Customers", "Account": "Accounts", "Holding": "Holdings",
           "Transaction": "Transactions"}


def records(path: Path, tag: str) -> list[etree._Element]:
    return root(path).findall(f"f:{SECTION[tag]}/f:{tag}", NS)


def text(elem: etree._Element, child: str) -> str | None:
    return elem.findtext(f"f:{child}", namespaces=NS)


def load_all(import_feed, files: list[Path], **kwargs):  # type: ignore[no-untyped-def]
    return [import_feed(path, **kwargs) for path in files]


# -- the files ---------------------------------------------------------------------------


def test_the_same_spec_gives_byte_identical_files(demo_files, tmp_path):
    again = write_demo(SPEC, tmp_path / "again")
    assert [p.name for p in again] == [p.name for p in demo_files]
    for first, second in zip(demo_files, again):
        assert first.read_bytes() == second.read_bytes(), first.name


def test_another_seed_gives_another_bank(demo_files, tmp_path):
    other = write_demo(DemoSpec(seed=8, customers=60, months=3, business_date=BDATE),
                       tmp_path / "other")
    assert other[0].read_bytes() != demo_files[0].read_bytes()
    names = [{text(c, "Name") for c in records(files[0], "Customer")}
             for files in (demo_files, other)]
    assert len(names[0] & names[1]) < len(names[0]) / 2
    ids = [{c.find("f:IdDoc", NS).get("number") for c in records(files[0], "Customer")}
           for files in (demo_files, other)]
    assert not ids[0] & ids[1]


def test_files_come_in_import_order_for_the_business_date(demo_files):
    headers = [root(p).attrib for p in demo_files]
    assert [(h["source"], h["sequence"]) for h in headers] == ORDER
    assert {h["businessDate"] for h in headers} == {BDATE.isoformat()}
    # generated is derived from the business date, never from the clock
    assert all(h["generated"].startswith("2026-11-21T") for h in headers)


def test_the_default_business_date_is_yesterday(tmp_path):
    files = write_demo(DemoSpec(customers=50, months=1), tmp_path)
    yesterday = date.today() - timedelta(days=1)
    assert {root(p).get("businessDate") for p in files} == {yesterday.isoformat()}


def test_every_file_validates_against_the_xsd(demo_files, schema):
    for path in demo_files:
        doc = etree.parse(str(path))
        assert schema.validate(doc), (path.name, [e.message for e in schema.error_log][:3])


def test_amounts_have_two_fraction_digits_and_rates_four(demo_files):
    cbs = root(demo_files[0])
    amounts = [e.text for e in cbs.iterfind(".//f:Amount", NS)]
    amounts += [e.text for e in cbs.iterfind(".//f:Balance", NS)]
    assert amounts and all(re.fullmatch(r"-?\d+\.\d\d", a) for a in amounts)
    rates = {r.get("currency"): r.get("toCny") for r in records(demo_files[0], "Rate")}
    assert set(rates) == {"USD", "EUR", "HKD", "JPY"}
    assert all(re.fullmatch(r"\d+\.\d{1,4}", v) for v in rates.values())


def test_each_file_carries_the_reference_data_it_uses(demo_files):
    for path in demo_files:
        branches = {b.get("code") for b in records(path, "Branch")}
        products = {p.get("code") for p in records(path, "Product")}
        used_products = {text(r, "Product") for kind in ("Account", "Holding")
                         for r in records(path, kind)}
        used_branches = {text(r, "Branch") for kind in ("Customer", "Account")
                         for r in records(path, kind)} - {None}
        assert len(branches) >= 9, path.name
        assert used_branches <= branches, path.name
        missing = used_products - products
        if root(path).get("source") == "WMS":
            assert missing == {NEW_PRODUCT}  # the designed case, nothing else
        else:
            assert not missing, (path.name, missing)


def test_references_stay_within_their_source(demo_files):
    """An Account's customer and a Transaction's account are ids of the same source; the
    only exception is the designed card account whose customer comes in CARD#2."""
    known_customers: dict[str, set[str]] = defaultdict(set)
    known_accounts: dict[str, set[str]] = defaultdict(set)
    dangling = []
    for path in demo_files:
        source = root(path).get("source")
        known_customers[source] |= {c.get("id") for c in records(path, "Customer")}
        known_accounts[source] |= {a.get("id") for a in records(path, "Account")}
        for kind in ("Account", "Holding"):
            dangling += [(source, kind, r.get("id")) for r in records(path, kind)
                         if r.get("customer") not in known_customers[source]]
        dangling += [(source, "Transaction", t.get("id")) for t in records(path, "Transaction")
                     if t.get("account") not in known_accounts[source]]
    assert [(s, k) for s, k, _ in dangling] == [("CARD", "Account")]
    late_customer = records(demo_files[4], "Customer")[0].get("id")
    card_account = next(a for a in records(demo_files[1], "Account")
                        if a.get("id") == dangling[0][2])
    assert card_account.get("customer") == late_customer


def test_identities_are_real_format_and_checksummed(demo_files):
    customers = records(demo_files[0], "Customer") + records(demo_files[3], "Customer")
    bad = []
    numbers: Counter[str] = Counter()
    for c in {c.get("id"): c for c in customers}.values():
        doc = c.find("f:IdDoc", NS)
        mobile = text(c, "Mobile")
        assert re.fullmatch(r"1[358]\d{9}", mobile), mobile
        if doc.get("type") != "RESIDENT_ID":
            continue
        number = doc.get("number")
        numbers[number] += 1
        assert re.fullmatch(r"\d{17}[\dX]", number)
        assert number[6:14] == text(c, "BirthDate").replace("-", "")
        assert text(c, "Gender") == ("M" if int(number[16]) % 2 else "F")
        if resident_id_check_char(number[:17]) != number[17]:
            bad.append(c.get("id"))
    assert bad == [demo_roles(SPEC)["bad_id"]]  # exactly the designed one
    assert max(numbers.values()) == 1  # no two customers share a document
    # CBS#2 re-sends a couple of existing customers (changed contact details) and adds new ones
    assert len({c.get("id") for c in customers}) > SPEC.customers


def test_branch_tree_and_relationship_managers(demo_files):
    branches = {b.get("code"): b.get("parent") for b in records(demo_files[0], "Branch")}
    roots = [code for code, parent in branches.items() if parent is None]
    assert len(roots) == 1
    level1 = [c for c, p in branches.items() if p == roots[0]]
    level2 = [c for c, p in branches.items() if p in level1]
    assert len(level1) == 2 and len(level2) >= 4
    assert len(branches) == 1 + len(level1) + len(level2)

    default = staff_directory(DemoSpec())
    assert default == staff_directory(DemoSpec())
    rms = [s for s in default if s["role"] == "rm"]
    assert len(rms) >= 30
    assert all(re.fullmatch(r"RM\d{4}", s["staff_id"]) and s["branch"] in
               {"330101", "330102", "330103", "330104", "330201", "330202"} for s in rms)
    assert len({s["staff_id"] for s in default}) == len(default)
    assert {s["role"] for s in default} >= {"rm", "advisor", "branch_manager"}

    # Customers are managed by an RM (or adviser) of their own sub-branch; a few by nobody.
    staff = {s["staff_id"]: s for s in staff_directory(SPEC)}
    customers = records(demo_files[0], "Customer")
    managed = [c for c in customers if text(c, "Manager")]
    assert 0 < len(customers) - len(managed) < len(customers) / 5
    for c in managed:
        person = staff[text(c, "Manager")]
        assert person["role"] in ("rm", "advisor") and person["branch"] == text(c, "Branch")
        assert text(c, "Branch") in level2


def test_sources_overlap_with_their_own_ids(demo_files):
    cbs = {c.find("f:IdDoc", NS).get("number"): c.get("id")
           for c in records(demo_files[0], "Customer")}
    for path, prefix, low, high in ((demo_files[1], "K", 0.3, 0.55),
                                    (demo_files[2], "W", 0.15, 0.4)):
        customers = records(path, "Customer")
        assert low * SPEC.customers <= len(customers) <= high * SPEC.customers, path.name
        assert all(c.get("id").startswith(prefix) for c in customers)
        assert all(c.find("f:IdDoc", NS).get("number") in cbs for c in customers)
    card = records(demo_files[1], "Account")
    assert {text(a, "Type") for a in card} == {"CREDIT_CARD"}
    assert all(Decimal(text(a, "CreditLimit")) > 0 for a in card)
    holdings = records(demo_files[2], "Holding")
    assert {text(h, "Product")[:2] for h in holdings} >= {"FD", "WM"}
    assert all(text(h, "Units") and text(h, "Cost") for h in holdings)


def test_aum_is_skewed_towards_a_few_customers(tmp_path):
    spec = DemoSpec(seed=11, customers=600, months=1, business_date=BDATE)
    files = write_demo(spec, tmp_path)
    rates = {r.get("currency"): Decimal(r.get("toCny")) for r in records(files[0], "Rate")}
    rates["CNY"] = Decimal(1)
    by_document: dict[str, Decimal] = defaultdict(Decimal)
    documents = {}
    for path in files[:3]:
        source = root(path).get("source")
        for c in records(path, "Customer"):
            documents[(source, c.get("id"))] = c.find("f:IdDoc", NS).get("number")
    for a in records(files[0], "Account"):
        if text(a, "Type") in ("CURRENT", "SAVINGS", "TIME_DEPOSIT"):
            by_document[documents[("CBS", a.get("customer"))]] += (
                Decimal(text(a, "Balance")) * rates[text(a, "Currency")])
    for h in records(files[2], "Holding"):
        value = h.find("f:MarketValue", NS)
        by_document[documents[("WMS", h.get("customer"))]] += (
            Decimal(value.text) * rates[value.get("currency")])
    values = [by_document[doc] for (source, _), doc in documents.items() if source == "CBS"]
    share = {limit: sum(v > limit for v in values) / len(values)
             for limit in (6_000_000, 2_000_000, 500_000, 50_000)}
    assert 0 < share[6_000_000] <= 0.03
    assert 0.02 <= share[2_000_000] <= 0.10
    assert 0.08 <= share[500_000] <= 0.25
    assert share[50_000] <= 0.6  # many customers hold less than RMB 50,000
    top = sorted(values, reverse=True)[:len(values) // 5]
    assert sum(top) > Decimal("0.7") * sum(values)


# -- through the pipeline ----------------------------------------------------------------


def test_loading_the_demo_quarantines_exactly_the_designed_cases(
        engine, import_feed, demo_files):
    results = load_all(import_feed, demo_files)
    assert [r.status for r in results] == ["applied", "partial", "partial", "applied",
                                           "applied"]
    assert [(r.source, str(r.sequence)) for r in results] == ORDER
    assert [r.quarantined for r in results] == [0, 3, 1, 0, 0]
    assert [r.released for r in results] == [0, 0, 0, 0, 3]
    assert not any(r.warnings for r in results)
    q = m.QuarantinedRecord
    with engine.connect() as conn:
        rows = conn.execute(select(q.source, q.kind, q.record_key, q.reason_code,
                                   q.waiting_kind, q.waiting_key, q.status,
                                   q.resolved_batch_id).order_by(q.id)).all()
        card_account = conn.execute(select(m.Account.customer_id, m.Account.status).where(
            m.Account.source == "CARD", m.Account.source_id == rows[0].record_key)).one()
        person = conn.scalar(select(m.CustomerSource.customer_id).where(
            m.CustomerSource.source == "CBS",
            m.CustomerSource.source_id == demo_roles(SPEC)["card_late"]))
        card_txns = conn.scalar(select(func.count()).select_from(m.Transaction).join(
            m.Account).where(m.Account.source_id == rows[0].record_key))
        warnings = [w for w in conn.scalars(select(m.Customer.dq_warnings)) if w]
    card_batch = results[4].batch_id
    assert [(r.source, r.kind, r.reason_code, r.waiting_kind, r.status) for r in rows] == [
        ("CARD", "account", "MISSING_REF", "customer", "applied"),
        ("CARD", "transaction", "MISSING_REF", "account", "applied"),
        ("CARD", "transaction", "MISSING_REF", "account", "applied"),
        ("WMS", "holding", "MISSING_REF", "product", "waiting"),
    ]
    assert {r.resolved_batch_id for r in rows[:3]} == {card_batch}
    assert rows[3].waiting_key == NEW_PRODUCT
    # the released card account (and its two transactions) belong to the person CBS knows
    assert card_account == (person, "ACTIVE") and card_txns == 2
    assert len(warnings) == 1 and "checksum" in warnings[0][0]


def test_sources_merge_into_golden_customers(engine, import_feed, demo_files):
    load_all(import_feed, demo_files)
    xs = m.CustomerSource
    with engine.connect() as conn:
        golden = conn.scalar(select(func.count()).select_from(m.Customer))
        links = dict(conn.execute(select(xs.source, func.count()).group_by(xs.source)).all())
        per_customer = conn.execute(
            select(xs.customer_id, func.count(func.distinct(xs.source)))
            .group_by(xs.customer_id)).all()
        merged = demo_roles(SPEC)["merged"]
        merged_id = conn.scalar(select(xs.customer_id).where(xs.source == "CBS",
                                                             xs.source_id == merged))
        merged_sources = set(conn.scalars(select(xs.source).where(
            xs.customer_id == merged_id)))
        customer = conn.execute(select(m.Customer).where(m.Customer.id == merged_id)).one()
        from_card = conn.execute(select(m.Customer.provenance)).scalars().all()
        accounts = set(conn.scalars(select(m.Account.source).where(
            m.Account.customer_id == merged_id)))
        holdings = conn.scalar(select(func.count()).select_from(m.Holding).where(
            m.Holding.customer_id == merged_id))
    files = {(root(p).get("source"), c.get("id")) for p in demo_files
             for c in records(p, "Customer")}
    assert golden < len(files)  # merges happened
    assert golden == links["CBS"]  # every person is a CBS customer; CARD and WMS merged
    assert links["CARD"] >= 0.3 * SPEC.customers and links["WMS"] >= 0.15 * SPEC.customers
    assert max(n for _, n in per_customer) == 3
    assert merged_sources == {"CBS", "CARD", "WMS"}
    assert accounts == {"CBS", "CARD"} and holdings >= 1
    # CBS wins ties on the business date: the CARD system's other mobile does not replace it
    card_mobile = next(text(c, "Mobile") for c in records(demo_files[1], "Customer")
                       if c.find("f:IdDoc", NS).get("number") == customer.id_number)
    assert customer.mobile != card_mobile and customer.provenance["mobile"][0] == "CBS"
    # ...but CARD supplies what CBS does not know
    assert any(p.get("email", [None])[0] == "CARD" for p in from_card)


def test_the_data_has_the_patterns_later_features_look_for(engine, import_feed, tmp_path):
    spec = DemoSpec(seed=3, customers=60, months=8, business_date=BDATE)
    files = write_demo(spec, tmp_path)
    results = load_all(import_feed, files, chunk=1000)
    assert [r.status for r in results] == ["applied", "partial", "partial", "applied",
                                           "applied"]
    t, a, c = m.Transaction, m.Account, m.Customer
    six_months_ago = BDATE - timedelta(days=182)
    with engine.connect() as conn:
        large_cash = conn.execute(select(t.amount).where(
            t.type.in_(["CASH_DEPOSIT", "CASH_WITHDRAWAL"]),
            (t.amount >= 50_000) | (t.amount <= -50_000))).scalars().all()
        activity = conn.execute(
            select(a.customer_id,
                   func.max(t.booking_date).filter(t.type.in_(CUSTOMER_INITIATED)),
                   func.max(t.booking_date).filter(t.type == "INTEREST"))
            .join(t, t.account_id == a.id).group_by(a.customer_id)).all()
        dormant_status = set(conn.scalars(select(c.id).where(c.status == "DORMANT")))
        maturing = conn.scalars(select(a.source_id).where(
            a.type == "TIME_DEPOSIT", a.status == "ACTIVE", a.maturity_date > BDATE,
            a.maturity_date <= BDATE + timedelta(days=30))).all()
        closed = conn.execute(select(a.type, a.maturity_date).where(a.status == "CLOSED")).all()
        salaries = conn.scalar(select(func.count()).select_from(t).where(
            t.type == "TRANSFER_IN", t.channel == "AUTO", t.narrative == "代发工资",
            t.counterparty_name.isnot(None)))
        kinds = set(conn.execute(select(t.type, t.channel).distinct()).all())
        kyc_or_id = conn.scalar(select(func.count()).select_from(c).where(
            (c.kyc_review_due.between(BDATE, BDATE + timedelta(days=60))) |
            (c.id_expiry.between(BDATE, BDATE + timedelta(days=60)))))
        birth_months = {d.month for d in conn.scalars(select(c.birth_date))}
    assert large_cash and all(abs(v) >= Decimal("50000") for v in large_cash)
    dormant = [cid for cid, last, interest in activity
               if last is not None and last <= six_months_ago and interest and interest > last]
    assert dormant, "a customer whose customer-initiated transactions stopped 6+ months ago"
    assert dormant_status & set(dormant)
    assert maturing
    assert closed == [("TIME_DEPOSIT", BDATE)]  # the TD that matured today, closed by CBS#2
    assert salaries >= 12
    assert {("CARD_SPEND", "POS"), ("CARD_SPEND", "ONLINE"), ("PAYMENT", "AUTO"),
            ("INTEREST", "AUTO"), ("FEE", "AUTO"), ("PURCHASE", "MOBILE")} <= kinds
    assert kyc_or_id >= 2
    assert len(birth_months) >= 10


def test_the_daily_file_moves_balances_by_its_transactions(engine, import_feed, demo_files):
    load_all(import_feed, demo_files)
    before = {a.get("id"): Decimal(text(a, "Balance")) for a in records(demo_files[0], "Account")}
    moved: dict[str, Decimal] = defaultdict(Decimal)
    for txn in records(demo_files[3], "Transaction"):
        moved[txn.get("account")] += Decimal(text(txn, "Amount"))
    resent = [a for a in records(demo_files[3], "Account") if a.get("op") != "close"]
    with engine.connect() as conn:
        now = dict(conn.execute(select(m.Account.source_id, m.Account.balance)
                                .where(m.Account.source == "CBS")).all())
    changed = [a.get("id") for a in resent if a.get("id") in before]
    new = [a.get("id") for a in resent if a.get("id") not in before]
    assert len(changed) >= 5 and len(new) >= 3
    for account in changed:
        assert now[account] == before[account] + moved[account], account
    for account in new:
        assert now[account] == moved[account], account


def test_crm_demo_writes_and_loads_the_bank(runner, tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(args=["demo", "--customers", "50", "--months", "1",
                                 "--out", str(out)])
    # 3: the designed quarantine cases make two files partial
    assert result.exit_code == 3, result.output
    assert len(list(out.glob("*.xml"))) == 5
    assert "wrote 5 feed files" in result.output
    assert result.output.count("partial") == 2 and "released 3" in result.output
