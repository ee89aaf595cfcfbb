"""Streaming writer for feed files in the `urn:bankcrm:feed:1` format.

Used by the demo generator, the benchmarks and the tests. Records go straight to the file
through lxml's incremental writer, so memory stays flat however many records are written.

The writer keeps the envelope right (section order, Trailer count and digest) but does not
judge values: strings are written as given and ``None`` omits an element or attribute, so a
test can build a record with a bad or missing field on purpose. Floats are refused (the
format has no floats); Decimals are written in plain notation, never in exponent form.
Every value is converted before anything is written, so a call that raises writes nothing.

    with FeedWriter(path, "CBS", date(2026, 11, 20), 412) as feed:
        feed.rate("USD", Decimal("7.1234"))
        feed.customer("C1", "张三", gender="M")
"""
from __future__ import annotations

import hashlib
import os
import re
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any, Union

from lxml import etree

NAMESPACE = "urn:bankcrm:feed:1"
SECTIONS = (
    "FxRates", "Branches", "Products", "Customers", "Accounts", "Holdings", "Transactions",
)
_RATE, _BRANCH, _PRODUCT, _CUSTOMER, _ACCOUNT, _HOLDING, _TRANSACTION = range(len(SECTIONS))
OPS = ("upsert", "close")

_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
# Characters XML 1.0 cannot carry; refused up front so a record is never half-written.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

PathOrFile = Union[str, "os.PathLike[str]", IO[bytes]]
# (tag, text, attributes, children); children use the same shape.
_Child = tuple[str, Union[str, None], Union[dict[str, str], None], Union[list[Any], None]]


class _QNames(dict[str, str]):
    """Clark-notation names in the feed namespace, built once per tag."""

    def __missing__(self, name: str) -> str:
        qname = self[name] = f"{{{NAMESPACE}}}{name}"
        return qname


_q = _QNames().__getitem__


def _text(value: object, what: str) -> str | None:
    """A text value: str as given, int as digits, None stays None."""
    if value is None:
        return None
    if type(value) is str:
        text = value
    elif isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"{what}: expected str, got {type(value).__name__}")
    else:
        text = str(value)
    if _NOT_XML.search(text):
        raise ValueError(f"{what}: contains a character XML cannot carry: {text!r}")
    return text


def _decimal(value: object, what: str) -> str | None:
    """A decimal value: Decimal in plain notation, int as digits, str as given."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{what}: {value} is not a finite decimal")
        return format(value, "f")
    if isinstance(value, float):
        raise TypeError(f"{what}: floats are not allowed in a feed, pass a Decimal or a str")
    return _text(value, what)


def _day(value: object, what: str) -> str | None:
    """A date value: date as YYYY-MM-DD, str as given."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return _text(value, what)
    raise TypeError(f"{what}: expected date or str, got {type(value).__name__}")


def _attrs(**values: str | None) -> dict[str, str]:
    return {name: value for name, value in values.items() if value is not None}


def _leaves(*pairs: tuple[str, str | None]) -> list[_Child]:
    return [(name, text, None, None) for name, text in pairs if text is not None]


def _op(op: str) -> str | None:
    if op not in OPS:
        raise ValueError(f"op must be one of {', '.join(OPS)}, not {op!r}")
    return "close" if op == "close" else None  # upsert is the default: not written


class FeedWriter:
    """Write one feed file; use as a context manager (the Trailer is written on clean exit).

    ``records_override``, ``digest_override`` and ``omit_trailer`` produce deliberately
    broken files for tests; ``write_digest=False`` leaves out the (optional) sha256.
    On an exception inside the ``with`` block no Trailer is written, and a file the writer
    created from a path is removed.
    """

    def __init__(
        self,
        path_or_file: PathOrFile,
        source: str,
        business_date: date | str,
        sequence: int | str,
        generated: datetime | str | None = None,
        pretty: bool = True,
        *,
        records_override: int | None = None,
        digest_override: str | None = None,
        omit_trailer: bool = False,
        write_digest: bool = True,
    ) -> None:
        if isinstance(sequence, bool) or not isinstance(sequence, (int, str)):
            raise TypeError(f"sequence: expected int, got {type(sequence).__name__}")
        # str values (here and for dates, amounts, codes) are written as given, so tests
        # can produce deliberately invalid files.
        self._target = path_or_file
        self._header = _attrs(
            source=_text(source, "source"),
            businessDate=_day(business_date, "businessDate"),
            sequence=str(sequence),
            generated=(generated.isoformat() if isinstance(generated, datetime)
                       else _text(generated, "generated")),
        )
        self._records_override = records_override
        self._digest_override = digest_override
        self._omit_trailer = omit_trailer
        self._write_digest = write_digest

        self._count = 0
        self._hash = hashlib.sha256()
        self._section = -1  # index into SECTIONS of the open section, -1 before the first
        self._section_element: Any = None
        self._xf: Any = None
        self._xf_context: Any = None
        self._feed_context: Any = None
        self._file: Any = None
        self._owns_file = False
        self._closed = False
        self._indent = ["\n" + "  " * depth for depth in range(5)] if pretty else None

    # -- progress ---------------------------------------------------------------------

    @property
    def records(self) -> int:
        """Number of records written so far."""
        return self._count

    @property
    def digest(self) -> str:
        """Hex SHA-256 of the record keys written so far (the Trailer's sha256)."""
        return self._hash.hexdigest()

    # -- context manager --------------------------------------------------------------

    def __enter__(self) -> FeedWriter:
        if self._xf is not None or self._closed:
            raise RuntimeError("a FeedWriter writes one file and can be entered once")
        owns_file = isinstance(self._target, (str, os.PathLike))
        handle: Any = self._target
        if owns_file:
            handle = open(self._target, "wb")  # noqa: SIM115 - closed in __exit__
        try:
            handle.write(_DECLARATION)
            xf_context = etree.xmlfile(handle, encoding="utf-8")
            xf = xf_context.__enter__()
            feed_context = xf.element(_q("Feed"), self._header, nsmap={None: NAMESPACE})
            feed_context.__enter__()
        except BaseException:
            if owns_file:
                handle.close()
            raise
        self._file, self._owns_file = handle, owns_file
        self._xf_context, self._xf, self._feed_context = xf_context, xf, feed_context
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._xf is None or self._closed:
            return
        self._closed = True
        completed = False
        try:
            if exc_type is None:
                self._close_section()
                if not self._omit_trailer:
                    self._write_trailer()
                if self._indent:
                    self._xf.write("\n")
                self._feed_context.__exit__(None, None, None)
                self._xf_context.__exit__(None, None, None)
                if self._indent:
                    self._file.write(b"\n")
                completed = True
        finally:
            if not completed:
                # Release lxml's writer; what it still writes has no Trailer either way.
                error = (exc_type, exc, tb) if exc_type is not None else (None, None, None)
                for context in (self._feed_context, self._xf_context):
                    try:
                        context.__exit__(*error)
                    except Exception:  # noqa: BLE001 - already failing; keep the first error
                        pass
            if self._owns_file:
                self._file.close()
                if not completed:
                    try:
                        os.remove(self._target)  # type: ignore[arg-type]
                    except OSError:
                        pass

    def _write_trailer(self) -> None:
        records = self._count if self._records_override is None else self._records_override
        attrib = {"records": str(records)}
        if self._digest_override is not None:
            attrib["sha256"] = self._digest_override
        elif self._write_digest:
            attrib["sha256"] = self.digest
        if self._indent:
            self._xf.write(self._indent[1])
        with self._xf.element(_q("Trailer"), attrib):
            pass

    # -- sections ---------------------------------------------------------------------

    def _enter_section(self, index: int) -> None:
        if self._xf is None or self._closed:
            raise RuntimeError("FeedWriter is not open: use it in a with statement")
        if index == self._section:
            return
        if index < self._section:
            raise ValueError(
                f"{SECTIONS[index]} cannot come after {SECTIONS[self._section]}: "
                f"sections come in the order {', '.join(SECTIONS)}"
            )
        self._close_section()
        if self._indent:
            self._xf.write(self._indent[1])
        self._section_element = self._xf.element(_q(SECTIONS[index]))
        self._section_element.__enter__()
        self._section = index

    def _close_section(self) -> None:
        if self._section_element is not None:
            if self._indent:
                self._xf.write(self._indent[1])
            self._section_element.__exit__(None, None, None)
            self._section_element = None

    # -- records ----------------------------------------------------------------------

    def _record(self, section: int, tag: str, key: str, attrib: dict[str, str],
                children: list[_Child]) -> None:
        self._enter_section(section)
        xf, indent = self._xf, self._indent
        if indent:
            xf.write(indent[2])
        with xf.element(_q(tag), attrib):
            if children:
                self._children(children, 3)
                if indent:
                    xf.write(indent[2])
        self._count += 1
        self._hash.update(key.encode("utf-8"))

    def _children(self, children: list[_Child], depth: int) -> None:
        xf, indent = self._xf, self._indent
        for tag, text, attrib, nested in children:
            if indent:
                xf.write(indent[depth])
            with xf.element(_q(tag), attrib or {}):
                if text is not None:
                    xf.write(text)
                if nested:
                    self._children(nested, depth + 1)
                    if indent:
                        xf.write(indent[depth])

    @staticmethod
    def _key(value: object, what: str) -> str:
        key = _text(value, what)
        if key is None:
            raise TypeError(f"{what} is required: it is the record's key")
        return key

    def rate(self, currency: str, to_cny: Decimal | str, op: str = "upsert") -> None:
        """Write an FxRates/Rate: CNY per unit of ``currency``."""
        key = self._key(currency, "Rate currency")
        attrib = _attrs(currency=key, toCny=_decimal(to_cny, "toCny"), op=_op(op))
        self._record(_RATE, "Rate", key, attrib, [])

    def branch(self, code: str, name: str, city: str, parent: str | None = None,
               op: str = "upsert") -> None:
        """Write a Branches/Branch."""
        key = self._key(code, "Branch code")
        attrib = _attrs(code=key, parent=_text(parent, "parent"), op=_op(op))
        children = _leaves(("Name", _text(name, "Name")), ("City", _text(city, "City")))
        self._record(_BRANCH, "Branch", key, attrib, children)

    def product(self, code: str, name: str, category: str, risk_level: str, currency: str,
                min_amount: Decimal | str, term_days: int | None = None,
                expected_return: Decimal | str | None = None, op: str = "upsert") -> None:
        """Write a Products/Product."""
        key = self._key(code, "Product code")
        attrib = _attrs(code=key, op=_op(op))
        children = _leaves(
            ("Name", _text(name, "Name")),
            ("Category", _text(category, "Category")),
            ("RiskLevel", _text(risk_level, "RiskLevel")),
            ("Currency", _text(currency, "Currency")),
            ("MinAmount", _decimal(min_amount, "MinAmount")),
            ("TermDays", _text(term_days, "TermDays")),
            ("ExpectedReturn", _decimal(expected_return, "ExpectedReturn")),
        )
        self._record(_PRODUCT, "Product", key, attrib, children)

    def customer(
        self, id: str, name: str | None, *, gender: str | None = None,
        birth_date: date | str | None = None,
        id_doc: tuple[str, str, date | str | None] | None = None,
        mobile: str | None = None, email: str | None = None, address: str | None = None,
        occupation: str | None = None, annual_income: Decimal | str | None = None,
        branch: str | None = None, manager: str | None = None,
        open_date: date | str | None = None, status: str | None = None,
        kyc_review_due: date | str | None = None, op: str = "upsert",
    ) -> None:
        """Write a Customers/Customer; ``id_doc`` is (type, number, expiry or None)."""
        key = self._key(id, "Customer id")
        attrib = _attrs(id=key, op=_op(op))
        children = _leaves(
            ("Name", _text(name, "Name")),
            ("Gender", _text(gender, "Gender")),
            ("BirthDate", _day(birth_date, "BirthDate")),
        )
        if id_doc is not None:
            doc_type, number, expiry = id_doc
            children.append(("IdDoc", None, _attrs(
                type=_text(doc_type, "IdDoc type"),
                number=_text(number, "IdDoc number"),
                expiry=_day(expiry, "IdDoc expiry"),
            ), None))
        children += _leaves(
            ("Mobile", _text(mobile, "Mobile")),
            ("Email", _text(email, "Email")),
            ("Address", _text(address, "Address")),
            ("Occupation", _text(occupation, "Occupation")),
            ("AnnualIncome", _decimal(annual_income, "AnnualIncome")),
            ("Branch", _text(branch, "Branch")),
            ("Manager", _text(manager, "Manager")),
            ("OpenDate", _day(open_date, "OpenDate")),
            ("Status", _text(status, "Status")),
            ("KycReviewDue", _day(kyc_review_due, "KycReviewDue")),
        )
        self._record(_CUSTOMER, "Customer", key, attrib, children)

    def account(
        self, id: str, customer: str, *, product: str, type: str, currency: str,
        balance: Decimal | str, open_date: date | str | None = None,
        maturity_date: date | str | None = None, interest_rate: Decimal | str | None = None,
        credit_limit: Decimal | str | None = None, overdue_days: int | None = None,
        status: str | None = None, branch: str | None = None, op: str = "upsert",
    ) -> None:
        """Write an Accounts/Account of ``customer``."""
        key = self._key(id, "Account id")
        attrib = _attrs(id=key, customer=_text(customer, "customer"), op=_op(op))
        children = _leaves(
            ("Product", _text(product, "Product")),
            ("Type", _text(type, "Type")),
            ("Currency", _text(currency, "Currency")),
            ("Balance", _decimal(balance, "Balance")),
            ("OpenDate", _day(open_date, "OpenDate")),
            ("MaturityDate", _day(maturity_date, "MaturityDate")),
            ("InterestRate", _decimal(interest_rate, "InterestRate")),
            ("CreditLimit", _decimal(credit_limit, "CreditLimit")),
            ("OverdueDays", _text(overdue_days, "OverdueDays")),
            ("Status", _text(status, "Status")),
            ("Branch", _text(branch, "Branch")),
        )
        self._record(_ACCOUNT, "Account", key, attrib, children)

    def holding(
        self, id: str, customer: str, *, product: str, units: Decimal | str,
        market_value: Decimal | str, currency: str, cost: Decimal | str | None = None,
        valuation_date: date | str | None = None, op: str = "upsert",
    ) -> None:
        """Write a Holdings/Holding of ``customer``; ``currency`` is MarketValue's."""
        key = self._key(id, "Holding id")
        attrib = _attrs(id=key, customer=_text(customer, "customer"), op=_op(op))
        children = _leaves(
            ("Product", _text(product, "Product")),
            ("Units", _decimal(units, "Units")),
        )
        value = _decimal(market_value, "MarketValue")
        if value is not None:
            children.append(
                ("MarketValue", value, _attrs(currency=_text(currency, "currency")), None)
            )
        children += _leaves(
            ("Cost", _decimal(cost, "Cost")),
            ("ValuationDate", _day(valuation_date, "ValuationDate")),
        )
        self._record(_HOLDING, "Holding", key, attrib, children)

    def transaction(
        self, id: str, account: str, *, booking_date: date | str, amount: Decimal | str,
        currency: str, type: str, channel: str, value_date: date | str | None = None,
        counterparty: tuple[str | None, str | None, str | None] | None = None,
        narrative: str | None = None, op: str = "upsert",
    ) -> None:
        """Write a Transactions/Transaction on ``account``.

        ``amount`` is signed (negative is money out); ``counterparty`` is
        (name, account, bank), any of which may be None.
        """
        key = self._key(id, "Transaction id")
        attrib = _attrs(id=key, account=_text(account, "account"), op=_op(op))
        children = _leaves(
            ("BookingDate", _day(booking_date, "BookingDate")),
            ("ValueDate", _day(value_date, "ValueDate")),
        )
        value = _decimal(amount, "Amount")
        if value is not None:
            children.append(("Amount", value, _attrs(currency=_text(currency, "currency")), None))
        children += _leaves(("Type", _text(type, "Type")), ("Channel", _text(channel, "Channel")))
        if counterparty is not None:
            cp_name, cp_account, cp_bank = counterparty
            children.append(("Counterparty", None, None, _leaves(
                ("Name", _text(cp_name, "Counterparty name")),
                ("Account", _text(cp_account, "Counterparty account")),
                ("Bank", _text(cp_bank, "Counterparty bank")),
            )))
        children += _leaves(("Narrative", _text(narrative, "Narrative")))
        self._record(_TRANSACTION, "Transaction", key, attrib, children)
