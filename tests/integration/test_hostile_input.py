"""Hostile and broken feed files are rejected whole, with a clear reason, and change nothing.

The spec (shared/spec/cbs-feed-v1.md, "Envelope" and "Bad input"): every file gets a batch
record; external entities, DTDs, entity expansion, a missing trailer, a truncated file,
wrong encoding and a file beyond the size limit are rejected whole and nothing of them is
applied; re-running any file is safe.

Each broken file below carries valid records (and records that would be quarantined) BEFORE
the point of failure, so "nothing applied" means the batch's work was rolled back, not that
there was nothing to apply.  Files the FeedWriter cannot produce are crafted by hand from
the writer's own valid output, and every crafted shape has a control that imports cleanly.
"""
from __future__ import annotations

import hashlib
import io
import re
import socket
import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import Engine, func, select

from integration import models as m
from integration.db import Base
from integration.feedwriter import FeedWriter
from integration.queries import stats

import migrations.registry  # noqa: F401  - every table in Base.metadata

BUSINESS_DATE = date(2026, 11, 20)
NS = "urn:bankcrm:feed:1"
SECTION_NAMES = ("FxRates", "Branches", "Products", "Customers", "Accounts", "Holdings",
                 "Transactions")
KEY_ATTR = {"Rate": "currency", "Branch": "code", "Product": "code", "Customer": "id",
            "Account": "id", "Holding": "id", "Transaction": "id"}
CHINESE_NAMES = ("张三", "李四", "王五")
LATIN_NAMES = ("José Müller", "Zoë Ångström", "Ñuñez Çelik")
EMPTY = {"customers": 0, "accounts": 0, "holdings": 0, "transactions": 0, "quarantined": 0}


# --- building files ----------------------------------------------------------------------

def _resident_id(n: int) -> str:
    body = f"11010519800101{n:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]


def write_records(feed: FeedWriter, *, n_txn: int = 6, bad: bool = True,
                  names: tuple[str, ...] = CHINESE_NAMES, balance: str = "1000.50") -> None:
    """Valid records of every kind; with ``bad``, one invalid record and one orphan too,
    which an applied file would quarantine."""
    feed.rate("USD", Decimal("7.1234"))
    feed.branch("BR001", "Head office", "Beijing")
    feed.product("DEP01", "Demand deposit", "DEPOSIT", "R1", "CNY", Decimal("0"))
    feed.product("FUND01", "Balanced fund", "FUND", "R3", "CNY", Decimal("1000"))
    for i, name in enumerate(names, 1):
        feed.customer(f"C{i}", name, gender="F", birth_date=date(1980, 1, i),
                      id_doc=("RESIDENT_ID", _resident_id(i), None), mobile=f"1380013800{i}",
                      branch="BR001", open_date=date(2010, 1, i), status="ACTIVE")
    if bad:
        feed.customer("C9", "Bad Gender", gender="Z")  # invalid: quarantined if applied
    for i in range(1, len(names) + 1):
        feed.account(f"A{i}", f"C{i}", product="DEP01", type="SAVINGS", currency="CNY",
                     balance=balance, branch="BR001", status="ACTIVE")
    feed.holding("H1", "C1", product="FUND01", units=Decimal("100"),
                 market_value=Decimal("1050.25"), currency="CNY")
    if bad:  # missing reference: quarantined if applied
        feed.transaction("T-ORPHAN", "NO-SUCH-ACCOUNT", booking_date=BUSINESS_DATE,
                         amount="1.00", currency="CNY", type="OTHER", channel="OTHER")
    for k in range(n_txn):
        feed.transaction(f"T{k:06d}", f"A{k % len(names) + 1}", booking_date=BUSINESS_DATE,
                         amount=Decimal("-12.34"), currency="CNY", type="PAYMENT",
                         channel="MOBILE", narrative=f"payment {k}")


def feed_bytes(sequence: Any = 1, *, source: str = "CBS", business_date: Any = BUSINESS_DATE,
               n_txn: int = 6, bad: bool = True, names: tuple[str, ...] = CHINESE_NAMES,
               balance: str = "1000.50", **writer_options: Any) -> bytes:
    out = io.BytesIO()
    with FeedWriter(out, source, business_date, sequence, **writer_options) as feed:
        write_records(feed, n_txn=n_txn, bad=bad, names=names, balance=balance)
    return out.getvalue()


class Parts:
    """A valid file split at its envelope, to reassemble in shapes FeedWriter refuses."""

    def __init__(self, data: bytes) -> None:
        text = data.decode("utf-8")
        opening = re.match(r"(?s)^(.*?<Feed\b[^>]*>)", text)
        assert opening is not None
        self.head = opening.group(1)
        self.sections = {
            found.group(1): found.group(0)
            for found in re.finditer(r"(?s)<(%s)>.*?</\1>" % "|".join(SECTION_NAMES), text)
        }
        assert list(self.sections) == list(SECTION_NAMES)
        trailer = re.search(r'<Trailer records="(\d+)" sha256="([0-9a-f]{64})"', text)
        assert trailer is not None
        self.trailer = f'<Trailer records="{trailer.group(1)}" sha256="{trailer.group(2)}"/>'

    def build(self, *blocks: str, trailer: bool = True, tail: str = "") -> bytes:
        body = "\n  ".join(blocks)
        parts = [self.head, "\n  ", body]
        if trailer:
            parts += ["\n  ", trailer_for(body)]
        parts += ["\n</Feed>\n", tail]
        return "".join(parts).encode("utf-8")


def record_keys(xml: str) -> list[str]:
    """Record keys in document order (a record element is one that has attributes;
    Branch/Product inside a record are attribute-less fields)."""
    keys = []
    for found in re.finditer(r"<(%s)\s([^>]*)>" % "|".join(KEY_ATTR), xml):
        attr = re.search(r'\b%s="([^"]*)"' % KEY_ATTR[found.group(1)], found.group(2))
        assert attr is not None, found.group(0)
        keys.append(attr.group(1))
    return keys


def trailer_for(xml: str) -> str:
    keys = record_keys(xml)
    digest = hashlib.sha256("".join(keys).encode("utf-8")).hexdigest()
    return f'<Trailer records="{len(keys)}" sha256="{digest}"/>'


def with_doctype(data: bytes, doctype: str) -> bytes:
    decl, rest = data.split(b"\n", 1)
    assert decl.startswith(b"<?xml")
    return decl + b"\n" + doctype.encode("ascii") + b"\n" + rest


# --- checking the database ---------------------------------------------------------------

def _count(conn: Any, table: Any) -> int:
    return conn.execute(select(func.count()).select_from(table)).scalar_one()


def data_tables() -> list[Any]:
    """The data centre's tables (those a feed writes), but feed_batches."""
    ours = {mapper.local_table for mapper in Base.registry.mappers
            if mapper.class_.__module__ == "integration.models"}
    return [t for t in Base.metadata.sorted_tables if t in ours and t.name != "feed_batches"]


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but feed_batches, comparable across imports."""
    with engine.connect() as conn:
        return {
            t.name: sorted((tuple(map(repr, row)) for row in conn.execute(select(t))))
            for t in data_tables()
        }


def assert_rejected(engine: Engine, result: Any, path: Path, *words: str,
                    batches: int = 1, empty: bool = True) -> None:
    """Rejected with a reason naming the problem, recorded as such, and nothing applied."""
    assert result.status == "rejected", (result.status, result.reason)
    assert result.reason, "a rejection must say why"
    for word in words:
        assert word.lower() in result.reason.lower(), (word, result.reason)
    assert "internal error" not in result.reason
    assert (result.applied, result.quarantined, result.new_transactions) == (0, 0, 0)
    batches_t = m.FeedBatch.__table__
    with engine.connect() as conn:
        row = conn.execute(select(batches_t).where(batches_t.c.id == result.batch_id)
                           ).mappings().one()
        assert row["status"] == "rejected"
        assert row["reason"] == result.reason
        assert row["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert row["file_size"] == path.stat().st_size
        assert row["finished_at"] is not None
        assert (row["records_applied"], row["records_quarantined"]) == (0, 0)
        counts = stats(conn)
        assert counts["batches"] == batches
        if empty:
            assert {k: v for k, v in counts.items() if k != "batches"} == EMPTY
            assert _count(conn, m.QuarantinedRecord.__table__) == 0  # in any status
            for table in data_tables():
                assert _count(conn, table) == 0, f"{table.name} has rows after a rejection"


def assert_any_word(reason: str | None, *words: str) -> None:
    assert reason is not None and any(w.lower() in reason.lower() for w in words), reason


# --- fixtures ----------------------------------------------------------------------------

@pytest.fixture
def write(feed_path: Callable[..., Path]) -> Callable[..., Path]:
    def make(data: bytes, name: str = "feed") -> Path:
        path = feed_path(name)
        path.write_bytes(data)
        return path

    return make


@pytest.fixture
def parts() -> Parts:
    return Parts(feed_bytes())


class Listener:
    """A TCP port on 127.0.0.1 that records every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            try:
                conn.settimeout(0.5)
                conn.recv(4096)
                conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                             b'<!ENTITY leaked "FETCHED-FROM-NETWORK">')
            except OSError:
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


# --- controls: the shapes used below import cleanly when nothing is broken ---------------

def test_control_valid_file_is_applied_with_its_quarantine(engine, import_feed, write):
    result = import_feed(write(feed_bytes(n_txn=6)))

    assert (result.status, result.reason) == ("partial", None)
    assert (result.read, result.quarantined) == (19, 2)
    with engine.connect() as conn:
        assert stats(conn) == {"customers": 3, "accounts": 3, "holdings": 1,
                               "transactions": 6, "quarantined": 2, "batches": 1}


def test_control_crafted_file_in_spec_order_is_applied(engine, import_feed, write, parts):
    data = parts.build(*parts.sections.values())
    # the hand-made Trailer agrees with the writer's, so crafted files differ only in the flaw
    assert trailer_for(data.decode()) == parts.trailer

    result = import_feed(write(data))

    assert result.status == "partial", result.reason
    with engine.connect() as conn:
        assert stats(conn)["transactions"] == 6


def test_control_file_of_exactly_max_bytes_is_applied(import_feed, write):
    path = write(feed_bytes())

    assert import_feed(path, max_bytes=path.stat().st_size).status == "partial"


# --- DTDs and entities -------------------------------------------------------------------

def test_external_file_entity_is_rejected_and_never_read(engine, import_feed, write):
    passwd = Path("/etc/passwd").read_text(errors="replace").splitlines()[0]
    assert passwd  # e.g. root:x:0:0:root:/root:/bin/bash
    data = with_doctype(feed_bytes(), '<!DOCTYPE Feed [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>')
    data = data.replace("李四".encode(), b"&xxe;")
    assert data.count(b"&xxe;") == 1
    path = write(data)

    result = import_feed(path)

    assert_rejected(engine, result, path, "DTD")
    assert passwd not in result.reason and "root:" not in result.reason
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                assert passwd not in repr(tuple(row)) and "root:x" not in repr(tuple(row))


def test_xinclude_is_not_processed(engine, import_feed, write):
    """No DTD needed for XInclude: the file is read as plain XML, the include never runs."""
    passwd = Path("/etc/passwd").read_text(errors="replace").splitlines()[0]
    include = ('<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
               'href="file:///etc/passwd" parse="text"/>')
    data = feed_bytes().replace("李四".encode(), include.encode())
    path = write(data)

    result = import_feed(path)

    assert result.status in ("applied", "partial", "rejected")
    assert passwd not in repr(dump(engine)) and "root:x" not in repr(dump(engine))
    assert passwd not in (result.reason or "")


NETWORK_DOCTYPES = {
    "external-dtd": '<!DOCTYPE Feed SYSTEM "http://127.0.0.1:{port}/x.dtd">',
    "public-dtd": '<!DOCTYPE Feed PUBLIC "-//BANK//FEED//EN" "http://127.0.0.1:{port}/x.dtd">',
    "parameter-entity":
        '<!DOCTYPE Feed [<!ENTITY % pe SYSTEM "http://127.0.0.1:{port}/x.dtd"> %pe;]>',
    "external-general-entity":
        '<!DOCTYPE Feed [<!ENTITY ext SYSTEM "http://127.0.0.1:{port}/x.txt">]>',
}


@pytest.mark.parametrize("kind", sorted(NETWORK_DOCTYPES))
def test_dtd_or_entity_by_url_is_rejected_and_not_fetched(engine, import_feed, write,
                                                           listener, kind):
    data = with_doctype(feed_bytes(), NETWORK_DOCTYPES[kind].format(port=listener.port))
    if kind == "external-general-entity":
        data = data.replace("李四".encode(), b"&ext;")
    path = write(data)

    result = import_feed(path)

    assert_rejected(engine, result, path, "DTD")
    time.sleep(0.3)  # a fetch, had there been one, would have connected by now
    assert listener.connections == 0
    assert "FETCHED-FROM-NETWORK" not in repr(dump(engine))


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE Feed SYSTEM "http://127.0.0.1:9/x.dtd">',
    '<!DOCTYPE Feed [<!ENTITY % pe SYSTEM "http://127.0.0.1:9/x.dtd"> %pe;]>',
], ids=["external-dtd", "parameter-entity"])
def test_dtd_by_url_on_the_discard_port_is_rejected_quickly(engine, import_feed, write,
                                                             doctype):
    path = write(with_doctype(feed_bytes(), doctype))

    started = time.monotonic()
    result = import_feed(path)

    assert_rejected(engine, result, path, "DTD")
    assert time.monotonic() - started < 10  # no network wait, no retries


BILLION_LAUGHS = """<!DOCTYPE Feed [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>"""


def test_billion_laughs_is_rejected_without_expansion(engine, import_feed, write):
    data = with_doctype(feed_bytes(), BILLION_LAUGHS)
    data = data.replace("李四".encode(), b"&lol9;").replace(b"payment 3", b"&lol9;&lol9;")
    path = write(data)

    started = time.monotonic()
    result = import_feed(path)

    assert_rejected(engine, result, path, "DTD")
    assert time.monotonic() - started < 10
    assert "lollol" not in result.reason


def test_pathologically_deep_nesting_is_rejected(engine, import_feed, write):
    data = feed_bytes(n_txn=300)
    deep = b"<x>" * 5000 + b"deep" + b"</x>" * 5000
    data = data.replace(b"payment 250<", b"payment 250" + deep + b"<")
    path = write(data)

    started = time.monotonic()
    result = import_feed(path)

    assert_rejected(engine, result, path, "not well-formed")
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("doctype", [
    "<!DOCTYPE Feed [<!ELEMENT Feed ANY>]>",
    '<!DOCTYPE Feed [<!ATTLIST Feed source CDATA "CBS">]>',
    '<!DOCTYPE Feed [<!ENTITY who "Internal Name">]>',
    "<!DOCTYPE Feed>",
], ids=["element-decl", "attlist-default", "internal-entity", "bare-doctype"])
def test_plain_internal_dtd_is_rejected(engine, import_feed, write, doctype):
    data = with_doctype(feed_bytes(), doctype)
    if "who" in doctype:
        data = data.replace("李四".encode(), b"&who;")
    path = write(data)

    result = import_feed(path)

    assert_rejected(engine, result, path, "DTD")


def test_dtd_after_comments_and_processing_instructions_is_rejected(engine, import_feed,
                                                                      write):
    prolog = b'<?note x?><!-- <Feed> -->\n<!-- b -->\n<!DOCTYPE Feed [<!ENTITY who "x">]>'
    path = write(feed_bytes().replace(b"?>", b"?>\n" + prolog, 1))

    result = import_feed(path)

    assert_rejected(engine, result, path, "DTD")


def test_dtd_behind_a_prolog_longer_than_the_precheck_is_still_rejected(engine, import_feed,
                                                                        write):
    from integration.adapters.safexml import PROLOG_BYTES

    prolog = b"<!-- " + b"x" * PROLOG_BYTES + b" -->\n<!DOCTYPE Feed>"
    path = write(feed_bytes().replace(b"?>", b"?>\n" + prolog, 1))

    result = import_feed(path, adapter="cbs")  # too long a prolog to sniff the format

    assert_rejected(engine, result, path, "DTD")


# --- truncation and the Trailer ----------------------------------------------------------

def test_file_cut_in_the_middle_of_a_record_is_rejected(engine, import_feed, write):
    data = feed_bytes(n_txn=3000)  # several read buffers: chunks get applied before the cut
    cut = data.index(b'<Transaction id="T002500"')
    cut = data.index(b"<Amount", cut) + 4  # inside a tag of the record
    path = write(data[:cut])

    result = import_feed(path)

    assert_rejected(engine, result, path)
    assert_any_word(result.reason, "not well-formed", "truncated", "ends before")


@pytest.mark.parametrize("cut_at", [b"</Feed>", b"<Trailer", b'sha256="'],
                         ids=["before-close-tag", "before-trailer", "inside-trailer"])
def test_file_cut_near_its_end_is_rejected(engine, import_feed, write, cut_at):
    data = feed_bytes(n_txn=3000)
    path = write(data[:data.rindex(cut_at)])

    result = import_feed(path)

    assert_rejected(engine, result, path)
    assert_any_word(result.reason, "not well-formed", "truncated", "ends before", "Trailer")


def test_missing_trailer_is_rejected(engine, import_feed, write):
    path = write(feed_bytes(n_txn=300, omit_trailer=True))

    result = import_feed(path)

    assert_rejected(engine, result, path, "Trailer", "missing")


@pytest.mark.parametrize("delta", [+1, -1, +1000, -300])
def test_wrong_trailer_count_is_rejected(engine, import_feed, write, delta):
    actual = 313  # 13 records + the 300 transactions
    path = write(feed_bytes(n_txn=300, records_override=actual + delta))

    result = import_feed(path)

    assert_rejected(engine, result, path, "Trailer", str(actual + delta), str(actual))


@pytest.mark.parametrize("records", ["abc", "", "-5", "1e3", "²", "١٢", " 13"])
def test_trailer_count_that_is_not_a_count_is_rejected(engine, import_feed, write, records):
    path = write(feed_bytes(records_override=records))  # type: ignore[arg-type]

    result = import_feed(path)

    assert_rejected(engine, result, path, "Trailer")


def test_wrong_sha256_is_rejected(engine, import_feed, write):
    path = write(feed_bytes(n_txn=300, digest_override="0" * 64))

    result = import_feed(path)

    assert_rejected(engine, result, path, "sha256")


def test_sha256_of_the_keys_in_another_order_is_rejected(engine, import_feed, write, parts):
    keys = record_keys("".join(parts.sections.values()))
    swapped = keys[:-2] + [keys[-1], keys[-2]]
    digest = hashlib.sha256("".join(swapped).encode()).hexdigest()
    path = write(feed_bytes(digest_override=digest))

    result = import_feed(path)

    assert_rejected(engine, result, path, "sha256")


def test_uppercase_sha256_is_accepted(import_feed, write):
    """Control for the digest check: hex case does not matter."""
    digest = hashlib.sha256("".join(record_keys(feed_bytes().decode())).encode()).hexdigest()
    path = write(feed_bytes(digest_override=digest.upper()))

    assert import_feed(path).status == "partial"


def test_second_trailer_is_rejected(engine, import_feed, write, parts):
    data = parts.build(*parts.sections.values()).replace(
        b"\n</Feed>", b"\n  " + parts.trailer.encode() + b"\n</Feed>")
    assert data.count(b"<Trailer") == 2
    path = write(data)

    result = import_feed(path)

    assert_rejected(engine, result, path, "Trailer")


def test_trailer_before_the_last_section_is_rejected(engine, import_feed, write, parts):
    blocks = list(parts.sections.values())
    body = "\n  ".join(blocks)
    data = (parts.head + "\n  " + "\n  ".join(blocks[:-1]) + "\n  " + trailer_for(body)
            + "\n  " + blocks[-1] + "\n</Feed>\n").encode()
    path = write(data)

    result = import_feed(path)

    assert_rejected(engine, result, path)
    assert_any_word(result.reason, "order", "Trailer")


# --- encoding ----------------------------------------------------------------------------

def _redeclared(encoding: str, codec: str, names: tuple[str, ...]) -> bytes:
    text = feed_bytes(names=names).decode("utf-8")
    text = text.replace('encoding="UTF-8"', f'encoding="{encoding}"', 1)
    return text.encode(codec)


@pytest.mark.parametrize("encoding,codec,names", [
    ("ISO-8859-1", "latin-1", LATIN_NAMES),
    ("iso-8859-1", "latin-1", LATIN_NAMES),
    ("GBK", "gbk", CHINESE_NAMES),
    ("GB18030", "gb18030", CHINESE_NAMES),
    ("windows-1252", "cp1252", LATIN_NAMES),
])
def test_declared_non_utf8_encoding_is_rejected(engine, import_feed, write, encoding, codec,
                                                names):
    path = write(_redeclared(encoding, codec, names))

    result = import_feed(path)

    assert_rejected(engine, result, path, "encoding", encoding)


def test_declared_non_utf8_encoding_with_single_quotes_and_bom_is_rejected(
        engine, import_feed, write):
    text = feed_bytes(names=LATIN_NAMES).decode()
    text = text.replace('<?xml version="1.0" encoding="UTF-8"?>',
                        "<?xml version='1.0' encoding = 'ISO-8859-1'?>", 1)
    path = write(b"\xef\xbb\xbf" + text.encode("latin-1"))

    result = import_feed(path)

    assert_rejected(engine, result, path, "encoding")


@pytest.mark.parametrize("adapter", ["auto", "cbs"])
@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_or_utf32_file_is_rejected_for_its_encoding(engine, import_feed, write, codec,
                                                          adapter):
    """With adapter='auto' this used to be refused by sniffing as 'neither a ... feed nor a
    camt file', which does not say what is wrong."""
    text = feed_bytes().decode().replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)
    path = write(text.encode(codec))

    result = import_feed(path, adapter=adapter)

    assert_rejected(engine, result, path, "encoding", "UTF-8")


@pytest.mark.parametrize("bad_bytes", [
    b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", "王五".encode("gbk"),
], ids=["ff-fe", "bad-continuation", "surrogate", "overlong", "gbk-in-utf8"])
def test_invalid_utf8_bytes_inside_a_utf8_file_are_rejected(engine, import_feed, write,
                                                            bad_bytes):
    data = feed_bytes(n_txn=3000)
    marker = b"payment 2500"  # deep in the file, after many applied chunks
    assert data.count(marker + b"<") == 1
    path = write(data.replace(marker + b"<", b"payment " + bad_bytes + b"<"))

    result = import_feed(path)

    assert_rejected(engine, result, path, "not well-formed", "encoding")


def test_gbk_file_without_declaration_is_rejected(engine, import_feed, write):
    text = feed_bytes().decode().replace('<?xml version="1.0" encoding="UTF-8"?>\n', "", 1)
    path = write(text.encode("gbk"))

    result = import_feed(path)

    assert_rejected(engine, result, path, "not well-formed", "encoding")


# --- size, emptiness, not XML ------------------------------------------------------------

@pytest.mark.parametrize("shrink", [1, 2])
def test_file_over_max_bytes_is_rejected(engine, import_feed, write, shrink):
    path = write(feed_bytes(n_txn=300))
    size = path.stat().st_size
    limit = size - 1 if shrink == 1 else size // 10

    result = import_feed(path, max_bytes=limit)

    assert_rejected(engine, result, path, "size limit", str(limit))


@pytest.mark.parametrize("adapter", ["auto", "cbs"])
def test_empty_file_is_rejected_as_empty(engine, import_feed, write, adapter):
    """With adapter='auto' this used to say 'neither a ... feed nor a camt file'."""
    path = write(b"")

    result = import_feed(path, adapter=adapter)

    assert_rejected(engine, result, path, "empty")


@pytest.mark.parametrize("data", [
    b"id,name,balance\n1,Zhang San,100.00\n",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
    b"   \n\t\n",
    b'{"Feed": {"xmlns": "urn:bankcrm:feed:1"}}',
], ids=["csv", "binary", "whitespace", "json-mentioning-ns"])
def test_not_xml_at_all_is_rejected(engine, import_feed, write, data):
    path = write(data)

    result = import_feed(path)

    assert_rejected(engine, result, path)
    assert_any_word(result.reason, "neither", "not well-formed", "not a urn:bankcrm:feed:1")


def test_text_that_sniffs_like_a_feed_but_is_not_xml_is_rejected(engine, import_feed, write):
    path = write(b"Feed urn:bankcrm:feed:1 <<< this is not XML >>>\n")

    result = import_feed(path)

    assert_rejected(engine, result, path, "not well-formed")


# --- the envelope ------------------------------------------------------------------------

@pytest.mark.parametrize("namespace", ["urn:bankcrm:feed:2", "urn:bankcrm:feed:10",
                                       "urn:bankcrm:feed:1:extra", "http://example.com/feed"])
def test_feed_in_another_namespace_is_rejected(engine, import_feed, write, namespace):
    data = feed_bytes().replace(f'xmlns="{NS}"'.encode(), f'xmlns="{namespace}"'.encode())
    assert data.count(namespace.encode()) == 1
    path = write(data)

    result = import_feed(path)

    assert_rejected(engine, result, path)
    assert_any_word(result.reason, "not a urn:bankcrm:feed:1 Feed", "neither")


def test_feed_without_namespace_is_rejected(engine, import_feed, write):
    data = feed_bytes().replace(f' xmlns="{NS}"'.encode(), b"")
    data = with_doctype(data, "<!-- " + NS + " -->")  # still sniffs as this format
    path = write(data)

    result = import_feed(path)

    assert_rejected(engine, result, path, "not a urn:bankcrm:feed:1 Feed")


def test_different_root_element_is_rejected(engine, import_feed, write):
    data = feed_bytes().replace(b"<Feed ", b"<FeedFile ").replace(b"</Feed>", b"</FeedFile>")
    path = write(data)

    result = import_feed(path)

    assert_rejected(engine, result, path, "not a urn:bankcrm:feed:1 Feed")


@pytest.mark.parametrize("wrapper", [f'<Envelope xmlns="{NS}">', "<Envelope>"],
                         ids=["same-namespace", "no-namespace"])
def test_feed_wrapped_in_another_root_element_is_rejected(engine, import_feed, write,
                                                          wrapper):
    """Regression: the header check only saw events passing iterparse's tag filter, so an
    unknown outer root was never noticed and the inner Feed was applied."""
    data = feed_bytes()
    decl, rest = data.split(b"\n", 1)
    data = decl + b"\n" + wrapper.encode() + rest + b"</Envelope>\n"
    path = write(data)

    result = import_feed(path)

    assert_rejected(engine, result, path, "Feed")


@pytest.mark.parametrize("tail", [
    "<Feed/>", "garbage that is not XML <<<", "<Extra/>",
], ids=["second-feed", "garbage", "second-root"])
def test_content_after_the_feed_element_is_rejected(engine, import_feed, write, parts, tail):
    """Regression: reading stopped at </Feed>, so what followed was never parsed."""
    data = parts.build(*parts.sections.values(), tail=tail)
    path = write(data)

    result = import_feed(path)

    assert_rejected(engine, result, path)


def test_sections_out_of_order_are_rejected(engine, import_feed, write, parts):
    s = parts.sections
    blocks = [s["FxRates"], s["Branches"], s["Products"], s["Accounts"], s["Customers"],
              s["Holdings"], s["Transactions"]]
    path = write(parts.build(*blocks))

    result = import_feed(path)

    assert_rejected(engine, result, path, "Customers", "order")


def test_repeated_section_is_rejected(engine, import_feed, write, parts):
    s = parts.sections
    second = s["Transactions"].replace('id="T0000', 'id="U0000')
    path = write(parts.build(*s.values(), second))

    result = import_feed(path)

    assert_rejected(engine, result, path, "Transactions", "repeated")


def test_record_directly_inside_feed_is_rejected(engine, import_feed, write, parts):
    s = parts.sections
    stray = re.search(r'(?s)<Customer id="C2">.*?</Customer>', s["Customers"])
    assert stray is not None
    customers = s["Customers"].replace(stray.group(0), "")
    blocks = [s["FxRates"], s["Branches"], s["Products"], stray.group(0), customers,
              s["Accounts"], s["Holdings"], s["Transactions"]]
    path = write(parts.build(*blocks))

    result = import_feed(path)

    assert_rejected(engine, result, path, "Customer C2", "outside its section")


def test_record_in_the_wrong_section_is_rejected(engine, import_feed, write, parts):
    s = parts.sections
    account = re.search(r'(?s)<Account id="A1".*?</Account>', s["Accounts"])
    assert account is not None
    customers = s["Customers"].replace("</Customers>", account.group(0) + "</Customers>")
    accounts = s["Accounts"].replace(account.group(0), "")
    blocks = [s["FxRates"], s["Branches"], s["Products"], customers, accounts,
              s["Holdings"], s["Transactions"]]
    path = write(parts.build(*blocks))

    result = import_feed(path)

    assert_rejected(engine, result, path, "Account A1", "outside its section")


@pytest.mark.parametrize("element", [
    "<Foo/>", "<Foo>text</Foo>", '<x:Rate xmlns:x="urn:other" currency="EUR" toCny="7.8"/>',
], ids=["empty", "with-text", "record-name-foreign-ns"])
def test_unknown_element_between_sections_is_rejected(engine, import_feed, write, parts,
                                                      element):
    s = parts.sections
    blocks = [s["FxRates"], s["Branches"], s["Products"], element, s["Customers"],
              s["Accounts"], s["Holdings"], s["Transactions"]]
    path = write(parts.build(*blocks))

    result = import_feed(path)

    assert_rejected(engine, result, path, "unexpected element")


@pytest.mark.parametrize("where", ["before-first-section", "before-trailer", "after-trailer"])
def test_unknown_element_at_the_edges_of_feed_is_rejected(engine, import_feed, write, parts,
                                                          where):
    blocks = list(parts.sections.values())
    body = "\n  ".join(blocks)
    if where == "before-first-section":
        data = parts.head + "<Foo/>" + body + trailer_for(body) + "</Feed>"
    elif where == "before-trailer":
        data = parts.head + body + "<Foo/>" + trailer_for(body) + "</Feed>"
    else:
        data = parts.head + body + trailer_for(body) + "<Foo/></Feed>"
    path = write(data.encode())

    result = import_feed(path)

    assert_rejected(engine, result, path, "unexpected element", "Foo")


def test_unknown_element_between_records_is_rejected(engine, import_feed, write, parts):
    s = parts.sections
    customers = s["Customers"].replace('<Customer id="C2"', '<Foo/><Customer id="C2"')
    blocks = [s["FxRates"], s["Branches"], s["Products"], customers, s["Accounts"],
              s["Holdings"], s["Transactions"]]
    path = write(parts.build(*blocks))

    result = import_feed(path)

    assert_rejected(engine, result, path, "unexpected element", "Foo")


def test_unknown_element_at_the_end_of_a_section_is_rejected(engine, import_feed, write,
                                                             parts):
    """Regression: only elements followed by another record were checked, so an unknown
    last child of a section was silently dropped and the file applied."""
    s = parts.sections
    customers = s["Customers"].replace("</Customers>", "<Foo/></Customers>")
    blocks = [s["FxRates"], s["Branches"], s["Products"], customers, s["Accounts"],
              s["Holdings"], s["Transactions"]]
    path = write(parts.build(*blocks))

    result = import_feed(path)

    assert_rejected(engine, result, path, "unexpected element", "Foo")


# --- Feed attributes ---------------------------------------------------------------------

@pytest.mark.parametrize("source", ["cbs", "Cbs", "C", "1CBS", "CBS-2", "CBS ",
                                    "ABCDEFGHIJKLMNOPQ", ""])
def test_bad_source_is_rejected(engine, import_feed, write, source):
    path = write(feed_bytes(source=source))

    result = import_feed(path)

    assert_rejected(engine, result, path, "source")


@pytest.mark.parametrize("sequence", ["0", "-1", "abc", "", "1.5", "+3", " 7", "1234567890",
                                      "0x10", "١٢"])
def test_bad_sequence_is_rejected(engine, import_feed, write, sequence):
    path = write(feed_bytes(sequence))

    result = import_feed(path)

    assert_rejected(engine, result, path, "sequence")


def test_superscript_digit_sequence_is_rejected_with_a_clear_reason(engine, import_feed,
                                                                    write):
    """Regression: str.isdigit() accepts '²' and int() then raised: 'internal error'."""
    path = write(feed_bytes("²"))

    result = import_feed(path)

    assert_rejected(engine, result, path, "sequence")


@pytest.mark.parametrize("business_date", ["2026-13-40", "2026-02-30", "", "yesterday",
                                           "20-11-2026", "2026-11-20T00:00:00"])
def test_bad_business_date_is_rejected(engine, import_feed, write, business_date):
    path = write(feed_bytes(business_date=business_date))

    result = import_feed(path)

    assert_rejected(engine, result, path, "businessDate")


@pytest.mark.parametrize("business_date", ["20261120", "2026-W47-5"])
def test_business_date_not_in_yyyy_mm_dd_is_rejected(engine, import_feed, write,
                                                     business_date):
    """Regression: date.fromisoformat (3.11+) also accepts basic and week-date forms."""
    path = write(feed_bytes(business_date=business_date))

    result = import_feed(path)

    assert_rejected(engine, result, path, "businessDate")


# --- re-running and recovering -----------------------------------------------------------

def test_rerunning_a_rejected_file_is_rejected_again_and_changes_nothing(
        engine, import_feed, write):
    good = import_feed(write(feed_bytes(1, bad=False)))
    assert good.status == "applied", good.reason
    before = dump(engine)
    # the broken delivery would change balances and names, and add transactions
    broken = write(feed_bytes(2, n_txn=300, names=("甲", "乙", "丙"), balance="99.99",
                              records_override=1))

    first = import_feed(broken)
    assert_rejected(engine, first, broken, "Trailer", batches=2, empty=False)
    second = import_feed(broken)
    assert_rejected(engine, second, broken, "Trailer", batches=3, empty=False)

    assert second.reason == first.reason
    assert second.batch_id != first.batch_id
    assert dump(engine) == before


def test_rerunning_a_hostile_file_on_an_empty_database_still_changes_nothing(
        engine, import_feed, write):
    path = write(with_doctype(feed_bytes(), BILLION_LAUGHS))

    for n in range(1, 4):
        assert_rejected(engine, import_feed(path), path, "DTD", batches=n)


def test_a_corrected_file_with_the_same_sequence_is_applied_after_a_rejection(
        engine, import_feed, write):
    assert import_feed(write(feed_bytes(1, bad=False))).status == "applied"
    rejected = import_feed(write(feed_bytes(2, bad=False, n_txn=10, omit_trailer=True)))
    assert rejected.status == "rejected"
    assert (rejected.source, rejected.sequence) == ("CBS", 2)

    corrected = import_feed(write(feed_bytes(2, bad=False, n_txn=10)))

    assert (corrected.status, corrected.reason) == ("applied", None)
    assert corrected.warnings == []  # no "late delivery", no "gap": sequence 2 was not used
    assert corrected.new_transactions == 4  # T000006..T000009; the first six were loaded
    deliveries = m.FeedDelivery.__table__
    with engine.connect() as conn:
        assert stats(conn)["transactions"] == 10
        assert conn.execute(
            select(deliveries.c.sequence, deliveries.c.batch_id)
            .where(deliveries.c.source == "CBS").order_by(deliveries.c.sequence)
        ).all() == [(1, 1), (2, corrected.batch_id)]
    # and the sequence after it follows without a gap
    after = import_feed(write(feed_bytes(3, bad=False)))
    assert (after.status, after.warnings) == ("applied", [])


def test_first_delivery_rejected_then_corrected_is_applied(engine, import_feed, write):
    bad = import_feed(write(feed_bytes(7, digest_override="f" * 64)))
    assert bad.status == "rejected"

    good = import_feed(write(feed_bytes(7)))

    assert good.status == "partial"
    assert good.warnings == []
    with engine.connect() as conn:
        assert stats(conn) == {"customers": 3, "accounts": 3, "holdings": 1,
                               "transactions": 6, "quarantined": 2, "batches": 2}
