"""Ingest benchmark: the full pipeline against its floor, on SQLite and PostgreSQL.

    python bench/ingest.py                                  # 1,000,000 customers, 5,000,000 txns
    python bench/ingest.py --customers 100000 --transactions 500000 --db sqlite

For each database it measures, each in a fresh process (so peak RSS is that step's own):
  floor     lxml iterparse of the same file (one pass over each record's children) plus the
            raw bulk insert of the same rows (sqlite3 executemany / psycopg COPY, 10k rows a
            call, one transaction) into freshly migrated tables of the same database;
  pipeline  `integration.pipeline.import_file` of the same file into a fresh database.
It prints records/s, the ratio pipeline/floor and peak RSS.  Run by hand; not part of tests.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NS = "{urn:bankcrm:feed:1}"
BDATE = date(2026, 11, 20)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"


def generate(path: Path, customers: int, transactions: int, seed: int = 7) -> None:
    """A CBS feed: customers with 2 accounts each, transactions spread over the accounts."""
    from integration.feedwriter import FeedWriter
    from integration.identity import resident_id_check_char

    rng = random.Random(seed)
    with FeedWriter(path, "CBS", BDATE, 1, pretty=True) as feed:
        feed.branch("HO", "总行", "杭州")
        feed.branch("S01", "凤起路支行", "杭州", parent="HO")
        feed.product("SAV", "活期储蓄", "DEPOSIT", "R1", "CNY", "0")
        feed.product("TD1Y", "一年定期", "TIME_DEPOSIT", "R1", "CNY", "50", term_days=365)
        for i in range(customers):
            # Unique documents: the birth date advances every 1,000 customers.
            born = date(1950, 1, 1) + timedelta(days=(i // 1000) * 7)
            body = f"330102{born:%Y%m%d}{i % 1000:03d}"
            feed.customer(
                f"C{i:08d}", rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                gender="MF"[i % 2], birth_date=born,
                id_doc=("RESIDENT_ID", body + resident_id_check_char(body), None),
                mobile=f"138{i:08d}", branch="S01", manager=f"RM{i % 40:04d}",
                open_date=date(2015, 1, 1), status="ACTIVE")
        for i in range(customers):
            for j, (product, kind) in enumerate((("SAV", "SAVINGS"), ("TD1Y", "TIME_DEPOSIT"))):
                feed.account(f"A{i:08d}{j}", f"C{i:08d}", product=product, type=kind,
                             currency="CNY", balance=f"{rng.randint(0, 10**7) / 100:.2f}",
                             open_date=date(2015, 1, 1), status="ACTIVE", branch="S01")
        accounts = customers * 2
        for t in range(transactions):
            a = rng.randrange(accounts)
            amount = rng.randint(-500000, 800000) / 100
            feed.transaction(
                f"T{t:010d}", f"A{a // 2:08d}{a % 2}",
                booking_date=BDATE - timedelta(days=rng.randrange(365)),
                amount=f"{amount:.2f}", currency="CNY",
                type="TRANSFER_IN" if amount >= 0 else "PAYMENT", channel="MOBILE",
                counterparty=("杭州某某科技有限公司 & Co", None, None), narrative="工资 salary")


def fresh_database(kind: str, workdir: Path, pg_url: str) -> str:
    from sqlalchemy import text

    from integration.db import make_engine
    from integration.migrate import upgrade

    if kind == "sqlite":
        path = workdir / "bench.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        admin = make_engine(pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "crm_bench" WITH (FORCE)'))
            conn.execute(text('CREATE DATABASE "crm_bench"'))
        admin.dispose()
        from sqlalchemy import make_url
        url = make_url(pg_url).set(database="crm_bench").render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


# --- the floor -----------------------------------------------------------------------------

def _records(path: Path):  # type: ignore[no-untyped-def]
    """Stream (tag, attributes, {child: text}) with one pass over each record's children."""
    from lxml import etree

    tags = [NS + t for t in ("Customer", "Account", "Transaction")]
    for _event, elem in etree.iterparse(str(path), events=("end",), tag=tags,
                                        resolve_entities=False, no_network=True):
        parent = elem.getparent()
        if parent is not None and parent.tag in (NS + "Customer", NS + "Account"):
            continue
        fields = {child.tag[len(NS):]: child.text for child in elem}
        if elem.tag == NS + "Transaction":
            for child in elem:
                if child.tag == NS + "Amount":
                    fields["currency"] = child.get("currency")
        yield elem.tag[len(NS):], dict(elem.attrib), fields
        elem.clear(keep_tail=True)
        while elem.getprevious() is not None:
            del parent[0]


def floor_parse(path: Path) -> dict[str, float]:
    start = time.perf_counter()
    count = sum(1 for _ in _records(path))
    return {"seconds": time.perf_counter() - start, "records": count}


def floor_insert(path: Path, url: str) -> dict[str, float]:
    """Parse and raw-insert the same rows (no validation, no resolution: the floor)."""
    from integration.db import make_engine, to_units

    engine = make_engine(url)
    raw = engine.raw_connection()
    dbapi = raw.driver_connection
    is_pg = url.startswith("postgresql")
    cust_cols = ("id", "name", "gender", "birth_date", "id_type", "id_number", "mobile",
                 "branch_code", "manager_staff_id", "open_date", "status", "provenance",
                 "dq_warnings", "created_at", "updated_at")
    acct_cols = ("id", "source", "source_id", "customer_id", "product_code", "type",
                 "currency", "balance", "balance_date", "open_date", "status", "branch_code")
    txn_cols = ("source", "source_id", "account_id", "booking_date", "amount", "currency",
                "type", "channel", "counterparty_name", "narrative", "closed")
    now = "2026-11-21 00:00:00+00:00"
    # The stored form of an amount: as given for PostgreSQL, ten-thousandths on SQLite.
    money = (lambda text: text) if is_pg else to_units
    customer_ids: dict[str, int] = {}
    account_ids: dict[str, int] = {}
    batches: dict[str, list[tuple]] = {"customers": [], "accounts": [], "transactions": []}
    columns = {"customers": cust_cols, "accounts": acct_cols, "transactions": txn_cols}
    if not is_pg:
        dbapi.execute("INSERT INTO branches (code, name, source, closed) VALUES "
                      "('HO','x','CBS',0),('S01','y','CBS',0)")
        dbapi.execute("INSERT INTO products (code, name, category, risk_level, currency, "
                      "source, closed) VALUES ('SAV','a','DEPOSIT','R1','CNY','CBS',0),"
                      "('TD1Y','b','TIME_DEPOSIT','R1','CNY','CBS',0)")
    else:
        with dbapi.cursor() as cur:
            cur.execute("INSERT INTO branches (code, name, source, closed) VALUES "
                        "('HO','x','CBS',false),('S01','y','CBS',false)")
            cur.execute("INSERT INTO products (code, name, category, risk_level, currency, "
                        "source, closed) VALUES ('SAV','a','DEPOSIT','R1','CNY','CBS',false),"
                        "('TD1Y','b','TIME_DEPOSIT','R1','CNY','CBS',false)")
    dbapi.commit()
    if not is_pg:
        dbapi.execute("BEGIN")  # the engine's connections run in autocommit mode otherwise

    def flush(table: str) -> None:
        rows = batches[table]
        if not rows:
            return
        cols = columns[table]
        if is_pg:
            with dbapi.cursor() as cur:
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        else:
            dbapi.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                              f"({', '.join('?' * len(cols))})", rows)
        rows.clear()

    start = time.perf_counter()
    count = 0
    for tag, attrs, f in _records(path):
        count += 1
        if tag == "Customer":
            cid = len(customer_ids) + 1
            customer_ids[attrs["id"]] = cid
            batches["customers"].append((cid, f["Name"], f.get("Gender"), f.get("BirthDate"),
                                         "RESIDENT_ID", None, f.get("Mobile"), f.get("Branch"),
                                         f.get("Manager"), f.get("OpenDate"), "ACTIVE", "{}",
                                         "[]", now, now))
            table = "customers"
        elif tag == "Account":
            aid = len(account_ids) + 1
            account_ids[attrs["id"]] = aid
            batches["accounts"].append((aid, "CBS", attrs["id"], customer_ids[attrs["customer"]],
                                        f["Product"], f["Type"], f["Currency"], money(f["Balance"]),
                                        "2026-11-20", f.get("OpenDate"), "ACTIVE", f.get("Branch")))
            table = "accounts"
        else:
            batches["transactions"].append(("CBS", attrs["id"], account_ids[attrs["account"]],
                                            f["BookingDate"], money(f["Amount"]), f["currency"],
                                            f["Type"], f["Channel"], None, f.get("Narrative"),
                                            False if is_pg else 0))
            table = "transactions"
        if len(batches[table]) >= 10000:
            if table != "customers":
                flush("customers")
            if table == "transactions":
                flush("accounts")
            flush(table)
    for table in ("customers", "accounts", "transactions"):
        flush(table)
    dbapi.commit()  # one transaction, like the pipeline's batch
    seconds = time.perf_counter() - start
    raw.close()
    engine.dispose()
    return {"seconds": seconds, "records": count}


def pipeline(path: Path, url: str) -> dict[str, float]:
    from integration.db import make_engine
    from integration.pipeline import import_file

    engine = make_engine(url)
    start = time.perf_counter()
    result = import_file(engine, path, max_bytes=1 << 40, chunk=5000)
    seconds = time.perf_counter() - start
    engine.dispose()
    if result.status != "applied":
        raise SystemExit(f"pipeline did not apply the file: {result}")
    return {"seconds": seconds, "records": result.read}


def child(step: str, path: str, url: str) -> None:
    """Run one step in this process and print its figures as JSON."""
    figures = {"floor_parse": lambda: floor_parse(Path(path)),
               "floor_insert": lambda: floor_insert(Path(path), url),
               "pipeline": lambda: pipeline(Path(path), url)}[step]()
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))


def run_step(step: str, path: Path, url: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", step, str(path), url],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--transactions", type=int, default=5_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg-url", default=os.environ.get(
        "CRM_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--child", nargs=3, metavar=("STEP", "FILE", "URL"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    feed = args.workdir / f"feed-{args.customers}-{args.transactions}.xml"
    if not feed.exists():
        start = time.perf_counter()
        generate(feed, args.customers, args.transactions)
        print(f"generated {feed.name}: {feed.stat().st_size / 1e6:.0f} MB "
              f"in {time.perf_counter() - start:.0f} s")
    records = 4 + args.customers * 3 + args.transactions
    print(f"feed: {args.customers:,} customers, {args.customers * 2:,} accounts, "
          f"{args.transactions:,} transactions = {records:,} records, "
          f"{feed.stat().st_size / 1e6:.0f} MB")
    parse = run_step("floor_parse", feed, "")
    print(f"  parse only (lxml iterparse)  {parse['seconds']:8.1f} s "
          f"{parse['records'] / parse['seconds']:>10,.0f} rec/s  RSS {parse['peak_rss_mb']:.0f} MB")
    for kind in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
        floor = run_step("floor_insert", feed, fresh_database(kind, args.workdir, args.pg_url))
        full = run_step("pipeline", feed, fresh_database(kind, args.workdir, args.pg_url))
        print(f"{kind}:")
        print(f"  floor (parse + raw insert)   {floor['seconds']:8.1f} s "
              f"{floor['records'] / floor['seconds']:>10,.0f} rec/s  "
              f"RSS {floor['peak_rss_mb']:.0f} MB")
        print(f"  pipeline (crm import)        {full['seconds']:8.1f} s "
              f"{full['records'] / full['seconds']:>10,.0f} rec/s  "
              f"RSS {full['peak_rss_mb']:.0f} MB")
        print(f"  ratio pipeline/floor         {full['seconds'] / floor['seconds']:8.2f}")


if __name__ == "__main__":
    main()
