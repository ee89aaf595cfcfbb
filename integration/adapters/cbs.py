"""Reader for the bank's own feed format, urn:bankcrm:feed:1 (see the spec in shared/)."""
from __future__ import annotations

import hashlib
import itertools
import re
from datetime import date
from os import PathLike
from typing import Any, Callable, Iterator

from lxml import etree

from integration.adapters import fields as f
from integration.adapters.base import FeedHeader, FeedRejected, FeedSummary, Record, RecordInvalid
from integration.adapters.safexml import iterparse, open_checked, release

NS = "urn:bankcrm:feed:1"
_Q = "{" + NS + "}"

# Section name → record element name, in the order the spec requires.
SECTIONS = (
    ("FxRates", "Rate"),
    ("Branches", "Branch"),
    ("Products", "Product"),
    ("Customers", "Customer"),
    ("Accounts", "Account"),
    ("Holdings", "Holding"),
    ("Transactions", "Transaction"),
)
KIND = {"Rate": "rate", "Branch": "branch", "Product": "product", "Customer": "customer",
        "Account": "account", "Holding": "holding", "Transaction": "transaction"}
KEY_ATTRIBUTE = {"Rate": "currency", "Branch": "code", "Product": "code"}

SOURCE_PATTERN = re.compile(r"[A-Z][A-Z0-9_]{1,15}\Z")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_DIGITS = re.compile(r"[0-9]+\Z")  # str.isdigit() also accepts '²', which int() refuses

CATEGORIES = frozenset({"DEPOSIT", "TIME_DEPOSIT", "LOAN", "CARD", "FUND", "WEALTH",
                        "INSURANCE", "BOND"})
RISK_LEVELS = frozenset({"R1", "R2", "R3", "R4", "R5"})
GENDERS = frozenset({"M", "F", "U"})
ID_TYPES = frozenset({"RESIDENT_ID", "PASSPORT", "HK_MACAO_PERMIT", "TAIWAN_PERMIT", "OTHER"})
CUSTOMER_STATUSES = frozenset({"ACTIVE", "DORMANT", "CLOSED"})
ACCOUNT_TYPES = frozenset({"CURRENT", "SAVINGS", "TIME_DEPOSIT", "LOAN", "CREDIT_CARD"})
ACCOUNT_STATUSES = frozenset({"ACTIVE", "DORMANT", "FROZEN", "CLOSED"})
TRANSACTION_TYPES = frozenset({
    "CASH_DEPOSIT", "CASH_WITHDRAWAL", "TRANSFER_IN", "TRANSFER_OUT", "PAYMENT", "PURCHASE",
    "REDEMPTION", "INTEREST", "FEE", "LOAN_REPAYMENT", "CARD_SPEND", "OTHER"})
CHANNELS = frozenset({"COUNTER", "ATM", "MOBILE", "ONLINE", "POS", "AUTO", "OTHER"})
OPS = frozenset({"upsert", "close"})

# Child elements each record may have; a record with any other child is invalid.
CHILDREN = {
    "Rate": (),
    "Branch": ("Name", "City"),
    "Product": ("Name", "Category", "RiskLevel", "Currency", "MinAmount", "TermDays",
                "ExpectedReturn"),
    "Customer": ("Name", "Gender", "BirthDate", "IdDoc", "Mobile", "Email", "Address",
                 "Occupation", "AnnualIncome", "Branch", "Manager", "OpenDate", "Status",
                 "KycReviewDue"),
    "Account": ("Product", "Type", "Currency", "Balance", "OpenDate", "MaturityDate",
                "InterestRate", "CreditLimit", "OverdueDays", "Status", "Branch"),
    "Holding": ("Product", "Units", "MarketValue", "Cost", "ValuationDate"),
    "Transaction": ("BookingDate", "ValueDate", "Amount", "Type", "Channel", "Counterparty",
                    "Narrative"),
}
_TAGS = {rec: {_Q + c: c for c in kids} for rec, kids in CHILDREN.items()}


# Record names that are also field names (Customer/Branch, Counterparty/Account, ...).
_FIELD_NAMES_TOO = frozenset({"Branch", "Product", "Account"})
_CONTAINER_TAGS = frozenset(_Q + t for t in ("Feed", *(s for s, _ in SECTIONS)))


_TOP_LEVEL = frozenset(_Q + t for t in ("Trailer", *(s for s, _ in SECTIONS)))


def _check_previous(elem: etree._Element, record_tag: str | None) -> None:
    """Processed siblings are deleted as we go, so anything else before ``elem`` is an
    element the format does not have."""
    previous = elem.getprevious()
    while previous is not None and not isinstance(previous.tag, str):
        previous = previous.getprevious()  # comments and processing instructions
    if previous is None:
        return
    allowed = {record_tag} if record_tag else _TOP_LEVEL
    if previous.tag not in allowed:
        raise FeedRejected(f"unexpected element {etree.QName(previous).localname!r} "
                           f"in {etree.QName(elem.getparent()).localname}")


def _is_field(elem: etree._Element) -> bool:
    """Records sit in a section (or, misplaced, in Feed); anything deeper is a field."""
    parent = elem.getparent()
    return parent is not None and parent.tag not in _CONTAINER_TAGS


def sniff(head: bytes) -> bool:
    """True when the file's first bytes look like this format."""
    return NS.encode() in head[:2048] and b"Feed" in head[:2048]


def _children(elem: etree._Element, record: str) -> dict[str, Any]:
    """One pass over the children (much faster than findtext per field)."""
    tags = _TAGS[record]
    out: dict[str, Any] = {}
    for child in elem:
        name = tags.get(child.tag)
        if name is None:
            raise RecordInvalid(f"unexpected element {etree.QName(child).localname!r}")
        if name in out:
            raise RecordInvalid(f"{name} appears twice")
        if name == "IdDoc":
            out["IdDoc"] = child
        elif name == "Counterparty":
            out["Counterparty"] = child
        else:
            out[name] = child.text
            if name in ("Amount", "MarketValue"):
                out[name + "@currency"] = child.get("currency")
    return out


def _rate(elem: etree._Element) -> dict[str, Any]:
    attrs = dict(elem.attrib)
    cur = f.currency(attrs, "currency", required=True)
    to_cny = f.amount(attrs, "toCny", required=True)
    assert to_cny is not None
    if to_cny <= 0:
        raise RecordInvalid(f"toCny {to_cny} must be positive")
    return {"currency": cur, "to_cny": to_cny}


def _branch(elem: etree._Element) -> dict[str, Any]:
    c = _children(elem, "Branch")
    return {"code": elem.get("code"), "parent": f.text(dict(elem.attrib), "parent", max_len=32),
            "name": f.text(c, "Name", required=True), "city": f.text(c, "City", max_len=100)}


def _product(elem: etree._Element) -> dict[str, Any]:
    c = _children(elem, "Product")
    term = f.integer(c, "TermDays")
    if term is not None and term < 0:
        raise RecordInvalid("TermDays must not be negative")
    return {
        "code": elem.get("code"), "name": f.text(c, "Name", required=True),
        "category": f.choice(c, "Category", CATEGORIES, required=True),
        "risk_level": f.choice(c, "RiskLevel", RISK_LEVELS, required=True),
        "currency": f.currency(c, "Currency", required=True),
        "min_amount": f.amount(c, "MinAmount"), "term_days": term,
        "expected_return": f.amount(c, "ExpectedReturn"),
    }


def _customer(elem: etree._Element) -> dict[str, Any]:
    c = _children(elem, "Customer")
    doc = c.get("IdDoc")
    id_type = id_number = id_expiry = None
    if doc is not None:
        attrs = dict(doc.attrib)
        id_type = f.choice(attrs, "type", ID_TYPES, required=True)
        id_number = f.text(attrs, "number", required=True, max_len=64)
        id_expiry = f.day(attrs, "expiry")
    return {
        "id": elem.get("id"), "name": f.text(c, "Name", required=True),
        "gender": f.choice(c, "Gender", GENDERS), "birth_date": f.day(c, "BirthDate"),
        "id_type": id_type, "id_number": id_number, "id_expiry": id_expiry,
        "mobile": f.text(c, "Mobile", max_len=32), "email": f.text(c, "Email"),
        "address": f.text(c, "Address", max_len=400),
        "occupation": f.text(c, "Occupation", max_len=100),
        "annual_income": f.amount(c, "AnnualIncome"),
        "branch": f.text(c, "Branch", max_len=32), "manager": f.text(c, "Manager", max_len=32),
        "open_date": f.day(c, "OpenDate"),
        "status": f.choice(c, "Status", CUSTOMER_STATUSES),
        "kyc_review_due": f.day(c, "KycReviewDue"),
    }


def _account(elem: etree._Element) -> dict[str, Any]:
    c = _children(elem, "Account")
    overdue = f.integer(c, "OverdueDays")
    if overdue is not None and overdue < 0:
        raise RecordInvalid("OverdueDays must not be negative")
    return {
        "id": elem.get("id"),
        "customer": f.text(dict(elem.attrib), "customer", required=True, max_len=64),
        "product": f.text(c, "Product", required=True, max_len=32),
        "type": f.choice(c, "Type", ACCOUNT_TYPES, required=True),
        "currency": f.currency(c, "Currency", required=True),
        "balance": f.amount(c, "Balance", required=True),
        "open_date": f.day(c, "OpenDate"), "maturity_date": f.day(c, "MaturityDate"),
        "interest_rate": f.amount(c, "InterestRate"), "credit_limit": f.amount(c, "CreditLimit"),
        "overdue_days": overdue, "status": f.choice(c, "Status", ACCOUNT_STATUSES),
        "branch": f.text(c, "Branch", max_len=32),
    }


def _holding(elem: etree._Element) -> dict[str, Any]:
    c = _children(elem, "Holding")
    return {
        "id": elem.get("id"),
        "customer": f.text(dict(elem.attrib), "customer", required=True, max_len=64),
        "product": f.text(c, "Product", required=True, max_len=32),
        "units": f.amount(c, "Units", required=True),
        "market_value": f.amount(c, "MarketValue", required=True),
        "currency": f.currency(c, "MarketValue@currency", required=True),
        "cost": f.amount(c, "Cost"), "valuation_date": f.day(c, "ValuationDate"),
    }


def _transaction(elem: etree._Element) -> dict[str, Any]:
    c = _children(elem, "Transaction")
    cp = c.get("Counterparty")
    cp_name = cp_account = cp_bank = None
    if cp is not None:
        for child in cp:
            tag = etree.QName(child).localname
            if tag == "Name":
                cp_name = (child.text or "").strip()[:200] or None
            elif tag == "Account":
                cp_account = (child.text or "").strip()[:64] or None
            elif tag == "Bank":
                cp_bank = (child.text or "").strip()[:100] or None
            else:
                raise RecordInvalid(f"unexpected element Counterparty/{tag}")
    return {
        "id": elem.get("id"),
        "account": f.text(dict(elem.attrib), "account", required=True, max_len=64),
        "booking_date": f.day(c, "BookingDate", required=True),
        "value_date": f.day(c, "ValueDate"),
        "amount": f.amount(c, "Amount", required=True),
        "currency": f.currency(c, "Amount@currency", required=True),
        "type": f.choice(c, "Type", TRANSACTION_TYPES, required=True),
        "channel": f.choice(c, "Channel", CHANNELS, required=True),
        "counterparty_name": cp_name, "counterparty_account": cp_account,
        "counterparty_bank": cp_bank, "narrative": f.text(c, "Narrative", max_len=500),
    }


CONVERTERS: dict[str, Callable[[etree._Element], dict[str, Any]]] = {
    "Rate": _rate, "Branch": _branch, "Product": _product, "Customer": _customer,
    "Account": _account, "Holding": _holding, "Transaction": _transaction,
}


def parse_record(elem: etree._Element) -> Record:
    """Turn one record element into a Record (with ``error`` set when it is invalid)."""
    local = elem.tag[len(_Q):] if elem.tag.startswith(_Q) else elem.tag
    kind = KIND[local]
    key = elem.get(KEY_ATTRIBUTE.get(local, "id")) or ""
    op = elem.get("op", "upsert")
    try:
        if op not in OPS:
            raise RecordInvalid(f"op {op!r} is not upsert or close")
        if not key or len(key) > 64:
            raise RecordInvalid(
                f"{KEY_ATTRIBUTE.get(local, 'id')} is {'missing' if not key else 'too long'}"
            )
        if op == "close" and local not in ("Rate",):
            values: dict[str, Any] = {"id" if local not in KEY_ATTRIBUTE else "code": key}
        else:
            values = CONVERTERS[local](elem)
    except RecordInvalid as exc:
        return Record(kind, key, op, error=exc.reason, raw=etree.tostring(elem, encoding="utf-8"))
    return Record(kind, key, op, values)


def parse_record_xml(raw: bytes) -> Record:
    """Re-read a quarantined record's XML (with the same hardening as a whole file)."""
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True,
                             huge_tree=False)
    elem = etree.fromstring(raw, parser)
    if elem.getroottree().docinfo.doctype:
        raise FeedRejected("a DTD is not allowed")
    return parse_record(elem)


class CbsAdapter:
    """Streams a feed file: header first, then records in document order, then the trailer."""

    name = "cbs"

    def __init__(self, path: str | PathLike[str], max_bytes: int) -> None:
        self._reader = open_checked(path, max_bytes)
        tags = [_Q + "Feed", _Q + "Trailer"] + [
            _Q + t for pair in SECTIONS for t in pair
        ]
        # End events only: half the events of start+end, and a record is whole when seen.
        self._events = iterparse(self._reader, ("end",), tags)
        self._first: tuple[str, etree._Element] | None = None
        self._header: FeedHeader | None = None
        self._count = 0
        self._digest = hashlib.sha256()
        self._trailer: dict[str, str] | None = None
        self._summary: FeedSummary | None = None

    def close(self) -> None:
        """Stop reading (e.g. after header()); closes the file."""
        self._events.close()  # type: ignore[attr-defined]

    @property
    def bytes_read(self) -> int:
        return self._reader.position

    def header(self) -> FeedHeader:
        """Read up to the first record (or section, or trailer) and take the root's
        attributes: the parser only reports elements as they end."""
        if self._header is None:
            first = next(self._events, None)
            root = first[1].getroottree().getroot() if first is not None else None
            if root is None or root.tag != _Q + "Feed":
                found = etree.QName(root).text if root is not None else "nothing"
                raise FeedRejected(f"not a urn:bankcrm:feed:1 Feed document (root is {found})")
            self._first = first
            self._header = _read_header(dict(root.attrib))
        return self._header

    def records(self) -> Iterator[Record]:
        header = self.header()
        section_index = -1
        section: etree._Element | None = None
        digest = self._digest
        events = itertools.chain([self._first], self._events) if self._first else self._events
        self._first = None
        for _event, elem in events:
            local = elem.tag[len(_Q):]
            if local in _FIELD_NAMES_TOO and _is_field(elem):
                continue  # e.g. <Branch> inside a Customer is a field, not a record
            if local in KIND:
                parent = elem.getparent()
                key = elem.get(KEY_ATTRIBUTE.get(local, "id")) or ""
                if parent is not section:
                    section_index = self._enter_section(parent, f"{local} {key}",
                                                        section_index)
                    section = parent
                if SECTIONS[section_index][1] != local:
                    raise FeedRejected(f"{local} {key} is outside its section")
                _check_previous(elem, elem.tag)
                digest.update(key.encode("utf-8"))
                self._count += 1
                record = parse_record(elem)
                release(elem)
                yield record
            elif local == "Trailer":
                _check_previous(elem, None)
                if self._trailer is not None:
                    raise FeedRejected("more than one Trailer")
                self._trailer = dict(elem.attrib)
                section, section_index = None, len(SECTIONS)
            elif local == "Feed":
                if elem.getparent() is not None:
                    raise FeedRejected("Feed inside Feed")
                for _more in self._events:  # let libxml2 see what follows
                    raise FeedRejected("content after </Feed>")
                self._finish(header, elem)
                return
            else:  # a section ends (an empty one is also entered here)
                if elem is not section:
                    section_index = self._enter_section(elem, local, section_index)
                record_tag = _Q + SECTIONS[section_index][1]
                for child in elem:  # what was not released: only the last record
                    if isinstance(child.tag, str) and child.tag != record_tag:
                        raise FeedRejected(f"unexpected element "
                                           f"{etree.QName(child).localname!r} in {local}")
                section = None
                release(elem)
        raise FeedRejected("file ends before </Feed>")

    @staticmethod
    def _enter_section(elem: etree._Element | None, what: str, current_index: int) -> int:
        """Check a section seen for the first time: in Feed, in order, not repeated."""
        tag = elem.tag if elem is not None else None
        local = tag[len(_Q):] if isinstance(tag, str) and tag.startswith(_Q) else None
        index = next((i for i, (s, _) in enumerate(SECTIONS) if s == local), None)
        if elem is None or index is None:
            raise FeedRejected(f"{what} is outside its section")
        if elem.getparent() is None or elem.getparent().tag != _Q + "Feed":
            raise FeedRejected(f"section {local} is not directly inside Feed")
        if index <= current_index:
            raise FeedRejected(f"section {local} is out of order or repeated")
        _check_previous(elem, None)
        return index

    def _finish(self, header: FeedHeader, root: etree._Element) -> None:
        strays = [etree.QName(c).localname for c in root if c.tag not in _TOP_LEVEL]
        if strays:
            raise FeedRejected(f"unexpected element {strays[0]!r} in Feed")
        if self._trailer is None:
            raise FeedRejected("the Trailer is missing (truncated file?)")
        declared = self._trailer.get("records", "")
        if not _DIGITS.match(declared):
            raise FeedRejected(f"Trailer records {declared!r} is not a count")
        if int(declared) != self._count:
            raise FeedRejected(
                f"Trailer says {int(declared)} records, the file has {self._count}"
            )
        expected = self._trailer.get("sha256")
        if expected is not None and expected.lower() != self._digest.hexdigest():
            raise FeedRejected("Trailer sha256 does not match the records' keys")
        self._summary = FeedSummary(delivery_key=str(header.sequence), records=self._count)

    def summary(self) -> FeedSummary:
        if self._summary is None:
            raise RuntimeError("summary() before the file was read to its end")
        return self._summary


def _read_header(attrs: dict[str, str]) -> FeedHeader:
    source = attrs.get("source", "")
    if not SOURCE_PATTERN.match(source):
        raise FeedRejected(f"Feed/@source {source!r} is not a source name ([A-Z][A-Z0-9_]{{1,15}})")
    raw_date = attrs.get("businessDate", "")
    try:
        if not _ISO_DATE.match(raw_date):
            raise ValueError(raw_date)
        business_date = date.fromisoformat(raw_date)
    except ValueError:
        raise FeedRejected(
            f"Feed/@businessDate {attrs.get('businessDate')!r} is not a date"
        ) from None
    raw_seq = attrs.get("sequence", "")
    if not _DIGITS.match(raw_seq) or len(raw_seq) > 9 or int(raw_seq) <= 0:
        raise FeedRejected(f"Feed/@sequence {raw_seq!r} is not a positive integer")
    return FeedHeader(source=source, business_date=business_date, sequence=int(raw_seq),
                      generated=attrs.get("generated"), adapter="cbs")
