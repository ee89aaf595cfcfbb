"""ISO 20022 bank-to-customer cash management adapter: camt.053, camt.052 and camt.054.

The three messages share one shape: ``Document/<message>/{GrpHdr, <statement>*}`` where each
statement (``Stmt``, ``Rpt`` or ``Ntfctn``) carries ``Id``, ``Acct``, ``Bal*``, ``TxsSummry``
and ``Ntry*``.  The file is read in one streaming pass: ``header()`` reads up to the end of
``GrpHdr``, ``records()`` continues from the same parse, and every processed ``Bal``/``Ntry``
is released, so memory stays flat however many entries a statement holds.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Iterator

from lxml import etree

from integration.adapters import fields, safexml
from integration.adapters.base import (
    FeedHeader,
    FeedRejected,
    FeedSummary,
    Record,
    RecordInvalid,
)

SOURCE = "CAMT"
NARRATIVE_MAX = 500

_ROOT = re.compile(r"^\{urn:iso:std:iso:20022:tech:xsd:(camt\.05[234])\.001\.(\d{2})\}Document$")
_SNIFF = re.compile(
    rb"""xmlns(?::[A-Za-z_][\w.-]*)?\s*=\s*["']"""
    rb"""urn:iso:std:iso:20022:tech:xsd:camt\.05[234]\.001\.\d{2}["']"""
)

# message type -> (message element, statement element)
_MESSAGES = {
    "camt.052": ("BkToCstmrAcctRpt", "Rpt"),
    "camt.053": ("BkToCstmrStmt", "Stmt"),
    "camt.054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn"),
}

# Every local name the reader looks at; anything else (including foreign namespaces in
# supplementary data) is skipped by a single dict lookup.
_NAMES = (
    "MsgId CreDtTm GrpHdr Id Acct IBAN Othr Bal Tp CdOrPrtry Cd Amt Ccy CdtDbtInd Dt DtTm "
    "TxsSummry TtlNtries NbOfNtries Ntry NtryRef BookgDt ValDt AcctSvcrRef BkTxCd Domn Fmly "
    "SubFmlyCd NtryDtls TxDtls AddtlNtryInf AmtDtls TxAmt RltdPties Dbtr Cdtr Pty Nm DbtrAcct "
    "CdtrAcct RltdAgts DbtrAgt CdtrAgt FinInstnId BIC BICFI RmtInf Ustrd AddtlTxInf"
).split()

_FEE_SUBFAMILIES = frozenset({"CHRG", "FEES", "COMM", "COME", "COMI", "TAXE", "WITH", "SUMA"})
_INTEREST_SUBFAMILIES = frozenset({"INTR", "INTP", "RIMB"})
_CASH_DEPOSIT_SUBFAMILIES = frozenset({"CDPT", "BCDP", "FCDP", "CCHQ"})
_CASH_WITHDRAWAL_SUBFAMILIES = frozenset({"CWDL", "BCWD", "FCWD", "XBCW"})
_LOAN_REPAYMENT_SUBFAMILIES = frozenset({"RPMT", "PPAY"})
_REDEMPTION_SUBFAMILIES = frozenset({"REDM", "PRED", "PCAL", "MCAL", "DRAW"})
_LOAN_FAMILIES = frozenset({"FTLN", "NTLN", "MGLN", "CSLN", "SYDN", "OTHR"})


def sniff(head: bytes) -> bool:
    """True when the first bytes of a file look like a camt.052/053/054 document."""
    return _SNIFF.search(head) is not None


def transaction_type(domain: str | None, family: str | None, subfamily: str | None,
                     credit: bool) -> str:
    """Map an ISO bank transaction code (Domn/Fmly/SubFmlyCd) to a CRM transaction type."""
    by_sign = "TRANSFER_IN" if credit else "TRANSFER_OUT"
    if subfamily in _FEE_SUBFAMILIES:
        return "FEE"
    if subfamily in _INTEREST_SUBFAMILIES:
        return "INTEREST"
    if domain == "PMNT":
        if family == "CNTR":
            if subfamily in _CASH_WITHDRAWAL_SUBFAMILIES:
                return "CASH_WITHDRAWAL"
            if subfamily in _CASH_DEPOSIT_SUBFAMILIES:
                return "CASH_DEPOSIT"
            return "CASH_DEPOSIT" if credit else "CASH_WITHDRAWAL"
        if family == "CCRD":
            return "CASH_WITHDRAWAL" if subfamily in _CASH_WITHDRAWAL_SUBFAMILIES else "CARD_SPEND"
        if family in ("RCDT", "RRCT", "RCCN", "RCHQ"):
            return "TRANSFER_IN"
        if family in ("ICDT", "IRCT", "ICCN"):
            return "TRANSFER_OUT"
        if family in ("RDDT", "ICHQ"):
            return "PAYMENT"
        return by_sign
    if domain == "LDAS":
        if subfamily in _LOAN_REPAYMENT_SUBFAMILIES or (family in _LOAN_FAMILIES and not credit):
            return "LOAN_REPAYMENT"
        return by_sign
    if domain == "SECU":
        if subfamily in _REDEMPTION_SUBFAMILIES:
            return "REDEMPTION"
        return "REDEMPTION" if credit else "PURCHASE"
    if domain in ("CAMT", "ACMT", "FORX", "DERV", "TRAD", "PMET", "CMDT"):
        return "OTHER"
    return by_sign


@dataclass
class _Statement:
    element: etree._Element
    id: str
    account: str | None
    entries: int = 0
    declared: int | None = None  # TxsSummry/TtlNtries/NbOfNtries


@dataclass
class _Tx:
    """What one TxDtls says (only the parts the CRM keeps)."""

    amount: str | None = None
    currency: str | None = None
    has_amount: bool = False
    cdi: str | None = None
    code: tuple[str | None, str | None, str | None] | None = None
    debtor: str | None = None
    debtor_account: str | None = None
    debtor_bank: str | None = None
    creditor: str | None = None
    creditor_account: str | None = None
    creditor_bank: str | None = None
    remittance: list[str] = field(default_factory=list)
    additional: str | None = None


_HEADER = object()  # marker the stream yields once GrpHdr has been read


class CamtAdapter:
    """Streams a camt.052/053/054 file as balance and transaction records."""

    name = "camt053"

    def __init__(self, path: str | os.PathLike[str], max_bytes: int) -> None:
        self._file = path
        self._max_bytes = max_bytes
        message_type, msg_local, stmt_local, self._ns = self._probe()
        self._message_type = message_type
        ns = self._ns
        self._tag = {name: ns + name for name in _NAMES}
        self._local = {ns + name: name for name in _NAMES}
        self._msg_tag = ns + msg_local
        self._stmt_tag = ns + stmt_local
        self._stream = self._parse()  # opens the file on first use; the probe checked it
        self._root: etree._Element | None = None  # kept for diagnostics (memory tests)
        self._header: FeedHeader | None = None
        self._msg_id: str | None = None
        self._statement: _Statement | None = None
        self._statement_ids: list[str] = []
        self._warnings: list[str] = []
        self._count = 0
        self._done = False

    # -- public interface ------------------------------------------------------------------

    def header(self) -> FeedHeader:
        """Read up to the end of GrpHdr (once) and describe the file."""
        if self._header is None:
            if next(self._stream, None) is not _HEADER or self._header is None:
                raise FeedRejected(f"{self._message_type}: GrpHdr is missing")
        return self._header

    def records(self) -> Iterator[Record]:
        """Yield balance and transaction records in document order, after the header."""
        self.header()
        for record in self._stream:
            self._count += 1
            yield record
        self._done = True

    def summary(self) -> FeedSummary:
        """Delivery key and counts; valid only once records() is exhausted."""
        if not self._done:
            raise RuntimeError("summary() is only valid after records() is exhausted")
        key = "|".join([self._msg_id or "", *self._statement_ids])
        return FeedSummary(delivery_key=key, records=self._count, warnings=list(self._warnings))

    def close(self) -> None:
        """Stop parsing and release the file (safe to call more than once)."""
        self._stream.close()

    # -- reading ---------------------------------------------------------------------------

    def _probe(self) -> tuple[str, str, str, str]:
        """Read just the root and its first child to learn the message type and namespace."""
        events = safexml.iterparse(safexml.open_checked(self._file, self._max_bytes), ("start",))
        try:
            _, root = next(events)
            match = _ROOT.match(root.tag) if isinstance(root.tag, str) else None
            if match is None:
                raise FeedRejected(
                    "not an ISO 20022 camt.052/053/054 document: root element is "
                    f"{root.tag!r}; expected Document in namespace "
                    "urn:iso:std:iso:20022:tech:xsd:camt.05[234].001.NN"
                )
            message_type = match.group(1)
            ns = root.tag[: -len("Document")]
            msg_local, stmt_local = _MESSAGES[message_type]
            _, message = next(events, (None, None))
            if message is None or message.tag != ns + msg_local:
                # A file cut inside the first tag shows a partial name: let the parser say so.
                next(events, None)
                found = "nothing" if message is None else repr(etree.QName(message).localname)
                raise FeedRejected(
                    f"{message_type} document must contain {msg_local}, found {found}")
        except StopIteration:
            raise FeedRejected("file has no root element") from None
        finally:
            events.close()
        return message_type, msg_local, stmt_local, ns

    def _parse(self) -> Iterator[object]:
        tag = self._tag
        ntry_tag, bal_tag, summary_tag = tag["Ntry"], tag["Bal"], tag["TxsSummry"]
        wanted = [tag["GrpHdr"], bal_tag, summary_tag, ntry_tag, self._stmt_tag]
        reader = safexml.open_checked(self._file, self._max_bytes)
        for _, elem in safexml.iterparse(reader, ("end",), tag=wanted):
            parent = elem.getparent()
            if parent is None:
                continue
            if self._root is None:
                self._root = elem.getroottree().getroot()
            if elem.tag == ntry_tag:
                if parent.tag != self._stmt_tag:
                    continue
                stmt = self._enter(parent)
                stmt.entries += 1
                yield from self._entry(elem, stmt)
                safexml.release(elem)
            elif elem.tag == bal_tag:
                if parent.tag != self._stmt_tag:
                    continue
                record = self._balance(elem, self._enter(parent))
                if record is not None:
                    yield record
                safexml.release(elem)
            elif elem.tag == summary_tag:
                if parent.tag == self._stmt_tag:
                    self._summary(elem, self._enter(parent))
            elif elem.tag == self._stmt_tag:
                if parent.tag == self._msg_tag:
                    self._finish(self._enter(elem))
                    safexml.release(elem)
            elif parent.tag == self._msg_tag:  # GrpHdr
                self._group_header(elem)
                safexml.release(elem)
                yield _HEADER
        if self._header is None:
            raise FeedRejected(f"{self._message_type}: GrpHdr is missing")

    def _group_header(self, grp: etree._Element) -> None:
        if self._header is not None:
            raise FeedRejected(f"{self._message_type}: more than one GrpHdr")
        values = {"MsgId": self._text(grp, "MsgId"), "CreDtTm": self._text(grp, "CreDtTm")}
        try:
            msg_id = fields.text(values, "MsgId", required=True, max_len=35)
            created = fields.text(values, "CreDtTm", required=True)
            business_date = _day(created, "CreDtTm", required=True)
        except RecordInvalid as exc:
            raise FeedRejected(f"{self._message_type} GrpHdr: {exc.reason}") from None
        assert msg_id is not None and business_date is not None
        self._msg_id = msg_id
        self._header = FeedHeader(source=SOURCE, business_date=business_date, sequence=None,
                                  generated=created, adapter=self.name)

    def _enter(self, element: etree._Element) -> _Statement:
        """The statement ``element`` belongs to; read its Id and Acct the first time."""
        current = self._statement
        if current is not None and current.element is element:
            return current
        if self._header is None:
            raise FeedRejected(f"{self._message_type}: GrpHdr must come before the statements")
        number = len(self._statement_ids) + 1
        stmt_id = account = None
        for child in element:
            name = self._local.get(child.tag)
            if name == "Id":
                stmt_id = (child.text or "").strip() or None
            elif name == "Acct":
                account = self._account(child)
            elif name in ("Bal", "TxsSummry", "Ntry"):
                break
        if stmt_id is None:
            raise FeedRejected(f"statement {number}: Id is missing")
        self._statement = _Statement(element=element, id=stmt_id, account=account)
        return self._statement

    def _finish(self, stmt: _Statement) -> None:
        if stmt.declared is not None and stmt.declared != stmt.entries:
            raise FeedRejected(
                f"statement {stmt.id}: {stmt.entries} entries, TtlNtries says {stmt.declared}"
            )
        self._statement_ids.append(stmt.id)
        self._statement = None

    def _summary(self, summary: etree._Element, stmt: _Statement) -> None:
        raw = self._text(summary, "TtlNtries", "NbOfNtries")
        if raw is None:
            return
        try:
            stmt.declared = fields.integer({"NbOfNtries": raw}, "NbOfNtries", required=True)
        except RecordInvalid as exc:
            raise FeedRejected(f"statement {stmt.id}: TtlNtries/{exc.reason}") from None

    # -- records ---------------------------------------------------------------------------

    def _balance(self, bal: etree._Element, stmt: _Statement) -> Record | None:
        """A record for a closing booked (CLBD) balance; other balance types are skipped."""
        code = amount = currency = cdi = day_raw = None
        for child in bal:
            name = self._local.get(child.tag)
            if name == "Tp":
                code = self._text(child, "CdOrPrtry", "Cd")
            elif name == "Amt":
                amount, currency = child.text, child.get("Ccy")
            elif name == "CdtDbtInd":
                cdi = child.text
            elif name == "Dt":
                day_raw = self._date_text(child)
        if code is None or code.strip() != "CLBD":
            return None
        key = f"{stmt.account or stmt.id}/{_day_part(day_raw) or '?'}"
        try:
            account = _required_account(stmt)
            on = _day(day_raw, "Dt", required=True)
            values = {
                "account": account,
                "amount": _signed(amount, cdi),
                "currency": fields.currency({"Ccy": currency}, "Ccy", required=True),
                "date": on,
            }
        except RecordInvalid as exc:
            return Record(kind="balance", key=key, error=f"CLBD balance of statement {stmt.id}: "
                          f"{exc.reason}", raw=etree.tostring(bal))
        return Record(kind="balance", key=f"{account}/{on.isoformat()}", values=values)

    def _entry(self, ntry: etree._Element, stmt: _Statement) -> Iterator[Record]:
        """One transaction record per entry, or one per TxDtls for a batch with amounts."""
        amount = currency = cdi = booking_raw = value_raw = None
        svcr_ref = ntry_ref = additional = None
        code: tuple[str | None, str | None, str | None] | None = None
        details: list[_Tx] = []
        for child in ntry:
            name = self._local.get(child.tag)
            if name is None:
                continue
            if name == "Amt":
                amount, currency = child.text, child.get("Ccy")
            elif name == "CdtDbtInd":
                cdi = child.text
            elif name == "BookgDt":
                booking_raw = self._date_text(child)
            elif name == "ValDt":
                value_raw = self._date_text(child)
            elif name == "AcctSvcrRef":
                svcr_ref = child.text
            elif name == "NtryRef":
                ntry_ref = child.text
            elif name == "BkTxCd":
                code = self._bank_code(child)
            elif name == "NtryDtls":
                tx_tag = self._tag["TxDtls"]
                details.extend(self._tx(tx) for tx in child if tx.tag == tx_tag)
            elif name == "AddtlNtryInf":
                additional = child.text
        entry_id = _first_text(svcr_ref, ntry_ref) or f"{stmt.id}/{stmt.entries}"
        where = f"Ntry {stmt.entries} of statement {stmt.id}"
        try:
            account = _required_account(stmt)
            booking = _day(booking_raw, "BookgDt", required=True)
            value_date = _day(value_raw, "ValDt")
            entry_amount = _signed(amount, cdi)
            entry_currency = fields.currency({"Ccy": currency}, "Ccy", required=True)
        except RecordInvalid as exc:
            yield _invalid(entry_id, f"{where}: {exc.reason}", ntry)
            return
        base = {"account": account, "booking_date": booking, "value_date": value_date,
                "channel": "OTHER"}
        if len(details) > 1 and all(tx.has_amount for tx in details):
            yield from self._split(ntry, entry_id, where, base, cdi, code, details,
                                   entry_amount, entry_currency)
            return
        single = details[0] if len(details) == 1 else None
        credit = (cdi or "").strip() == "CRDT"
        values = dict(base, id=entry_id, amount=entry_amount, currency=entry_currency,
                      type=transaction_type(*(code or (None, None, None)), credit=credit))
        values.update(_counterparty(single, credit))
        values["narrative"] = _narrative(single, additional)
        yield Record(kind="transaction", key=entry_id, values=values)

    def _split(self, ntry: etree._Element, entry_id: str, where: str, base: dict,
               entry_cdi: str | None, entry_code: tuple | None, details: list[_Tx],
               entry_amount: Decimal, entry_currency: str) -> Iterator[Record]:
        total = Decimal(0)
        same_currency = True
        for i, tx in enumerate(details, start=1):
            key = f"{entry_id}/{i}"
            cdi = tx.cdi if tx.cdi is not None else entry_cdi
            try:
                amount = _signed(tx.amount, cdi)
                currency = fields.currency({"Ccy": tx.currency}, "Ccy", required=True)
            except RecordInvalid as exc:
                yield _invalid(key, f"{where}, TxDtls {i}: {exc.reason}", ntry)
                same_currency = False  # the sum cannot be checked any more
                continue
            total += amount
            same_currency = same_currency and currency == entry_currency
            credit = (cdi or "").strip() == "CRDT"
            values = dict(base, id=key, amount=amount, currency=currency,
                          type=transaction_type(*(tx.code or entry_code or (None, None, None)),
                                                credit=credit))
            values.update(_counterparty(tx, credit))
            values["narrative"] = _narrative(tx, None)
            yield Record(kind="transaction", key=key, values=values)
        if same_currency and total != entry_amount:
            self._warnings.append(
                f"{where}: TxDtls amounts add up to {total}, the entry says {entry_amount}"
            )

    def _tx(self, tx: etree._Element) -> _Tx:
        out = _Tx()
        for child in tx:
            name = self._local.get(child.tag)
            if name is None:
                continue
            if name == "Amt":
                if not out.has_amount:  # AmtDtls/TxAmt wins when both are given
                    out.amount, out.currency, out.has_amount = child.text, child.get("Ccy"), True
            elif name == "AmtDtls":
                amt = self._path(child, "TxAmt", "Amt")
                if amt is not None:
                    out.amount, out.currency, out.has_amount = amt.text, amt.get("Ccy"), True
            elif name == "CdtDbtInd":
                out.cdi = child.text
            elif name == "BkTxCd":
                out.code = self._bank_code(child)
            elif name == "RltdPties":
                self._parties(child, out)
            elif name == "RltdAgts":
                for agent in child:
                    role = self._local.get(agent.tag)
                    if role in ("DbtrAgt", "CdtrAgt"):
                        bic = self._bic(agent)
                        if role == "DbtrAgt":
                            out.debtor_bank = bic
                        else:
                            out.creditor_bank = bic
            elif name == "RmtInf":
                ustrd = self._tag["Ustrd"]
                out.remittance.extend(u.text.strip() for u in child
                                      if u.tag == ustrd and u.text and u.text.strip())
            elif name == "AddtlTxInf":
                out.additional = child.text
        return out

    def _parties(self, parties: etree._Element, out: _Tx) -> None:
        for child in parties:
            name = self._local.get(child.tag)
            if name == "Dbtr":
                out.debtor = self._party_name(child)
            elif name == "Cdtr":
                out.creditor = self._party_name(child)
            elif name == "DbtrAcct":
                out.debtor_account = self._account(child)
            elif name == "CdtrAcct":
                out.creditor_account = self._account(child)

    # -- small lookups ---------------------------------------------------------------------

    def _path(self, elem: etree._Element, *names: str) -> etree._Element | None:
        """The first descendant along a path of local names (a loop, no XPath)."""
        for name in names:
            tag = self._tag[name]
            for child in elem:
                if child.tag == tag:
                    elem = child
                    break
            else:
                return None
        return elem

    def _text(self, elem: etree._Element, *names: str) -> str | None:
        found = self._path(elem, *names)
        return None if found is None else found.text

    def _date_text(self, elem: etree._Element) -> str | None:
        """The text of a DateAndDateTimeChoice (Dt or DtTm)."""
        for child in elem:
            name = self._local.get(child.tag)
            if name in ("Dt", "DtTm"):
                return child.text
        return None

    def _account(self, acct: etree._Element) -> str | None:
        """Acct/Id/IBAN or Acct/Id/Othr/Id, spaces removed."""
        ident = self._path(acct, "Id")
        if ident is None:
            return None
        raw = self._text(ident, "IBAN") or self._text(ident, "Othr", "Id")
        if raw is None:
            return None
        return "".join(raw.split()) or None

    def _party_name(self, party: etree._Element) -> str | None:
        name = self._text(party, "Nm") or self._text(party, "Pty", "Nm")  # .08+ wraps in Pty
        return _first_text(name)

    def _bic(self, agent: etree._Element) -> str | None:
        inst = self._path(agent, "FinInstnId")
        if inst is None:
            return None
        return _first_text(self._text(inst, "BICFI"), self._text(inst, "BIC"))

    def _bank_code(self, btc: etree._Element) -> tuple[str | None, str | None, str | None] | None:
        domain = self._path(btc, "Domn")
        if domain is None:
            return None
        family = self._path(domain, "Fmly")
        return (
            _first_text(self._text(domain, "Cd")),
            None if family is None else _first_text(self._text(family, "Cd")),
            None if family is None else _first_text(self._text(family, "SubFmlyCd")),
        )


# -- value helpers ---------------------------------------------------------------------------

def _first_text(*candidates: str | None) -> str | None:
    for value in candidates:
        if value is not None and value.strip():
            return value.strip()
    return None


def _day_part(raw: str | None) -> str | None:
    """The date of an ISODate or ISODateTime, as written (no time-zone shift)."""
    if raw is None:
        return None
    raw = raw.strip()
    return raw.split("T", 1)[0] if "T" in raw else raw


def _day(raw: str | None, name: str, required: bool = False) -> date | None:
    return fields.day({name: _day_part(raw)}, name, required)


def _signed(raw: str | None, cdi: str | None) -> Decimal:
    """A camt amount (never negative on the wire) signed by its CdtDbtInd."""
    value = fields.amount({"Amt": raw}, "Amt", required=True)
    indicator = fields.choice({"CdtDbtInd": cdi}, "CdtDbtInd", frozenset({"CRDT", "DBIT"}),
                              required=True)
    assert value is not None
    if value < 0:
        raise RecordInvalid(f"Amt {raw.strip()!r} is negative; the sign comes from CdtDbtInd")
    return -value if indicator == "DBIT" else value


def _required_account(stmt: _Statement) -> str:
    if stmt.account is None:
        raise RecordInvalid("Acct/Id (IBAN or Othr/Id) of the statement is missing")
    return stmt.account


def _counterparty(tx: _Tx | None, credit: bool) -> dict[str, str | None]:
    if tx is None:
        return {"counterparty_name": None, "counterparty_account": None,
                "counterparty_bank": None}
    if credit:
        return {"counterparty_name": tx.debtor, "counterparty_account": tx.debtor_account,
                "counterparty_bank": tx.debtor_bank}
    return {"counterparty_name": tx.creditor, "counterparty_account": tx.creditor_account,
            "counterparty_bank": tx.creditor_bank}


def _narrative(tx: _Tx | None, entry_info: str | None) -> str | None:
    text = None
    if tx is not None:
        text = " ".join(tx.remittance) or _first_text(tx.additional)
    text = text or _first_text(entry_info)
    return text[:NARRATIVE_MAX] if text else None


def _invalid(key: str, reason: str, ntry: etree._Element) -> Record:
    return Record(kind="transaction", key=key, error=reason, raw=etree.tostring(ntry))
