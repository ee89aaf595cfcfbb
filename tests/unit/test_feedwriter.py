"""The feed writer produces files the project's XSD accepts, and the XSD refuses broken ones."""
from __future__ import annotations

import hashlib
import io
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from integration.feedwriter import NAMESPACE, SECTIONS, FeedWriter

XSD = Path(__file__).resolve().parents[2] / "integration" / "schema" / "feed-v1.xsd"
NS = {"f": NAMESPACE}
RECORD_KEYS = {  # record element -> its key attribute, per the spec
    "Rate": "currency", "Branch": "code", "Product": "code", "Customer": "id",
    "Account": "id", "Holding": "id", "Transaction": "id",
}
BUSINESS_DATE = date(2026, 11, 20)
GENERATED = datetime(2026, 11, 21, 1, 5, tzinfo=timezone(timedelta(hours=8)))
TRICKY = "张三 & <李四> \"引号\""


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def parse(data: bytes) -> etree._ElementTree:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.ElementTree(etree.fromstring(data, parser))


def errors(schema: etree.XMLSchema, doc: etree._ElementTree | etree._Element) -> list[str]:
    schema.validate(doc)
    return [entry.message for entry in schema.error_log]


def write(records=None, **options) -> bytes:
    """One feed written to memory; ``records`` is called with the open writer."""
    out = io.BytesIO()
    with FeedWriter(out, "CBS", BUSINESS_DATE, 412, **options) as feed:
        if records is not None:
            records(feed)
    return out.getvalue()


def one_customer(**fields):
    values = {"gender": "M", "birth_date": date(1980, 5, 17)} | fields
    name = values.pop("name", "张三")
    return lambda feed: feed.customer("C1", name, **values)


def full_feed(feed: FeedWriter) -> None:
    """Every section and every optional field, in the spec's order."""
    feed.rate("USD", Decimal("7.1234"))
    feed.rate("HKD", "0.9123")
    feed.branch("HO", "总行", "上海")
    feed.branch("SH001", "上海分行 & <浦东>", "上海", parent="HO")
    feed.branch("SH999", "旧网点", "上海", parent="SH001", op="close")
    feed.product("DEP01", "活期存款", "DEPOSIT", "R1", "CNY", Decimal("0"))
    feed.product("TD3Y", "三年定期", "TIME_DEPOSIT", "R1", "CNY", Decimal("50.00"),
                 term_days=1095, expected_return=Decimal("2.6"))
    feed.product("FND01", "稳健增长基金", "FUND", "R3", "CNY", "1000", expected_return="-0.5")
    feed.customer(
        "C1", TRICKY, gender="F", birth_date=date(1985, 2, 28),
        id_doc=("RESIDENT_ID", "11010119850228002X", date(2035, 2, 28)),
        mobile="13800138000", email="zhang&li@example.cn", address="上海市浦东新区 <1号>",
        occupation="工程师", annual_income=Decimal("360000.00"), branch="SH001",
        manager="RM007", open_date=date(2010, 1, 4), status="ACTIVE",
        kyc_review_due=date(2027, 1, 4),
    )
    feed.customer("C2", "John Smith", id_doc=("PASSPORT", "E12345678", None))
    feed.customer("C3", "王五", status="CLOSED", op="close")
    feed.account(
        "6222020000000001", "C1", product="TD3Y", type="TIME_DEPOSIT", currency="CNY",
        balance=Decimal("50000.0000"), open_date=date(2025, 1, 2),
        maturity_date=date(2028, 1, 2), interest_rate=Decimal("2.6"),
        credit_limit=Decimal("0"), overdue_days=0, status="ACTIVE", branch="SH001",
    )
    feed.account("4367000000000002", "C1", product="CARD01", type="CREDIT_CARD",
                 currency="CNY", balance="-1234.50", credit_limit="50000", overdue_days=35)
    feed.holding("H1", "C1", product="FND01", units=Decimal("1000.1234"),
                 market_value=Decimal("1088.12"), currency="CNY", cost=Decimal("1000"),
                 valuation_date=BUSINESS_DATE)
    feed.holding("H2", "C2", product="FND01", units="10", market_value="10.5", currency="USD")
    feed.transaction(
        "T1", "6222020000000001", booking_date=BUSINESS_DATE, value_date=date(2026, 11, 19),
        amount=Decimal("-1234.5"), currency="CNY", type="TRANSFER_OUT", channel="MOBILE",
        counterparty=("上海某某贸易有限公司 & Co <沪>", "31001234567", "中国工商银行"),
        narrative="货款 <11月> & 运费",
    )
    feed.transaction("T2", "6222020000000001", booking_date="2026-11-20", amount="50000",
                     currency="CNY", type="CASH_DEPOSIT", channel="COUNTER",
                     counterparty=(None, None, "招商银行"))
    feed.transaction("T3", "4367000000000002", booking_date=BUSINESS_DATE, amount="-0.01",
                     currency="CNY", type="FEE", channel="AUTO", op="close")


FULL_KEYS = ["USD", "HKD", "HO", "SH001", "SH999", "DEP01", "TD3Y", "FND01", "C1", "C2",
             "C3", "6222020000000001", "4367000000000002", "H1", "H2", "T1", "T2", "T3"]


def recomputed(tree: etree._ElementTree) -> tuple[int, str]:
    """Count and digest from the file itself, by the spec's rule, not the writer's."""
    keys = []
    for elem in tree.getroot().iter():
        local = etree.QName(elem).localname
        if local in RECORD_KEYS and elem.getparent() is not None \
                and etree.QName(elem.getparent()).localname in SECTIONS:
            keys.append(elem.get(RECORD_KEYS[local]))
    return len(keys), hashlib.sha256("".join(keys).encode("utf-8")).hexdigest()


# --- a complete file -------------------------------------------------------------------

def test_full_feed_validates_against_the_xsd(schema):
    tree = parse(write(full_feed, generated=GENERATED))

    assert errors(schema, tree) == []
    root = tree.getroot()
    assert [etree.QName(child).localname for child in root] == list(SECTIONS) + ["Trailer"]
    assert root.attrib == {"source": "CBS", "businessDate": "2026-11-20", "sequence": "412",
                           "generated": "2026-11-21T01:05:00+08:00"}


def test_text_with_markup_characters_round_trips():
    data = write(full_feed)
    tree = parse(data)

    assert tree.findtext("f:Customers/f:Customer[@id='C1']/f:Name", namespaces=NS) == TRICKY
    assert tree.findtext("f:Transactions/f:Transaction[@id='T1']/f:Counterparty/f:Name",
                         namespaces=NS) == "上海某某贸易有限公司 & Co <沪>"
    assert "张三".encode("utf-8") in data  # UTF-8 text, not character references
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Feed xmlns="')


def test_every_optional_field_is_written_in_the_spec_order():
    tree = parse(write(full_feed))
    c1 = tree.find("f:Customers/f:Customer[@id='C1']", NS)
    account = tree.find("f:Accounts/f:Account", NS)

    assert [etree.QName(e).localname for e in c1] == [
        "Name", "Gender", "BirthDate", "IdDoc", "Mobile", "Email", "Address", "Occupation",
        "AnnualIncome", "Branch", "Manager", "OpenDate", "Status", "KycReviewDue"]
    assert c1.find("f:IdDoc", NS).attrib == {
        "type": "RESIDENT_ID", "number": "11010119850228002X", "expiry": "2035-02-28"}
    assert [etree.QName(e).localname for e in account] == [
        "Product", "Type", "Currency", "Balance", "OpenDate", "MaturityDate", "InterestRate",
        "CreditLimit", "OverdueDays", "Status", "Branch"]
    assert account.findtext("f:Balance", namespaces=NS) == "50000.0000"  # as given


def test_none_values_are_omitted_and_op_is_written_only_for_close():
    tree = parse(write(full_feed))
    c2 = tree.find("f:Customers/f:Customer[@id='C2']", NS)
    t2 = tree.find("f:Transactions/f:Transaction[@id='T2']", NS)

    assert [etree.QName(e).localname for e in c2] == ["Name", "IdDoc"]
    assert "expiry" not in c2.find("f:IdDoc", NS).attrib
    assert [etree.QName(e).localname for e in t2.find("f:Counterparty", NS)] == ["Bank"]
    assert "op" not in c2.attrib
    assert tree.find("f:Customers/f:Customer[@id='C3']", NS).get("op") == "close"
    assert tree.find("f:Branches/f:Branch[@code='SH999']", NS).get("op") == "close"


def test_decimals_are_written_in_plain_notation_never_exponent():
    tree = parse(write(lambda feed: feed.account(
        "A1", "C1", product="P", type="SAVINGS", currency="CNY", balance=Decimal("1E+3"),
        interest_rate=Decimal("1.5E-2"))))

    assert tree.findtext("f:Accounts/f:Account/f:Balance", namespaces=NS) == "1000"
    assert tree.findtext("f:Accounts/f:Account/f:InterestRate", namespaces=NS) == "0.015"


def test_floats_are_refused_and_nothing_is_written():
    out = io.BytesIO()
    with FeedWriter(out, "CBS", BUSINESS_DATE, 1) as feed:
        with pytest.raises(TypeError, match="float"):
            feed.rate("USD", 7.1)  # type: ignore[arg-type]
        assert feed.records == 0
    assert b"<Rate" not in out.getvalue()


def test_unknown_op_is_refused():
    with FeedWriter(io.BytesIO(), "CBS", BUSINESS_DATE, 1) as feed:
        with pytest.raises(ValueError, match="op"):
            feed.branch("HO", "总行", "上海", op="delete")
        assert feed.records == 0


# --- count and digest -----------------------------------------------------------------

def test_trailer_count_and_digest_match_a_recomputation_from_the_file():
    out = io.BytesIO()
    with FeedWriter(out, "CBS", BUSINESS_DATE, 412) as feed:
        full_feed(feed)
    tree = parse(out.getvalue())
    trailer = tree.find("f:Trailer", NS)
    count, digest = recomputed(tree)

    assert count == len(FULL_KEYS) == 18
    assert digest == hashlib.sha256("".join(FULL_KEYS).encode("utf-8")).hexdigest()
    assert trailer.attrib == {"records": str(count), "sha256": digest}
    assert (feed.records, feed.digest) == (count, digest)


def test_digest_covers_non_ascii_keys_as_utf8():
    tree = parse(write(lambda feed: feed.customer("客户-001", "张三")))

    assert tree.find("f:Trailer", NS).get("sha256") == \
        hashlib.sha256("客户-001".encode("utf-8")).hexdigest()


def test_progress_is_visible_while_writing():
    with FeedWriter(io.BytesIO(), "CBS", BUSINESS_DATE, 1) as feed:
        assert (feed.records, feed.digest) == (0, hashlib.sha256(b"").hexdigest())
        feed.rate("USD", "7.1")
        feed.rate("EUR", "7.8")
        assert (feed.records, feed.digest) == (2, hashlib.sha256(b"USDEUR").hexdigest())


def test_overrides_produce_a_file_whose_trailer_disagrees(schema):
    tree = parse(write(full_feed, records_override=17, digest_override="0" * 64))
    trailer = tree.find("f:Trailer", NS)

    assert errors(schema, tree) == []  # broken only in what the trailer claims
    assert trailer.attrib == {"records": "17", "sha256": "0" * 64}
    assert recomputed(tree) != (17, "0" * 64)


def test_digest_can_be_left_out(schema):
    tree = parse(write(full_feed, write_digest=False))

    assert errors(schema, tree) == []
    assert tree.find("f:Trailer", NS).attrib == {"records": "18"}


def test_empty_feed_has_only_a_trailer(schema):
    tree = parse(write())

    assert errors(schema, tree) == []
    assert [etree.QName(e).localname for e in tree.getroot()] == ["Trailer"]
    assert tree.find("f:Trailer", NS).get("records") == "0"


def test_written_to_a_path_compact(tmp_path, schema):
    path = tmp_path / "cbs.xml"
    with FeedWriter(path, "CBS", BUSINESS_DATE, 1, pretty=False) as feed:
        full_feed(feed)

    data = path.read_bytes()
    assert b"\n  <" not in data
    assert errors(schema, parse(data)) == []


def test_an_error_inside_the_block_leaves_no_file(tmp_path):
    path = tmp_path / "cbs.xml"
    with pytest.raises(RuntimeError, match="boom"):
        with FeedWriter(path, "CBS", BUSINESS_DATE, 1) as feed:
            feed.rate("USD", "7.1")
            raise RuntimeError("boom")

    assert not path.exists()


# --- section order ---------------------------------------------------------------------

def test_an_earlier_section_after_a_later_one_is_refused():
    with FeedWriter(io.BytesIO(), "CBS", BUSINESS_DATE, 1) as feed:
        feed.customer("C1", "张三")
        with pytest.raises(ValueError, match="Branches cannot come after Customers"):
            feed.branch("HO", "总行", "上海")
        with pytest.raises(ValueError, match="FxRates"):
            feed.rate("USD", "7.1")
        feed.customer("C2", "李四")  # the same section may continue
        feed.transaction("T1", "A1", booking_date=BUSINESS_DATE, amount="1", currency="CNY",
                         type="OTHER", channel="OTHER")
        with pytest.raises(ValueError):
            feed.customer("C3", "王五")
        assert feed.records == 3


def test_a_section_is_opened_once_and_skipped_sections_are_absent():
    def records(feed):
        feed.rate("USD", "7.1")
        feed.customer("C1", "张三")
        feed.customer("C2", "李四")
        feed.transaction("T1", "A1", booking_date=BUSINESS_DATE, amount="1", currency="CNY",
                         type="OTHER", channel="OTHER")

    tree = parse(write(records))
    assert [etree.QName(e).localname for e in tree.getroot()] == \
        ["FxRates", "Customers", "Transactions", "Trailer"]
    assert len(tree.find("f:Customers", NS)) == 2


def test_records_outside_the_with_block_are_refused():
    feed = FeedWriter(io.BytesIO(), "CBS", BUSINESS_DATE, 1)
    with pytest.raises(RuntimeError):
        feed.rate("USD", "7.1")
    with feed:
        pass
    with pytest.raises(RuntimeError):
        feed.rate("USD", "7.1")


# --- what the XSD refuses ----------------------------------------------------------------

def test_the_baseline_record_used_below_is_valid(schema):
    assert errors(schema, parse(write(one_customer()))) == []


@pytest.mark.parametrize(("records", "element"), [
    pytest.param(one_customer(gender="X"), "Gender", id="unknown-gender"),
    pytest.param(one_customer(status="ASLEEP"), "Status", id="unknown-customer-status"),
    pytest.param(one_customer(id_doc=("DRIVING_LICENCE", "X1", None)), "type",
                 id="unknown-iddoc-type"),
    pytest.param(lambda feed: feed.product("P", "产品", "CRYPTO", "R1", "CNY", "0"),
                 "Category", id="unknown-category"),
    pytest.param(lambda feed: feed.product("P", "产品", "FUND", "R6", "CNY", "0"),
                 "RiskLevel", id="unknown-risk-level"),
    pytest.param(lambda feed: feed.transaction("T", "A", booking_date=BUSINESS_DATE,
                                               amount="1", currency="CNY", type="CASH_DEPOSIT",
                                               channel="TELEGRAPH"), "Channel",
                 id="unknown-channel"),
])
def test_xsd_rejects_an_unknown_enumeration_value(schema, records, element):
    found = errors(schema, parse(write(records)))

    assert found and element in found[0]
    assert "enumeration" in found[0]


@pytest.mark.parametrize("amount", ["1.23456", "1e3", "1E3", "1.5e-2", "+1.00", "1,000.00",
                                    "", "NaN", "12345678901234567"])
def test_xsd_rejects_a_malformed_amount(schema, amount):
    good = one_customer(annual_income="1.2345")
    bad = one_customer(annual_income=amount)

    assert errors(schema, parse(write(good))) == []
    found = errors(schema, parse(write(bad)))
    assert found and "AnnualIncome" in found[0]


@pytest.mark.parametrize("value", ["-1234.50", "0", "0.0001", "-9999999999999999.9999"])
def test_xsd_accepts_well_formed_amounts(schema, value):
    records = lambda feed: feed.transaction(  # noqa: E731
        "T", "A", booking_date=BUSINESS_DATE, amount=value, currency="CNY", type="FEE",
        channel="AUTO")

    assert errors(schema, parse(write(records))) == []


def test_xsd_rejects_exponent_amounts_in_attributes_and_money_elements(schema):
    rate = errors(schema, parse(write(lambda feed: feed.rate("USD", "7e0"))))
    money = errors(schema, parse(write(lambda feed: feed.holding(
        "H", "C", product="P", units="1", market_value="1e3", currency="CNY"))))

    assert rate and "toCny" in rate[0]
    assert money and "MarketValue" in money[0]


@pytest.mark.parametrize("value", ["2026-02-30", "2026/11/20", "20261120", "2026-11-20Z",
                                   "2026-11-20T00:00:00", "26-11-20", "not a date"])
def test_xsd_rejects_a_bad_date(schema, value):
    found = errors(schema, parse(write(one_customer(birth_date=value))))

    assert found and "BirthDate" in found[0]


def test_xsd_rejects_a_bad_business_date_in_the_envelope(schema):
    out = io.BytesIO()
    with FeedWriter(out, "CBS", "2026-13-01", 1):
        pass

    found = errors(schema, parse(out.getvalue()))
    assert found and "businessDate" in found[0]


@pytest.mark.parametrize(("source", "sequence"), [("cbs", 1), ("C", 1), ("CBS", 0),
                                                  ("A_VERY_LONG_SOURCE", 1)])
def test_xsd_rejects_a_bad_envelope(schema, source, sequence):
    out = io.BytesIO()
    with FeedWriter(out, source, BUSINESS_DATE, sequence):
        pass

    assert errors(schema, parse(out.getvalue())) != []


def test_xsd_rejects_a_missing_trailer(schema):
    found = errors(schema, parse(write(full_feed, omit_trailer=True)))

    assert found and "Trailer" in found[0]


def test_xsd_rejects_a_bad_trailer_digest(schema):
    found = errors(schema, parse(write(full_feed, digest_override="abc")))

    assert found and "sha256" in found[0]


def test_xsd_rejects_sections_out_of_order(schema):
    tree = parse(write(full_feed))
    root = tree.getroot()
    assert errors(schema, tree) == []

    root.insert(0, root.find("f:Customers", NS))  # Customers before FxRates
    found = errors(schema, tree)
    assert found and "FxRates': This element is not expected" in found[0]


def test_xsd_rejects_a_record_in_the_wrong_section(schema):
    tree = parse(write(full_feed))
    tree.find("f:Branches", NS).append(tree.find("f:Customers/f:Customer", NS))

    found = errors(schema, tree)
    assert found and "Customer" in found[0]


def test_xsd_rejects_a_customer_without_name(schema):
    found = errors(schema, parse(write(one_customer(name=None))))

    assert found and "Name" in found[0]


def test_xsd_rejects_a_blank_name(schema):
    found = errors(schema, parse(write(one_customer(name="   "))))

    assert found and "Name" in found[0]


def test_xsd_rejects_children_out_of_order(schema):
    tree = parse(write(one_customer()))
    customer = tree.find("f:Customers/f:Customer", NS)
    customer.append(customer.find("f:Name", NS))  # Name last

    assert errors(schema, tree) != []


def test_xsd_rejects_an_account_without_balance_and_an_unknown_op(schema):
    no_balance = lambda feed: feed.account(  # noqa: E731
        "A", "C", product="P", type="SAVINGS", currency="CNY", balance=None)
    tree = parse(write(lambda feed: feed.rate("USD", "7.1")))
    tree.find("f:FxRates/f:Rate", NS).set("op", "delete")

    found = errors(schema, parse(write(no_balance)))
    assert found and "Balance" in found[0]
    found = errors(schema, tree)
    assert found and "op" in found[0]


# --- single records -------------------------------------------------------------------

@pytest.mark.parametrize("section", SECTIONS)
def test_each_record_validates_on_its_own(schema, section):
    tree = parse(write(full_feed))
    for record in tree.find(f"f:{section}", NS):
        alone = etree.fromstring(etree.tostring(record))

        assert etree.QName(alone).namespace == NAMESPACE
        assert errors(schema, alone) == []


def test_a_broken_record_fails_on_its_own(schema):
    tree = parse(write(one_customer(gender="X")))
    alone = etree.fromstring(etree.tostring(tree.find("f:Customers/f:Customer", NS)))

    found = errors(schema, alone)
    assert found and "Gender" in found[0]


def test_a_section_or_child_element_is_not_a_valid_document_alone(schema):
    tree = parse(write(full_feed))
    customers = etree.fromstring(etree.tostring(tree.find("f:Customers", NS)))

    assert errors(schema, customers) != []


# --- property: every 4-digit decimal the writer is given survives, valid ----------------

@settings(max_examples=100, deadline=None)
@given(st.decimals(min_value=Decimal("-9999999999999999.9999"),
                   max_value=Decimal("9999999999999999.9999"),
                   allow_nan=False, allow_infinity=False, places=4))
def test_any_four_place_decimal_is_valid_and_round_trips(schema, value):
    records = lambda feed: feed.transaction(  # noqa: E731
        "T", "A", booking_date=BUSINESS_DATE, amount=value, currency="CNY", type="FEE",
        channel="AUTO")
    tree = parse(write(records))

    assert errors(schema, tree) == []
    assert Decimal(tree.findtext("f:Transactions/f:Transaction/f:Amount",
                                 namespaces=NS)) == value
