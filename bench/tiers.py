"""Tier evaluation benchmark: a month's evaluation of N customers beside the bare aggregate
query on the same data, on SQLite and PostgreSQL.

    python bench/tiers.py                                      # 1,000,000 customers, SQLite
    python bench/tiers.py --db postgresql                      # the same on PostgreSQL
    python bench/tiers.py --customers 100000 --db postgresql   # a quick run

1. Builds (or reuses, under bench/out/) a database of N customers, directly by set-based SQL
   (INSERT … SELECT from a recursive counter; the aggregates are the input, so the feed
   pipeline is not involved): 2 accounts per customer (savings, plus a time deposit, a card
   or a loan), a fund holding for one in four, and 3 months (Aug-Oct 2026) of
   ``CustomerMonthAum`` per customer. Average daily AUM follows a retail bank's pyramid
   (about 70% below Gold, 22% Gold, 6.5% Platinum, 1.2% Diamond, 0.3% Private Banking) and
   moves ±5% from month to month, so customers near a threshold go up, down and are held.
2. Times, each in its own transaction:
   (a) the bare aggregate query the evaluation stands on (``evaluation.window_sums``):
       per customer over the 3 months, Σ daily AUM, Σ days, Σ contribution, months with
       data and the month's products — one GROUP BY over the aggregates, run to the end
       (its rows counted and its columns summed by the database); and, beside it, the
       same rows materialised in a temporary table (what writing a million rows costs by
       itself);
   (b) the whole evaluation (``portal.vip.evaluation.evaluate``): September (everyone new:
       decisions and CustomerTier rows inserted), October (the steady state: from
       September's decisions, CustomerTier rows updated) and October again (re-evaluation:
       its decisions replaced),
   and prints them with the ratio of each evaluation to the bare query (a). Before each timed
   step the rewritten tables are vacuumed and analysed (untimed), as autovacuum leaves them
   between two monthly runs.

Run by hand; not part of tests.  Aim (issue 5): the whole evaluation < 60 s and within 3× the
bare query.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
MONTHS = ((date(2026, 8, 1), date(2026, 8, 31)), (date(2026, 9, 1), date(2026, 9, 30)),
          (date(2026, 10, 1), date(2026, 10, 31)))
PRIME = 1_000_003


def database_url(db: str, customers: int) -> str:
    if db == "sqlite":
        OUT.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{OUT / f'tiers-{customers}.sqlite3'}"
    base = os.environ.get("CRM_BENCH_DATABASE_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    from sqlalchemy import make_url

    return make_url(base).set(database=f"crm_bench_tiers_{customers}").render_as_string(
        hide_password=False)


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database if it does not exist."""
    from sqlalchemy import make_url, text

    from integration.db import make_engine

    if not url.startswith("postgresql"):
        return
    name = make_url(url).database
    admin = make_engine(make_url(url).set(database="postgres").render_as_string(
        hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                            {"n": name}).scalar():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def counter(n: int) -> Any:
    """A recursive CTE of the integers 1..n (SQLite and PostgreSQL alike)."""
    from sqlalchemy import Integer, literal, select

    seq = select(literal(1, Integer()).label("i")).cte("seq", recursive=True)
    return seq.union_all(select((seq.c.i + 1).label("i")).where(seq.c.i < n))


def build(engine: Any, customers: int) -> None:
    """The bench bank, set-based (a few INSERT … SELECT statements)."""
    from sqlalchemy import (
        JSON,
        BigInteger,
        Boolean,
        Date,
        Integer,
        String,
        case,
        cast,
        insert,
        literal,
        select,
        text,
        union_all,
    )
    from sqlalchemy.orm import Session

    from integration import models as m
    from integration.db import utcnow
    from portal.vip.models import CustomerMonthAum

    dialect = engine.dialect.name
    scale = 10_000 if dialect == "sqlite" else 1  # Decimal4 on SQLite: ten-thousandths
    now = utcnow()
    with Session(engine) as session, session.begin():
        session.add(m.Branch(code="HO", name="总行", city="杭州", source="BENCH"))
        session.add_all(m.Product(code=code, name=name, category=category, risk_level="R1",
                                  currency="CNY", source="BENCH")
                        for code, name, category in (
                            ("SAV", "活期储蓄", "DEPOSIT"), ("TD1Y", "一年定期", "DEPOSIT"),
                            ("CARD", "信用卡", "CARD"), ("LOAN", "个人贷款", "LOAN"),
                            ("FUND", "稳健债券基金", "FUND")))
        session.flush()
        seq = counter(customers)
        i = seq.c.i
        # 0 .. PRIME-1, spread evenly over the customers
        hashed = (i * literal(2_654_435_761, BigInteger())) % PRIME
        session.execute(insert(m.Customer).from_select(
            ["id", "name", "status", "branch_code", "manager_staff_id", "provenance",
             "dq_warnings", "created_at", "updated_at"],
            select(i, literal("客户", String()) + cast(i, String()), literal("ACTIVE"),
                   literal("HO"), literal("RM0001"), literal({}, JSON()), literal([], JSON()),
                   literal(now), literal(now))))
        kinds = case((hashed % 10 < 4, literal("TD1Y")), (hashed % 10 < 7, literal("CARD")),
                     else_=literal("LOAN"))
        types = case((hashed % 10 < 4, literal("TIME_DEPOSIT")),
                     (hashed % 10 < 7, literal("CREDIT_CARD")), else_=literal("LOAN"))
        columns = ["id", "source", "source_id", "customer_id", "product_code", "type",
                   "currency", "balance", "balance_date", "status"]
        session.execute(insert(m.Account).from_select(columns, union_all(
            select(i * 2, literal("BENCH"), cast(i * 2, String()), i, literal("SAV"),
                   literal("SAVINGS"), literal("CNY"), (hashed % 50_000) * scale,
                   literal(date(2026, 10, 31), Date()), literal("ACTIVE")),
            select(i * 2 + 1, literal("BENCH"), cast(i * 2 + 1, String()), i, kinds,
                   types, literal("CNY"), (hashed % 200_000) * scale,
                   literal(date(2026, 10, 31), Date()), literal("ACTIVE")))))
        session.execute(insert(m.Holding).from_select(
            ["id", "source", "source_id", "customer_id", "product_code", "units",
             "market_value", "currency", "closed"],
            select(i, literal("BENCH"), cast(i, String()), i, literal("FUND"),
                   literal(1000 * scale), (hashed % 300_000) * scale, literal("CNY"),
                   literal(False, Boolean())).where(i % 4 == 0)))
        # Average daily AUM in yuan: a pyramid over the hash, moving ±5% month to month.
        adb = case(
            (hashed < 700_000, hashed * 5 // 70),
            (hashed < 920_000, 50_000 + (hashed - 700_000) * 45 // 22),
            (hashed < 985_000, 500_000 + (hashed - 920_000) * 1_500_000 // 65_000),
            (hashed < 997_000, 2_000_000 + (hashed - 985_000) * 4_000_000 // 12_000),
            else_=6_000_000 + (hashed - 997_000) * 14_000_000 // 3_003)
        months = union_all(*[
            select(literal(k, Integer()).label("k"), literal(start, Date()).label("month"),
                   literal(end, Date()).label("last_date"),
                   literal(end.day, Integer()).label("days"))
            for k, (start, end) in enumerate(MONTHS)]).subquery("months")
        monthly = adb * (100 + (i + months.c.k * 3) % 11 - 5) // 100
        session.execute(insert(CustomerMonthAum).from_select(
            ["customer_id", "month", "aum_day_sum", "days", "last_date", "last_aum",
             "contribution", "products"],
            select(i, months.c.month, monthly * months.c.days * scale, months.c.days,
                   months.c.last_date, monthly * scale,
                   monthly * months.c.days * 15 // 365_000 * scale,
                   case((i % 4 == 0, literal(3)), else_=literal(2)))
            .select_from(seq).join(months, months.c.days > 0)))
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()


def count(engine: Any, table: Any) -> int:
    from sqlalchemy import func, select

    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar() or 0


def prepared(engine: Any, customers: int) -> bool:
    from sqlalchemy import inspect

    from portal.vip.models import CustomerMonthAum

    return inspect(engine).has_table("customer_month_aum") and \
        count(engine, CustomerMonthAum) == 3 * customers


def reset_decisions(engine: Any) -> None:
    from sqlalchemy import delete

    from portal.vip.models import CustomerTier, TierDecision

    with engine.begin() as conn:
        conn.execute(delete(CustomerTier))
        conn.execute(delete(TierDecision))


def settle(engine: Any) -> None:
    """Between two months' evaluations autovacuum has long run: vacuum (PostgreSQL) and
    analyse the tables the evaluation rewrites before each timed step (not timed)."""
    from sqlalchemy import text

    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("VACUUM ANALYZE customer_tiers, tier_decisions"))
        else:
            conn.execute(text("ANALYZE customer_tiers"))
            conn.execute(text("ANALYZE tier_decisions"))


def timed(label: str, work: Any) -> float:
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    print(f"  {label:<44} {seconds:8.2f} s   {result if result is not None else ''}",
          flush=True)
    return seconds


def bare_query(engine: Any, month: date) -> Any:
    """(a): the aggregate over the window, every group and every column computed, its rows
    counted and its columns summed (a bare count(*) lets PostgreSQL drop the unread
    aggregates: it counts the groups without summing anything)."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from portal.vip import evaluation, rules

    with Session(engine) as session, session.begin():
        window = rules.current(session).version.window_months
        sums = evaluation.window_sums(month, window).subquery("sums")
        rows, *_ = session.execute(select(
            func.count(), func.sum(sums.c.aum_days), func.sum(sums.c.days),
            func.sum(sums.c.contribution), func.sum(sums.c.months),
            func.sum(sums.c.products)).select_from(sums)).one()
    return f"{rows:,} rows"


def bare_materialised(engine: Any, month: date) -> Any:
    """(a'): the same rows written to a temporary table."""
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from portal.vip import evaluation, rules

    with Session(engine) as session, session.begin():
        window = rules.current(session).version.window_months
        session.execute(evaluation.window_sums(month, window)
                        .into("bench_sums", temporary=True))
        rows = session.execute(text("SELECT count(*) FROM bench_sums")).scalar()
        session.execute(text("DROP TABLE bench_sums"))
    return f"{rows:,} rows"


def evaluate(engine: Any, month: date) -> Any:
    from sqlalchemy.orm import Session

    from portal.vip import evaluation

    with Session(engine) as session, session.begin():
        result = evaluation.evaluate(session, month)
    counts = ", ".join(f"{k} {v:,}" for k, v in result.counts.items() if v)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true", help="Build the data again.")
    args = parser.parse_args()

    from sqlalchemy import text

    from integration.db import make_engine
    from integration.migrate import upgrade

    url = database_url(args.db, args.customers)
    if args.rebuild and args.db == "sqlite":
        Path(url.split("///", 1)[1]).unlink(missing_ok=True)
    ensure_database(url)
    engine = make_engine(url)
    print(f"tier evaluation bench: {args.customers:,} customers on {engine.dialect.name} "
          f"({url.rsplit('/', 1)[-1]})", flush=True)
    if args.rebuild and args.db == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    if not prepared(engine, args.customers):
        upgrade(engine)
        timed("build (set-based, 3 months of aggregates)", lambda: build(engine, args.customers))
    reset_decisions(engine)
    settle(engine)
    september, october = MONTHS[1][0], MONTHS[2][0]
    bare = timed("(a) bare aggregate query", lambda: bare_query(engine, october))
    timed("(a') bare aggregate query, materialised", lambda: bare_materialised(engine, october))
    first = timed("(b) evaluation of 2026-09 (all new)", lambda: evaluate(engine, september))
    settle(engine)
    steady = timed("(b) evaluation of 2026-10 (from 2026-09)", lambda: evaluate(engine, october))
    settle(engine)
    again = timed("(b) re-evaluation of 2026-10", lambda: evaluate(engine, october))
    bare_again = timed("(a) bare aggregate query, again", lambda: bare_query(engine, october))
    base = min(bare, bare_again)
    print(f"\n  bare query {base:.2f} s; evaluation / bare: first {first / base:.2f}x, "
          f"steady {steady / base:.2f}x, re-evaluation {again / base:.2f}x "
          f"(aim: < 60 s and <= 3x)")
    engine.dispose()


if __name__ == "__main__":
    main()
