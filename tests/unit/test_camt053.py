"""The ISO 20022 camt adapter: real published samples, synthetic edge cases, hostile input."""
from __future__ import annotations

import gc
import warnings
from datetime import date
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from lxml import etree

from integration.adapters.base import FeedRejected
from integration.adapters.camt053 import CamtAdapter, sniff, transaction_type

DATA = Path(__file__).resolve().parents[1] / "data" / "camt"
MAX_BYTES = 100 * 1024 * 1024

GENKGO_053_V02_MULTI = DATA / "genkgo-camt053.v2.multi.statement.xml"
GENKGO_053_V02_MINIMAL = DATA / "genkgo-camt053.v2.minimal.xml"
GENKGO_054_V02 = DATA / "genkgo-camt054.v2.xml"
ISO_053_V04 = DATA / "iso-business-sample-camt.053.001.04.xml"
GENKGO_053_V08 = DATA / "genkgo-camt053.v8.xml"
GENKGO_052_V04 = DATA / "genkgo-camt052.v4.xml"
POSTFINANCE_054_V08 = (
    DATA / "camt.054_P_CH2909000000250094239_1111111112_0_2022031011011199_v2019.xml"
)
REAL_SAMPLES = [GENKGO_053_V02_MULTI, GENKGO_053_V02_MINIMAL, GENKGO_054_V02, ISO_053_V04,
                GENKGO_053_V08, GENKGO_052_V04, POSTFINANCE_054_V08]


def read_all(path: Path, max_bytes: int = MAX_BYTES):
    adapter = CamtAdapter(path, max_bytes)
    header = adapter.header()
    records = list(adapter.records())
    return header, records, adapter.summary()


def by_key(records):
    return {r.key: r for r in records}


# -- synthetic documents ---------------------------------------------------------------------

MESSAGES = {
    "camt.052": ("BkToCstmrAcctRpt", "Rpt"),
    "camt.053": ("BkToCstmrStmt", "Stmt"),
    "camt.054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn"),
}


def el(tag: str, text: str) -> str:
    return f"<{tag}>{escape(text)}</{tag}>"


def bank_code(domain: str, family: str, sub: str) -> str:
    return (f"<BkTxCd><Domn><Cd>{domain}</Cd><Fmly><Cd>{family}</Cd>"
            f"<SubFmlyCd>{sub}</SubFmlyCd></Fmly></Domn></BkTxCd>")


def tx_details(amount: str | None = None, ccy: str = "CNY", cdi: str | None = None,
               tx_amt: str | None = None, code: tuple[str, str, str] | None = None,
               debtor: str | None = None, creditor: str | None = None,
               debtor_iban: str | None = None, creditor_acct: str | None = None,
               debtor_bic: str | None = None, creditor_bic: str | None = None,
               ustrd: tuple[str, ...] = (), addtl: str | None = None, pty: bool = False) -> str:
    def party(tag: str, name: str) -> str:
        inner = el("Nm", name)
        return f"<{tag}><Pty>{inner}</Pty></{tag}>" if pty else f"<{tag}>{inner}</{tag}>"

    parts = ["<TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>"]
    if amount is not None:
        parts.append(f'<Amt Ccy="{ccy}">{amount}</Amt>')
    if cdi is not None:
        parts.append(el("CdtDbtInd", cdi))
    if tx_amt is not None:
        parts.append(f'<AmtDtls><TxAmt><Amt Ccy="{ccy}">{tx_amt}</Amt></TxAmt></AmtDtls>')
    if code is not None:
        parts.append(bank_code(*code))
    if debtor or creditor or debtor_iban or creditor_acct:
        parts.append("<RltdPties>")
        if debtor:
            parts.append(party("Dbtr", debtor))
        if debtor_iban:
            parts.append(f"<DbtrAcct><Id><IBAN>{debtor_iban}</IBAN></Id></DbtrAcct>")
        if creditor:
            parts.append(party("Cdtr", creditor))
        if creditor_acct:
            parts.append(f"<CdtrAcct><Id><Othr><Id>{creditor_acct}</Id></Othr></Id></CdtrAcct>")
        parts.append("</RltdPties>")
    if debtor_bic or creditor_bic:
        parts.append("<RltdAgts>")
        if debtor_bic:
            parts.append(f"<DbtrAgt><FinInstnId><BIC>{debtor_bic}</BIC></FinInstnId></DbtrAgt>")
        if creditor_bic:
            parts.append(
                f"<CdtrAgt><FinInstnId><BICFI>{creditor_bic}</BICFI></FinInstnId></CdtrAgt>")
        parts.append("</RltdAgts>")
    if ustrd:
        parts.append("<RmtInf>" + "".join(el("Ustrd", u) for u in ustrd) + "</RmtInf>")
    if addtl is not None:
        parts.append(el("AddtlTxInf", addtl))
    parts.append("</TxDtls>")
    return "".join(parts)


def entry(amount: str | None = "100.00", cdi: str | None = "CRDT", ccy: str | None = "CNY",
          booking: str | None = "2026-11-20", value: str | None = "2026-11-20",
          svcr_ref: str | None = None, ntry_ref: str | None = None,
          code: tuple[str, str, str] | None = None, details: tuple[str, ...] = (),
          addtl: str | None = None, booking_tag: str = "Dt") -> str:
    parts = ["<Ntry>"]
    if ntry_ref is not None:
        parts.append(el("NtryRef", ntry_ref))
    if amount is not None:
        parts.append(f'<Amt Ccy="{ccy}">{amount}</Amt>' if ccy is not None
                     else f"<Amt>{amount}</Amt>")
    if cdi is not None:
        parts.append(el("CdtDbtInd", cdi))
    parts.append("<Sts><Cd>BOOK</Cd></Sts>")
    if booking is not None:
        parts.append(f"<BookgDt>{el(booking_tag, booking)}</BookgDt>")
    if value is not None:
        parts.append(f"<ValDt>{el('Dt', value)}</ValDt>")
    if svcr_ref is not None:
        parts.append(el("AcctSvcrRef", svcr_ref))
    if code is not None:
        parts.append(bank_code(*code))
    if details:
        parts.append("<NtryDtls>" + "".join(details) + "</NtryDtls>")
    if addtl is not None:
        parts.append(el("AddtlNtryInf", addtl))
    parts.append("</Ntry>")
    return "".join(parts)


def balance(code: str = "CLBD", amount: str = "1000.00", cdi: str = "CRDT", ccy: str = "CNY",
            on: str = "2026-11-20", date_tag: str = "Dt") -> str:
    return (f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
            f'<Amt Ccy="{ccy}">{amount}</Amt><CdtDbtInd>{cdi}</CdtDbtInd>'
            f"<Dt>{el(date_tag, on)}</Dt></Bal>")


def statement(stmt_id: str = "S1", account: str | None = "6222 0000 0000 0001",
              iban: bool = False, balances: tuple[str, ...] = (),
              entries: tuple[str, ...] = (), total: int | None = None,
              message: str = "camt.053") -> str:
    tag = MESSAGES[message][1]
    parts = [f"<{tag}>", el("Id", stmt_id), el("CreDtTm", "2026-11-21T01:00:00+08:00")]
    if account is not None:
        ident = el("IBAN", account) if iban else f"<Othr>{el('Id', account)}</Othr>"
        parts.append(f"<Acct><Id>{ident}</Id><Ccy>CNY</Ccy></Acct>")
    parts.extend(balances)
    if total is not None:
        parts.append(f"<TxsSummry><TtlNtries><NbOfNtries>{total}</NbOfNtries>"
                     f"</TtlNtries></TxsSummry>")
    parts.extend(entries)
    parts.append(f"</{tag}>")
    return "".join(parts)


def document(*statements: str, message: str = "camt.053", version: str = "08",
             msg_id: str | None = "MSG-1", created: str | None = "2026-11-21T01:05:00+08:00",
             group_header: bool = True) -> str:
    msg = MESSAGES[message][0]
    head = ""
    if group_header:
        head = "<GrpHdr>" + (el("MsgId", msg_id) if msg_id is not None else "") + (
            el("CreDtTm", created) if created is not None else "") + "</GrpHdr>"
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:{message}.001.{version}">'
            f"<{msg}>{head}{''.join(statements)}</{msg}></Document>\n")


@pytest.fixture
def write(tmp_path):
    counter = iter(range(1_000_000))

    def _write(text: str | bytes, name: str | None = None) -> Path:
        path = tmp_path / (name or f"camt-{next(counter)}.xml")
        path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
        return path

    return _write


# -- real published samples ------------------------------------------------------------------

@pytest.mark.parametrize("path, balances, transactions", [
    (GENKGO_053_V02_MULTI, 2, 2),   # two Stmt, each with one CLBD and one Ntry
    (GENKGO_053_V02_MINIMAL, 1, 1),  # OPBD/OPAV/CLAV are not balance records
    (GENKGO_054_V02, 0, 1),         # 4 TxDtls without a TxAmt: one transaction
    (ISO_053_V04, 1, 3),
    (GENKGO_053_V08, 1, 1),     # OPBD/OPAV/CLAV are not balance records
    (GENKGO_052_V04, 0, 1),     # only an ITBD balance
    (POSTFINANCE_054_V08, 0, 1),
])
def test_every_real_sample_parses(path, balances, transactions):
    header, records, summary = read_all(path)
    assert header.source == "CAMT" and header.adapter == "camt053" and header.sequence is None
    assert [r for r in records if r.error] == []
    assert sum(r.kind == "balance" for r in records) == balances
    assert sum(r.kind == "transaction" for r in records) == transactions
    assert summary.records == len(records)
    assert sniff(path.read_bytes()[:1024])


def test_sample_directory_holds_exactly_the_listed_samples():
    assert sorted(DATA.glob("*.xml")) == sorted(REAL_SAMPLES)
    readme = (DATA.parent / "README.md").read_text(encoding="utf-8")
    for path in REAL_SAMPLES:
        assert f"`camt/{path.name}`" in readme, path.name


def test_genkgo_camt053_v02_two_statements():
    # Expected values hand-checked against genkgo/camt test/data/camt053.v2.multi.statement.json
    # (amounts there are in minor units: "-700" EUR is -7.00).
    header, records, summary = read_all(GENKGO_053_V02_MULTI)
    assert header.business_date == date(2015, 3, 10)
    assert header.generated == "2015-03-10T18:43:50+00:00"
    assert summary.delivery_key == ("CAMT053RIB000000000001|253EURNL26VAYB8060476890|"
                                    "254EURNL26VAYB8060476890")
    assert summary.warnings == []
    # No AcctSvcrRef/NtryRef: the entry id is statement id + position.  Both statements close
    # the same account on the same day, so the two balance records share one key.
    assert [(r.kind, r.key) for r in records] == [
        ("balance", "NL26VAYB8060476890/2014-12-31"),
        ("transaction", "253EURNL26VAYB8060476890/1"),
        ("balance", "NL26VAYB8060476890/2014-12-31"),
        ("transaction", "254EURNL26VAYB8060476890/1"),
    ]
    first_bal, credit, second_bal, debit = records
    assert first_bal.values == {"account": "NL26VAYB8060476890", "amount": Decimal("27.00"),
                                "currency": "EUR", "date": date(2014, 12, 31)}
    assert second_bal.values["amount"] == Decimal("20.00")  # json: closing 2000 EUR
    assert credit.values["amount"] == Decimal("8.85") and credit.values["currency"] == "EUR"
    assert credit.values["type"] == "TRANSFER_IN"  # proprietary code 544 only: by sign
    assert credit.values["counterparty_name"] is None  # a credit names only its Cdtr
    assert credit.values["narrative"] == "Transaction Description 1"
    assert debit.values == {
        "id": "254EURNL26VAYB8060476890/1", "account": "NL26VAYB8060476890",
        "booking_date": date(2014, 12, 31), "value_date": date(2015, 1, 2),
        "amount": Decimal("-7.00"), "currency": "EUR", "type": "TRANSFER_OUT",
        "channel": "OTHER", "counterparty_name": "Company Name 2",
        "counterparty_account": "NL56AGDH9619008421", "counterparty_bank": None,
        "narrative": "Transaction Description 2"}


def test_genkgo_camt053_v02_minimal_debit_balance_and_debtor_account():
    # Hand-checked against genkgo/camt test/data/camt053.v2.minimal.json.
    _, records, summary = read_all(GENKGO_053_V02_MINIMAL)
    bal, tx = records
    assert bal.key == "NL26VAYB8060476890/2014-12-31"
    assert bal.values["amount"] == Decimal("-27.00") and bal.values["currency"] == "SEK"
    assert tx.key == "253EURNL26VAYB8060476890/1"
    assert tx.values["amount"] == Decimal("8.85") and tx.values["currency"] == "EUR"
    assert tx.values["booking_date"] == date(2014, 12, 31)
    assert tx.values["value_date"] == date(2015, 1, 2)
    assert tx.values["counterparty_name"] == "NAME NAME"  # Dbtr of a credit
    assert tx.values["counterparty_account"] == "NL56AGDH9619008421"  # DbtrAcct/Id/IBAN
    assert tx.values["narrative"] is None  # only structured RmtInf
    assert summary.delivery_key == "CAMT053RIB000000000001|253EURNL26VAYB8060476890"


def test_iso_business_sample_v04_othr_account_and_datetime_booking():
    header, records, summary = read_all(ISO_053_V04)
    assert header.business_date == date(2010, 10, 18)
    assert summary.delivery_key == "AAAASESS-FP-STAT001|AAAASESS-FP-STAT001"
    got = by_key(records)
    assert got["50000000054910000003/2010-10-18"].values["amount"] == Decimal("435678.50")
    batch = got["AAAASESS-FP-ACCR-01"].values  # Btch without TxDtls: one transaction
    assert batch["amount"] == Decimal("-200000") and batch["currency"] == "SEK"
    assert batch["type"] == "TRANSFER_OUT" and batch["booking_date"] == date(2010, 10, 18)
    fx = got["AAAASESS-FP-CONF-FX"].values  # a single TxDtls in EUR does not replace the entry
    assert fx["amount"] == Decimal("30000") and fx["currency"] == "SEK"
    assert fx["type"] == "TRANSFER_IN"  # TREA is not an ISO domain: by sign
    assert got["AAAASESS-FP-CN_98765/01"].values["counterparty_name"] == "MUELLER"


def test_genkgo_camt053_v08_party_wrapper_and_debit_balance():
    _, records, summary = read_all(GENKGO_053_V08)
    bal, tx = records
    assert bal.key == "NL26VAYB8060476890/2014-12-30"
    assert bal.values["amount"] == Decimal("-27.00") and bal.values["currency"] == "SEK"
    assert tx.key == "AAAASESS-FP-CN_98765/01"
    assert tx.values["account"] == "NL26VAYB8060476890"  # Acct/Id/Othr/Id
    assert tx.values["booking_date"] == date(2014, 12, 31)  # from BookgDt/DtTm
    assert tx.values["value_date"] == date(2015, 1, 2)
    assert tx.values["amount"] == Decimal("8.85") and tx.values["currency"] == "EUR"
    assert tx.values["counterparty_name"] == "NAME NAME"  # Dbtr/Pty/Nm
    assert tx.values["narrative"] is None
    assert summary.delivery_key == "CAMT053RIB000000000001|253EURNL26VAYB8060476890"


def test_genkgo_camt052_report():
    header, records, summary = read_all(GENKGO_052_V04)
    (tx,) = records
    assert header.business_date == date(2007, 10, 18)
    assert tx.values["account"] == "CH2801234000123456789"
    assert tx.values["amount"] == Decimal("-200000")
    assert tx.values["counterparty_name"] == "UNIFITS GmbH"  # Cdtr of a debit
    assert tx.values["counterparty_bank"] == "BANKCHZHXXX"  # BICFI
    assert tx.values["narrative"] == "Example Remittance - 4 - V1"
    assert summary.delivery_key == "AAAASESS-FP-ACCR001|AAAASESS-FP-ACCR001"


def test_camt054_notifications():
    # Hand-checked against genkgo/camt test/data/camt054.v2.json ("-20000000" minor units).
    header, (gk,), summary = read_all(GENKGO_054_V02)
    assert header.business_date == date(2007, 10, 18)
    assert gk.key == "AAAASESS-FP-ACCR001"  # AcctSvcrRef
    assert gk.values["account"] == "CH2801234000123456789"  # Acct/Id/Othr/Id
    assert gk.values["amount"] == Decimal("-200000") and gk.values["currency"] == "SEK"
    assert gk.values["type"] == "TRANSFER_OUT"  # PMNT/ICDT/DMCT
    assert gk.values["booking_date"] == date(2007, 10, 18)  # BookgDt/DtTm
    assert gk.values["value_date"] == date(2007, 10, 18)
    # Four TxDtls, none with a TxAmt (one has only AmtDtls/PrtryAmt): the entry is not split
    # and no single detail names the counterparty or the narrative.
    assert gk.values["counterparty_name"] is None and gk.values["narrative"] is None
    assert summary.delivery_key == "AAAASESS-FP-ACCR001|AAAASESS-FP-ACCR001"
    assert summary.warnings == []
    header, (pf,), summary = read_all(POSTFINANCE_054_V08)
    assert header.business_date == date(2022, 3, 10)
    assert pf.key == "1000000000000000"
    assert pf.values["account"] == "CH2909000000250094239"
    assert pf.values["amount"] == Decimal("522.10") and pf.values["currency"] == "CHF"
    assert pf.values["counterparty_name"] == "Bernasconi Maria"
    assert pf.values["counterparty_account"] == "CH5109000000250092291"
    assert pf.values["counterparty_bank"] == "POFICHBEXXX"
    assert pf.values["narrative"].startswith("GUTSCHRIFT AUFTRAGGEBER: Bernasconi Maria")
    assert summary.delivery_key == "20200618375204295372463|20200618375204295372465"


def test_genkgo_camt054_batch_splits_once_each_detail_has_a_tx_amount(write):
    # None of the real samples has a batch entry with an amount per TxDtls, so one is derived
    # here from genkgo-camt054.v2.xml by adding AmtDtls/TxAmt to each of its four TxDtls.
    text = GENKGO_054_V02.read_text(encoding="utf-8")
    amounts = iter(["100000.00", "236.25", "50000.00", "49763.75"])  # adds up to 200000

    def tx_amt() -> str:
        return f'<TxAmt><Amt Ccy="SEK">{next(amounts)}</Amt></TxAmt>'

    parts = text.split("</Refs>")
    assert len(parts) == 5
    rebuilt = parts[0]
    for part in parts[1:]:
        if part.lstrip().startswith("<AmtDtls>"):  # the detail that has only a PrtryAmt
            part = part.replace("<AmtDtls>", "<AmtDtls>" + tx_amt(), 1)
        else:
            part = f"<AmtDtls>{tx_amt()}</AmtDtls>" + part
        rebuilt += "</Refs>" + part
    _, records, summary = read_all(write(rebuilt))
    assert [r.key for r in records] == [f"AAAASESS-FP-ACCR001/{i}" for i in range(1, 5)]
    assert [r.values["amount"] for r in records] == [
        Decimal("-100000.00"), Decimal("-236.25"), Decimal("-50000.00"), Decimal("-49763.75")]
    assert all(r.values["type"] == "TRANSFER_OUT" for r in records)  # the entry's code
    assert all(r.values["account"] == "CH2801234000123456789" for r in records)
    assert [r.values["narrative"] for r in records] == [
        "Unstructured Remittance Information V1",
        "ISR ref number V2",
        None,  # only Strd
        "Unstructured Remittance Information V3 block 1 "
        "Unstructured Remittance Information V3 block 2",
    ]
    assert summary.warnings == []


# -- sniffing --------------------------------------------------------------------------------

@pytest.mark.parametrize("head, expected", [
    (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">', True),
    (b"<?xml version='1.0'?><n:Document xmlns:n='urn:iso:std:iso:20022:tech:xsd:camt.052.001.13'>",
     True),
    (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">', True),
    (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.056.001.08">', False),
    (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09">', False),
    (b'<Feed xmlns="urn:bankcrm:feed:1" source="CBS" businessDate="2026-11-20">', False),
])
def test_sniff(head, expected):
    assert sniff(head) is expected


# -- header / records / summary protocol ----------------------------------------------------

def test_header_is_read_lazily_and_records_continue(write):
    path = write(document(statement("S1", entries=(entry(svcr_ref="A"), entry(svcr_ref="B"))),
                          statement("S2", entries=(entry(svcr_ref="C"),))))
    adapter = CamtAdapter(path, MAX_BYTES)
    header = adapter.header()
    assert header.business_date == date(2026, 11, 21)
    assert header.generated == "2026-11-21T01:05:00+08:00"
    assert adapter.header() is header
    records = adapter.records()
    assert next(records).key == "A"
    with pytest.raises(RuntimeError):
        adapter.summary()
    assert [r.key for r in records] == ["B", "C"]
    summary = adapter.summary()
    assert summary.delivery_key == "MSG-1|S1|S2" and summary.records == 3


def test_records_without_calling_header_first(write):
    path = write(document(statement(entries=(entry(svcr_ref="A"),))))
    adapter = CamtAdapter(path, MAX_BYTES)
    assert [r.key for r in adapter.records()] == ["A"]
    assert adapter.header().source == "CAMT"


@pytest.mark.parametrize("message, version", [
    ("camt.053", "02"), ("camt.053", "04"), ("camt.053", "08"), ("camt.053", "13"),
    ("camt.052", "08"), ("camt.054", "02"),
])
def test_versions_and_message_types_share_the_reader(write, message, version):
    text = document(statement("R1", message=message, balances=(balance(),),
                              entries=(entry(svcr_ref="X", cdi="DBIT"),)),
                    message=message, version=version)
    _, records, summary = read_all(write(text))
    assert [(r.kind, r.key) for r in records] == [
        ("balance", "6222000000000001/2026-11-20"), ("transaction", "X")]
    assert records[0].values["account"] == "6222000000000001"  # spaces removed
    assert records[1].values["amount"] == Decimal("-100.00")
    assert summary.delivery_key == "MSG-1|R1"


def test_unused_or_abandoned_adapter_releases_the_file(write):
    path = write(document(statement(entries=tuple(entry(svcr_ref=f"E{i}") for i in range(5)))))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        CamtAdapter(path, MAX_BYTES)  # never read
        adapter = CamtAdapter(path, MAX_BYTES)
        next(adapter.records())
        adapter.close()
        adapter.close()
        del adapter
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


# -- transactions ----------------------------------------------------------------------------

def test_batch_entry_splits_per_tx_details(write):
    details = (
        tx_details(amount="60.00", cdi="CRDT", debtor="张三", debtor_iban="CN11 2222",
                   debtor_bic="ICBKCNBJ", ustrd=("工资", "11月"),
                   code=("PMNT", "CNTR", "CDPT")),
        tx_details(amount="30.00", cdi="CRDT", debtor="李四", pty=True, addtl="second"),
        tx_details(amount="10.00", cdi="DBIT", creditor="王五", creditor_acct="9876",
                   creditor_bic="BKCHCNBJ"),
    )
    path = write(document(statement(entries=(
        entry(amount="80.00", svcr_ref="BATCH", code=("PMNT", "RCDT", "ESCT"),
              details=details, addtl="batch"),))))
    _, records, summary = read_all(path)
    assert [r.key for r in records] == ["BATCH/1", "BATCH/2", "BATCH/3"]
    one, two, three = (r.values for r in records)
    assert one == {
        "id": "BATCH/1", "account": "6222000000000001", "booking_date": date(2026, 11, 20),
        "value_date": date(2026, 11, 20), "amount": Decimal("60.00"), "currency": "CNY",
        "type": "CASH_DEPOSIT", "channel": "OTHER", "counterparty_name": "张三",
        "counterparty_account": "CN112222", "counterparty_bank": "ICBKCNBJ",
        "narrative": "工资 11月"}
    assert two["amount"] == Decimal("30.00") and two["type"] == "TRANSFER_IN"  # entry's code
    assert two["counterparty_name"] == "李四" and two["narrative"] == "second"
    assert three["amount"] == Decimal("-10.00") and three["type"] == "TRANSFER_IN"
    assert (three["counterparty_name"], three["counterparty_account"],
            three["counterparty_bank"]) == ("王五", "9876", "BKCHCNBJ")
    assert summary.warnings == []  # 60 + 30 - 10 == 80


def test_batch_split_uses_tx_amount_first_and_warns_when_sums_differ(write):
    details = (tx_details(amount="1.00", tx_amt="40.00"), tx_details(tx_amt="50.00"))
    path = write(document(statement(entries=(entry(amount="100.00", ntry_ref="N1",
                                                   details=details),))))
    _, records, summary = read_all(path)
    assert [(r.key, r.values["amount"]) for r in records] == [
        ("N1/1", Decimal("40.00")), ("N1/2", Decimal("50.00"))]
    assert summary.warnings == [
        "Ntry 1 of statement S1: TxDtls amounts add up to 90.00, the entry says 100.00"]


def test_batch_without_amount_on_every_detail_stays_one_transaction(write):
    details = (tx_details(amount="40.00", debtor="A"), tx_details(debtor="B"))
    path = write(document(statement(entries=(entry(amount="100.00", svcr_ref="E1",
                                                   details=details, addtl="batch info"),))))
    _, (record,), _ = read_all(path)
    assert record.key == "E1" and record.values["amount"] == Decimal("100.00")
    assert record.values["counterparty_name"] is None  # ambiguous between two details
    assert record.values["narrative"] == "batch info"


def test_entry_ids_fall_back_from_acctsvcrref_to_ntryref_to_position(write):
    path = write(document(statement("ST", entries=(
        entry(svcr_ref="SVC", ntry_ref="REF"), entry(ntry_ref="REF2"), entry()))))
    _, records, _ = read_all(path)
    assert [r.key for r in records] == ["SVC", "REF2", "ST/3"]
    assert [r.values["id"] for r in records] == ["SVC", "REF2", "ST/3"]


def test_counterparty_follows_the_sign(write):
    detail = tx_details(debtor="Payer", creditor="Payee", debtor_iban="DE01",
                        creditor_acct="C-2", debtor_bic="PAYERBIC", creditor_bic="PAYEEBIC")
    path = write(document(statement(entries=(
        entry(svcr_ref="IN", cdi="CRDT", details=(detail,)),
        entry(svcr_ref="OUT", cdi="DBIT", details=(detail,))))))
    _, (incoming, outgoing), _ = read_all(path)
    assert (incoming.values["counterparty_name"], incoming.values["counterparty_account"],
            incoming.values["counterparty_bank"]) == ("Payer", "DE01", "PAYERBIC")
    assert (outgoing.values["counterparty_name"], outgoing.values["counterparty_account"],
            outgoing.values["counterparty_bank"]) == ("Payee", "C-2", "PAYEEBIC")
    assert outgoing.values["amount"] == Decimal("-100.00")


def test_narrative_is_truncated_to_500_characters(write):
    path = write(document(statement(entries=(
        entry(svcr_ref="L", details=(tx_details(ustrd=("x" * 300, "y" * 300)),)),))))
    _, (record,), _ = read_all(path)
    assert len(record.values["narrative"]) == 500
    assert record.values["narrative"].startswith("x" * 300 + " y")


@pytest.mark.parametrize("code, cdi, expected", [
    (("PMNT", "RCDT", "ESCT"), "CRDT", "TRANSFER_IN"),
    (("PMNT", "ICDT", "ESCT"), "DBIT", "TRANSFER_OUT"),
    (("PMNT", "RDDT", "ESDD"), "DBIT", "PAYMENT"),
    (("PMNT", "CNTR", "CDPT"), "CRDT", "CASH_DEPOSIT"),
    (("PMNT", "CNTR", "CWDL"), "DBIT", "CASH_WITHDRAWAL"),
    (("PMNT", "CCRD", "POSD"), "DBIT", "CARD_SPEND"),
    (("PMNT", "CCRD", "CWDL"), "DBIT", "CASH_WITHDRAWAL"),
    (("PMNT", "RCDT", "CHRG"), "DBIT", "FEE"),
    (("ACMT", "MDOP", "FEES"), "DBIT", "FEE"),
    (("ACMT", "MCOP", "INTR"), "CRDT", "INTEREST"),
    (("CAMT", "ACCB", "ZABA"), "CRDT", "OTHER"),
    (("LDAS", "CSLN", "RPMT"), "DBIT", "LOAN_REPAYMENT"),
    (("LDAS", "MGLN", "OTHR"), "DBIT", "LOAN_REPAYMENT"),
    (("SECU", "SETT", "TRAD"), "DBIT", "PURCHASE"),
    (("SECU", "CORP", "REDM"), "CRDT", "REDEMPTION"),
    (("XTND", "NTAV", "NTAV"), "DBIT", "TRANSFER_OUT"),
    (None, "CRDT", "TRANSFER_IN"),
    (None, "DBIT", "TRANSFER_OUT"),
])
def test_transaction_type_from_bank_transaction_code(write, code, cdi, expected):
    path = write(document(statement(entries=(entry(svcr_ref="T", cdi=cdi, code=code),))))
    _, (record,), _ = read_all(path)
    assert record.values["type"] == expected
    assert transaction_type(*(code or (None, None, None)), credit=cdi == "CRDT") == expected


# -- invalid entries are quarantined, not fatal ---------------------------------------------

@pytest.mark.parametrize("kwargs, reason", [
    (dict(booking=None), "Ntry 2 of statement S1: BookgDt is required"),
    (dict(booking="2026-02-30"), "Ntry 2 of statement S1: BookgDt '2026-02-30' is not a date"),
    (dict(value="20261120"), "Ntry 2 of statement S1: ValDt '20261120' is not a date"),
    (dict(amount="12,50"), "Ntry 2 of statement S1: Amt '12,50' is not a decimal amount"),
    (dict(amount=None), "Ntry 2 of statement S1: Amt is required"),
    (dict(amount="-5.00"), "Ntry 2 of statement S1: Amt '-5.00' is negative"),
    (dict(cdi="CR"), "Ntry 2 of statement S1: CdtDbtInd 'CR' is not one of CRDT, DBIT"),
    (dict(ccy="eur"), "Ntry 2 of statement S1: Ccy 'eur' is not an ISO 4217 currency code"),
    (dict(ccy=None), "Ntry 2 of statement S1: Ccy is required"),
])
def test_invalid_entry_becomes_an_error_record(write, kwargs, reason):
    path = write(document(statement(entries=(
        entry(svcr_ref="GOOD1"), entry(svcr_ref="BAD", **kwargs), entry(svcr_ref="GOOD2")))))
    _, records, summary = read_all(path)
    assert [r.key for r in records] == ["GOOD1", "BAD", "GOOD2"]
    bad = records[1]
    assert bad.kind == "transaction" and bad.values == {}
    assert bad.error.startswith(reason)
    reread = etree.fromstring(bad.raw)
    assert etree.QName(reread).localname == "Ntry"
    assert reread.findtext("{*}AcctSvcrRef") == "BAD"
    assert records[0].error is None and records[2].error is None
    assert summary.records == 3


def test_invalid_detail_of_a_batch_is_quarantined_alone(write):
    details = (tx_details(amount="5.00"), tx_details(amount="abc"))
    path = write(document(statement(entries=(entry(amount="5.00", svcr_ref="B",
                                                   details=details),))))
    _, (ok, bad), summary = read_all(path)
    assert ok.key == "B/1" and ok.error is None
    assert bad.key == "B/2" and bad.values == {}
    assert bad.error == "Ntry 1 of statement S1, TxDtls 2: Amt 'abc' is not a decimal amount"
    assert b"<Ntry" in bad.raw
    assert summary.warnings == []


def test_statement_without_account_quarantines_its_entries(write):
    path = write(document(statement(account=None, entries=(entry(svcr_ref="E"),))))
    _, (record,), _ = read_all(path)
    assert record.error == ("Ntry 1 of statement S1: Acct/Id (IBAN or Othr/Id) of the "
                            "statement is missing")


# -- balances --------------------------------------------------------------------------------

def test_only_closing_booked_balances_are_records(write):
    path = write(document(statement("S9", account="CN01", balances=(
        balance("OPBD", "1.00"), balance("CLBD", "250.75", cdi="DBIT", on="2026-11-20"),
        balance("CLAV", "9.00"), balance("ITBD", "3.00")))))
    _, (record,), _ = read_all(path)
    assert record.kind == "balance" and record.key == "CN01/2026-11-20"
    assert record.values == {"account": "CN01", "amount": Decimal("-250.75"),
                             "currency": "CNY", "date": date(2026, 11, 20)}


def test_balance_date_time_and_invalid_balance(write):
    path = write(document(
        statement("S1", account="A1", balances=(
            balance(on="2026-11-20T23:59:59+08:00", date_tag="DtTm"),)),
        statement("S2", account="A2", balances=(balance(ccy="RMB1"),))))
    _, (good, bad), _ = read_all(path)
    assert good.key == "A1/2026-11-20" and good.values["date"] == date(2026, 11, 20)
    assert bad.kind == "balance" and bad.key == "A2/2026-11-20" and bad.values == {}
    assert bad.error == ("CLBD balance of statement S2: Ccy 'RMB1' is not an ISO 4217 "
                         "currency code")
    assert b"CLBD" in bad.raw


# -- whole-file rejections -------------------------------------------------------------------

def consume(path: Path, max_bytes: int = MAX_BYTES) -> None:
    adapter = CamtAdapter(path, max_bytes)
    adapter.header()
    list(adapter.records())


def test_ttlntries_mismatch_rejects_the_file(write):
    ok = write(document(statement(total=2, entries=(entry(svcr_ref="A"), entry(svcr_ref="B")))))
    assert len(read_all(ok)[1]) == 2
    bad = write(document(statement("S7", total=3,
                                   entries=(entry(svcr_ref="A"), entry(svcr_ref="B")))))
    with pytest.raises(FeedRejected, match=r"^statement S7: 2 entries, TtlNtries says 3$"):
        consume(bad)


@pytest.mark.parametrize("text, reason", [
    ('<Feed xmlns="urn:bankcrm:feed:1" source="CBS" businessDate="2026-11-20"/>',
     "not an ISO 20022 camt.052/053/054 document"),
    ('<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.056.001.08"><FIToFIPmtCxlReq/>'
     "</Document>", "not an ISO 20022 camt.052/053/054 document"),
    ("<Document><BkToCstmrStmt/></Document>", "not an ISO 20022 camt.052/053/054 document"),
    ('<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrAcctRpt/>'
     "</Document>", "camt.053 document must contain BkToCstmrStmt, found 'BkToCstmrAcctRpt'"),
])
def test_unknown_root_or_namespace_is_refused(write, text, reason):
    with pytest.raises(FeedRejected, match=reason):
        consume(write(text))


def test_missing_or_broken_group_header_is_refused(write):
    with pytest.raises(FeedRejected, match="GrpHdr must come before the statements"):
        consume(write(document(statement(entries=(entry(),)), group_header=False)))
    with pytest.raises(FeedRejected, match="GrpHdr: MsgId is required"):
        consume(write(document(statement(), msg_id=None)))
    with pytest.raises(FeedRejected, match="GrpHdr: CreDtTm '21.11.2026' is not a date"):
        consume(write(document(statement(), created="21.11.2026")))
    with pytest.raises(FeedRejected, match="GrpHdr is missing"):
        consume(write('<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
                      "<BkToCstmrStmt></BkToCstmrStmt></Document>"))


HOSTILE = {
    "internal entity": (
        '<?xml version="1.0"?>\n<!DOCTYPE Document [<!ENTITY x "boom">]>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>&x;</MsgId><CreDtTm>2026-11-21T01:00:00</CreDtTm></GrpHdr>"
        "</BkToCstmrStmt></Document>"),
    "external entity": (
        '<?xml version="1.0"?>\n<!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>&x;</MsgId><CreDtTm>2026-11-21T01:00:00</CreDtTm></GrpHdr>"
        "</BkToCstmrStmt></Document>"),
    "entity expansion": (
        '<?xml version="1.0"?>\n<!DOCTYPE Document [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
        ']>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>&c;</MsgId><CreDtTm>2026-11-21T01:00:00</CreDtTm></GrpHdr>"
        "</BkToCstmrStmt></Document>"),
    "bare doctype": (
        '<?xml version="1.0"?>\n<!DOCTYPE Document SYSTEM "http://example.invalid/camt.dtd">\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>M</MsgId><CreDtTm>2026-11-21T01:00:00</CreDtTm></GrpHdr>"
        "</BkToCstmrStmt></Document>"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_dtd_and_entities_are_refused(write, name):
    with pytest.raises(FeedRejected) as caught:
        consume(write(HOSTILE[name]))
    assert "DTD" in caught.value.reason or "not well-formed" in caught.value.reason


@pytest.mark.parametrize("sample", [GENKGO_053_V02_MULTI, GENKGO_054_V02,
                                    POSTFINANCE_054_V08])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.97])
def test_truncated_real_file_is_refused(write, sample, fraction):
    data = sample.read_bytes()
    with pytest.raises(FeedRejected, match="not well-formed"):
        consume(write(data[: int(len(data) * fraction)]))


def test_truncated_after_complete_entries_still_rejects_before_summary(write):
    text = document(statement(entries=tuple(entry(svcr_ref=f"E{i}") for i in range(50))))
    adapter = CamtAdapter(write(text[: len(text) - 40]), MAX_BYTES)
    seen = []
    with pytest.raises(FeedRejected, match="not well-formed"):
        for record in adapter.records():
            seen.append(record)
    assert 0 < len(seen) < 50
    with pytest.raises(RuntimeError):
        adapter.summary()


def test_wrong_encoding_and_oversize_are_refused(write):
    latin = document(statement()).replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    with pytest.raises(FeedRejected, match="wrong encoding"):
        CamtAdapter(write(latin), MAX_BYTES)
    utf16 = write(document(statement()).encode("utf-16"))
    with pytest.raises(FeedRejected, match="wrong encoding"):
        CamtAdapter(utf16, MAX_BYTES)
    with pytest.raises(FeedRejected, match="size limit"):
        CamtAdapter(GENKGO_053_V02_MULTI, 1000)


# -- streaming memory ------------------------------------------------------------------------

@pytest.mark.slow
def test_memory_stays_flat_on_50000_entries(tmp_path):
    entries = 50_000
    path = tmp_path / "big.xml"
    detail = tx_details(debtor="某某有限公司", debtor_iban="CN0012345678",
                        ustrd=("货款 & 服务费",), code=("PMNT", "RCDT", "ESCT"))
    with path.open("w", encoding="utf-8") as out:
        head, tail = document(statement("BIG", balances=(balance(),), total=entries,
                                        entries=("@@ENTRIES@@",))).split("@@ENTRIES@@")
        out.write(head)
        for i in range(entries):
            out.write(entry(amount=f"{i % 997}.{i % 100:02d}", svcr_ref=f"R{i}",
                            cdi="CRDT" if i % 2 else "DBIT", details=(detail,)))
        out.write(tail)

    adapter = CamtAdapter(path, MAX_BYTES)
    adapter.header()
    live_max = 0
    count = 0
    for record in adapter.records():
        count += 1
        assert record.error is None
        if count % 1000 == 0:
            live = sum(1 for _ in adapter._root.iter())  # every element still in the tree
            live_max = max(live_max, live)
    assert count == entries + 1
    assert adapter.summary().records == entries + 1
    # The file holds about 25 elements per entry (1.25 million in all).  Only the entry being
    # read and the parser's read-ahead buffer may be alive at any time.
    assert live_max < 5_000, live_max
