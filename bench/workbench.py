"""Workbench benchmark: the nightly jobs, the book of business, its export and the team view
at scale, on SQLite and PostgreSQL.

    python bench/workbench.py                                     # 1,000,000 customers, SQLite
    python bench/workbench.py --customers 100000 --db postgresql  # a quick run

1. Builds (or reuses, under bench/out/) a bank of N customers loaded through the real pipeline
   (`integration.pipeline.import_file`): a head office, branch B01 with five sub-branches
   holding min(N, 100,000) customers (the bench branch manager's subtree) and nine other
   branches; RMs of about 3,000 customers each (RM0001, the bench RM, has 3,000), 2 accounts
   per customer, a fund holding for one in five, a loan for one in ten, --txns-per-customer
   transactions each over the year.  Then the CRM's own data, as RMs would have made it:
   contacts (60% of customers, 1-3 each over 400 days), open and done tasks, opportunities
   in every stage, a few open alerts and some reassignments (to and from the bench RM).
2. Times every nightly job registered in `integration.jobs` separately
   (`run_nightly(..., only={name})`), customer_metrics first (the book reads it).
3. In process, with the Flask test client: p50 / p95 / p99 of the book's first page for the
   RM (3,000 customers) and for the branch manager (100,000) under several sorts and
   filters, the Excel export of the RM's book and of the branch manager's, the team view
   and /healthz, interleaved; then a bulk reassignment of 5,000 customers (the most one
   move takes) with its hand-over, timed and rolled back.

Run by hand; not part of tests.  Aim (issue 4): every book page well under a second.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BDATE = date(2026, 11, 20)
PASSWORD = "bench-password-2026"
BENCH_RM = "RM0001"
PER_RM = 3000
SUBTREE = 100_000
SUB_BRANCHES = ("S011", "S012", "S013", "S014", "S015")
OTHER_BRANCHES = tuple(f"B{b:02d}" for b in range(2, 11))
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


# --- the bank ----------------------------------------------------------------------------

def layout(customers: int) -> tuple[int, int]:
    """(RMs in all, RMs of the B01 subtree): about PER_RM customers each."""
    rms = max(2, round(customers / PER_RM))
    in_subtree = max(1, min(rms, round(min(SUBTREE, customers) / (customers / rms))))
    return rms, in_subtree


def rm_branch(rm: int, in_subtree: int) -> str:
    if rm < in_subtree:
        return SUB_BRANCHES[rm % len(SUB_BRANCHES)]
    return f"{OTHER_BRANCHES[rm % len(OTHER_BRANCHES)]}1"


def generate(path: Path, customers: int, txns_per_customer: int, seed: int = 17) -> None:
    """One CBS feed: reference data, customers, accounts, holdings, transactions."""
    from integration.feedwriter import FeedWriter
    from integration.identity import resident_id_check_char

    rng = random.Random(seed)
    rms, in_subtree = layout(customers)
    with FeedWriter(path, "CBS", BDATE, 1, pretty=False) as feed:
        feed.branch("HO", "总行", "杭州")
        feed.branch("B01", "城东分行", "杭州", parent="HO")
        for code in SUB_BRANCHES:
            feed.branch(code, f"城东{code}支行", "杭州", parent="B01")
        for code in OTHER_BRANCHES:
            feed.branch(code, f"{code}分行", "宁波", parent="HO")
            feed.branch(f"{code}1", f"{code}一支行", "宁波", parent=code)
        feed.product("SAV", "活期储蓄", "DEPOSIT", "R1", "CNY", "0")
        feed.product("TD1Y", "一年定期", "TIME_DEPOSIT", "R1", "CNY", "50", term_days=365)
        feed.product("FUND1", "稳健债券基金", "FUND", "R2", "CNY", "1000")
        feed.product("LOAN1", "个人住房贷款", "LOAN", "R1", "CNY", "0")
        for i in range(customers):
            born = date(1950, 1, 1) + timedelta(days=(i // 1000) * 7)
            body = f"330102{born:%Y%m%d}{i % 1000:03d}"
            rm = i % rms
            status = "DORMANT" if i % 23 == 0 else "ACTIVE"
            feed.customer(
                f"C{i:08d}", rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                gender="MF"[i % 2], birth_date=born,
                id_doc=("RESIDENT_ID", body + resident_id_check_char(body), None),
                mobile=f"138{i:08d}", branch=rm_branch(rm, in_subtree), manager=f"RM{rm:04d}",
                open_date=date(2015, 1, 1), status=status)
        for i in range(customers):
            branch = rm_branch(i % rms, in_subtree)
            # A long tail: most customers hold little, a few hold millions.
            wealth = rng.paretovariate(1.2) * 20_000
            feed.account(f"A{i:08d}0", f"C{i:08d}", product="SAV", type="SAVINGS",
                         currency="CNY", balance=f"{min(wealth, 5e7) * 0.4:.2f}",
                         open_date=date(2015, 1, 1), status="ACTIVE", branch=branch)
            feed.account(f"A{i:08d}1", f"C{i:08d}", product="TD1Y", type="TIME_DEPOSIT",
                         currency="CNY", balance=f"{min(wealth, 5e7) * 0.6:.2f}",
                         open_date=date(2015, 1, 1),
                         maturity_date=BDATE + timedelta(days=rng.randrange(1, 365)),
                         status="ACTIVE", branch=branch)
            if i % 10 == 3:
                feed.account(f"L{i:08d}", f"C{i:08d}", product="LOAN1", type="LOAN",
                             currency="CNY", balance=f"{rng.randint(10**5, 3 * 10**6)}.00",
                             open_date=date(2018, 1, 1), status="ACTIVE", branch=branch)
        for i in range(0, customers, 5):
            value = rng.randint(10**4, 10**6)
            feed.holding(f"H{i:08d}", f"C{i:08d}", product="FUND1", units=f"{value // 2}",
                         market_value=f"{value}.00", currency="CNY", cost=f"{value}.00",
                         valuation_date=BDATE)
        for t in range(customers * txns_per_customer):
            i = rng.randrange(customers)
            amount = rng.randint(-500000, 800000) / 100
            if t % 997 == 0:
                amount = 80000.0  # a large inflow now and then
            feed.transaction(
                f"T{t:010d}", f"A{i:08d}{t % 2}",
                booking_date=BDATE - timedelta(days=rng.randrange(365)),
                amount=f"{amount:.2f}", currency="CNY",
                type="TRANSFER_IN" if amount >= 0 else "PAYMENT", channel="MOBILE",
                counterparty=("杭州某某科技有限公司", None, None), narrative="往来 transfer")


def bench_config(url: str, workdir: Path) -> Any:
    from config import load_config

    return load_config("development", {
        "CRM_DATABASE_URL": url,
        "CRM_INSTANCE_PATH": str(workdir / "workbench-instance"),
        "CRM_LOG_LEVEL": "WARNING",
    })


def create_users(url: str, workdir: Path, customers: int) -> None:
    """The bench branch manager (B01), the bench RM, a user for every RM of the subtree."""
    from portal import create_app
    from portal.extensions import db
    from portal.users import create_user

    rms, in_subtree = layout(customers)
    app = create_app(bench_config(url, workdir))
    with app.app_context():
        session = db.sessions()
        create_user(session, "bench_bm", "branch_manager", "B01", PASSWORD,
                    app.config["PASSWORD_METHOD"])
        for rm in range(in_subtree):
            staff = f"RM{rm:04d}"
            username = "bench_rm" if staff == BENCH_RM else f"rm_{staff.lower()}"
            # Cheap hashes for the RMs nobody signs in as.
            method = app.config["PASSWORD_METHOD"] if staff == BENCH_RM else "pbkdf2:sha256:1000"
            create_user(session, username, "rm", rm_branch(rm, in_subtree), PASSWORD, method,
                        staff, display_name=f"客户经理{rm:04d}")
        session.commit()
        session.close()
    app.extensions["crm.db"][0].dispose()


def crm_data(url: str, seed: int = 23) -> dict[str, int]:
    """Contacts, tasks, opportunities, alerts and reassignments, as bulk inserts."""
    from sqlalchemy import insert, select

    from integration.db import make_engine
    from integration.models import Customer
    from portal.models import AssignmentHistory, CustomerAssignment, User
    from portal.workbench.models import Contact, Opportunity, Task
    from risk.models import Alert

    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    today = now.date()
    engine = make_engine(url)
    with engine.begin() as conn:
        users = dict(conn.execute(select(User.staff_id, User.id)
                                  .where(User.staff_id.is_not(None))).all())
        bm = conn.execute(select(User.id).where(User.username == "bench_bm")).scalar_one()
        people = conn.execute(select(Customer.id, Customer.manager_staff_id,
                                     Customer.branch_code).order_by(Customer.id)).all()
        fallback = users[BENCH_RM]
        contacts, tasks, opportunities, alerts, moves = [], [], [], [], []
        counts = {"contacts": 0, "tasks": 0, "opportunities": 0, "alerts": 0,
                  "reassigned": 0}

        def flush(force: bool = False) -> None:
            for table, rows in ((Contact, contacts), (Task, tasks),
                                (Opportunity, opportunities), (Alert, alerts)):
                if rows and (force or len(rows) >= 10_000):
                    conn.execute(insert(table), rows)
                    counts[table.__tablename__] += len(rows)
                    rows.clear()

        for customer_id, staff, branch in people:
            user_id = users.get(staff, fallback)
            if rng.random() < 0.6:
                for _ in range(rng.randint(1, 3)):
                    contacts.append({
                        "customer_id": customer_id, "staff_id": staff, "user_id": user_id,
                        "branch_code": branch,
                        "contacted_at": now - timedelta(days=rng.randrange(400),
                                                        minutes=rng.randrange(600)),
                        "channel": rng.choice(("visit", "call", "meeting", "message")),
                        "purpose": "relationship", "outcome": "聊了理财需求",
                        "created_at": now})
            if rng.random() < 0.3:
                done = rng.random() < 0.4
                tasks.append({
                    "customer_id": customer_id, "assignee_staff_id": staff,
                    "branch_code": branch, "kind": "manual", "title": "回访客户",
                    "due_date": today + timedelta(days=rng.randrange(-30, 60)),
                    "priority": "normal", "status": "done" if done else "open",
                    "created_at": now, "completed_at": now if done else None})
            if rng.random() < 0.05:
                stage = rng.choice(("lead", "contacted", "needs_analysis", "proposal", "won",
                                    "lost"))
                opportunities.append({
                    "customer_id": customer_id, "owner_staff_id": staff,
                    "branch_code": branch, "product_code": "FUND1",
                    "amount": Decimal(rng.randint(1, 100) * 10_000), "stage": stage,
                    "expected_close": today + timedelta(days=rng.randrange(90)),
                    "lost_reason": "price" if stage == "lost" else None,
                    "won_on": today - timedelta(days=rng.randrange(40)) if stage == "won"
                    else None,
                    "confirmed_at": now if stage == "won" and rng.random() < 0.5 else None,
                    "created_at": now, "updated_at": now})
            if rng.random() < 0.02:
                alerts.append({"customer_id": customer_id, "rule": "dormancy",
                               "severity": "medium", "status": "open",
                               "business_date": BDATE, "detail": {}, "raised_at": now})
            flush()
        flush(force=True)

        # Reassignments inside the subtree: 100 customers to the bench RM, 100 away from it.
        subtree = [p for p in people if p[2] in SUB_BRANCHES]
        to_bench = [p for p in subtree if p[1] != BENCH_RM][:100]
        from_bench = [p for p in subtree if p[1] == BENCH_RM][:100]
        other = next((s for s in users if s not in (BENCH_RM, None)), None)
        for customer_id, staff, _branch in to_bench:
            moves.append((customer_id, staff, BENCH_RM))
        if other is not None:
            for customer_id, staff, _branch in from_bench:
                moves.append((customer_id, staff, other))
        if moves:
            conn.execute(insert(CustomerAssignment), [
                {"customer_id": cid, "staff_id": to, "feed_manager": feed, "assigned_by": bm,
                 "assigned_at": now, "reason": "bench"} for cid, feed, to in moves])
            conn.execute(insert(AssignmentHistory), [
                {"customer_id": cid, "from_staff_id": feed, "to_staff_id": to,
                 "assigned_by": bm, "assigned_at": now, "reason": "bench"}
                for cid, feed, to in moves])
        counts["reassigned"] = len(moves)
    engine.dispose()
    return counts


def database(args: argparse.Namespace) -> str:
    """The URL of a loaded bench database, built unless a complete one exists."""
    from sqlalchemy import make_url, text

    from integration.db import make_engine
    from integration.migrate import upgrade
    from integration.pipeline import import_file

    out = args.workdir
    out.mkdir(parents=True, exist_ok=True)
    tag = f"{args.customers}-{args.txns_per_customer}"
    done = out / f"workbench-{args.db}-{tag}.done"
    pg_name = f"crm_bench_workbench_{args.customers}"  # one per size: 100k and 1M side by side
    if args.db == "sqlite":
        path = out / f"workbench-{tag}.sqlite3"
        url = f"sqlite:///{path}"
    else:
        url = make_url(args.pg_url).set(database=pg_name).render_as_string(
            hide_password=False)
    if done.exists() and not args.rebuild:
        print(f"reusing the {args.db} database built {done.read_text().strip()}")
        engine = make_engine(url)
        upgrade(engine)  # migrations added since (indexes, say) apply to it as well
        engine.dispose()
        analyze(url)
        return url
    # Each stage leaves a marker, so a build interrupted after the (long) load resumes there.
    loaded, staffed = done.with_suffix(".loaded"), done.with_suffix(".users")
    if args.rebuild or not loaded.exists():
        for marker in (loaded, staffed):
            marker.unlink(missing_ok=True)
        if args.db == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        else:
            admin = make_engine(args.pg_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{pg_name}"'))
            admin.dispose()
        engine = make_engine(url)
        upgrade(engine)
        feed = out / f"workbench-feed-{tag}.xml"
        if not feed.exists():
            start = time.perf_counter()
            partial = feed.with_suffix(".partial")
            generate(partial, args.customers, args.txns_per_customer)
            partial.rename(feed)
            print(f"generated {feed.name}: {feed.stat().st_size / 1e6:,.0f} MB "
                  f"in {time.perf_counter() - start:.0f} s", flush=True)
        start = time.perf_counter()
        result = import_file(engine, feed, max_bytes=1 << 40, chunk=5000)
        if result.status != "applied":
            raise SystemExit(f"the pipeline did not apply {feed.name}: {result}")
        print(f"loaded {feed.name} through the pipeline: {result.read:,} records "
              f"in {time.perf_counter() - start:.0f} s", flush=True)
        engine.dispose()
        loaded.write_text(time.strftime("%Y-%m-%d %H:%M:%S") + "\n")
    else:
        print(f"resuming after the load of {loaded.read_text().strip()}", flush=True)
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
    if not staffed.exists():
        create_users(url, args.workdir, args.customers)
        start = time.perf_counter()
        counts = crm_data(url)
        print(f"CRM data in {time.perf_counter() - start:.0f} s: "
              + ", ".join(f"{v:,} {k}" for k, v in counts.items()), flush=True)
        staffed.write_text(time.strftime("%Y-%m-%d %H:%M:%S") + "\n")
    analyze(url)
    done.write_text(time.strftime("%Y-%m-%d %H:%M:%S") + "\n")
    return url


def analyze(url: str) -> None:
    """Fresh planner statistics, as after any nightly load; on PostgreSQL also the
    visibility map autovacuum keeps in a live database (index-only scans need it)."""
    from sqlalchemy import text

    from integration.db import make_engine

    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE" if url.startswith("postgresql") else "ANALYZE"))
    engine.dispose()


# --- the nightly jobs --------------------------------------------------------------------

def nightly(url: str, workdir: Path) -> None:
    """Each registered job on its own, in order (customer_metrics first: the book reads it)."""
    from portal import create_app
    from integration.db import make_engine
    from integration.jobs import nightly_jobs, run_nightly

    create_app(bench_config(url, workdir)).extensions["crm.db"][0].dispose()  # registers jobs
    engine = make_engine(url)
    print("\nnightly jobs, each on its own (run_nightly(only={name})):")
    for job in nightly_jobs():
        start = time.perf_counter()
        result = run_nightly(engine, BDATE, only={job.name})[job.name]
        elapsed = time.perf_counter() - start
        summary = str(result)
        print(f"  {job.name:28} {elapsed:8.2f} s   {summary[:90]}", flush=True)
    engine.dispose()


# --- requests ----------------------------------------------------------------------------

def sign_in(client: Any, username: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    match = CSRF.search(page)
    if not match:
        raise SystemExit("no CSRF token on /login")
    response = client.post("/login", data={"username": username, "password": PASSWORD,
                                           "csrf_token": match.group(1)})
    if response.status_code != 302:
        raise SystemExit(f"sign-in as {username} failed: {response.status_code}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def in_process(url: str, args: argparse.Namespace) -> None:
    from portal import create_app

    app = create_app(bench_config(url, args.workdir))
    bm, rm = app.test_client(), app.test_client()
    sign_in(bm, "bench_bm")
    sign_in(rm, "bench_rm")
    routes: dict[str, tuple[Any, str]] = {"/healthz": (bm, "/healthz")}
    for who, client in (("RM", rm), ("BM", bm)):
        for name, query in (
            ("by name", "sort=name"),
            ("by AUM desc", "sort=aum&dir=desc"),
            ("by liabilities desc", "sort=liabilities&dir=desc"),
            ("by last contact", "sort=last_contact"),
            ("by next task", "sort=next_task"),
            ("by alerts desc", "sort=alerts&dir=desc"),
            ("by RM", "sort=rm"),
            ("overdue only", "overdue=1&sort=aum&dir=desc"),
            ("band 500k, no contact 90d", "band=500000&contact_age=90"),
            ("AUM 1M-5M, active", "aum_min=1000000&aum_max=5000000&status=ACTIVE"),
            ("name prefix", "q=王"),
            ("page 20 by AUM", "sort=aum&dir=desc&page=20"),
        ):
            routes[f"book {who}: {name}"] = (client, f"/book?{query}")
        routes[f"book {who}: 100 rows by AUM"] = (client, "/book?sort=aum&dir=desc&per_page=100")
    routes["book BM: one RM, by AUM"] = (bm, f"/book?rm={BENCH_RM}&sort=aum&dir=desc")
    routes["book BM: one sub-branch"] = (bm, "/book?branch=S012&sort=last_contact")
    routes["team view (BM)"] = (bm, "/team")
    routes["export RM book (xlsx)"] = (rm, "/book/export.xlsx?sort=aum&dir=desc")
    routes["export BM book (xlsx)"] = (bm, "/book/export.xlsx?sort=aum&dir=desc")
    timings: dict[str, list[float]] = {name: [] for name in routes}
    cpu: dict[str, list[float]] = {name: [] for name in routes}
    errors: dict[str, int] = {name: 0 for name in routes}
    sizes: dict[str, int] = {}
    for round_ in range(args.warmup + args.requests):
        for name, (client, target) in routes.items():
            if name.startswith("export") and round_ >= args.warmup + args.export_requests:
                continue
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.get(target)
            body = response.get_data()
            elapsed = time.perf_counter() - start
            used = time.process_time() - start_cpu
            sizes[name] = len(body)
            if response.status_code != 200:
                errors[name] += 1
                if errors[name] == 1:
                    print(f"  ! {name}: {target} answered {response.status_code}")
            if round_ >= args.warmup:
                timings[name].append(elapsed * 1000)
                cpu[name].append(used * 1000)
    reassign_seconds = bulk_reassignment(app)
    app.extensions["crm.db"][0].dispose()

    print(f"\nin process (Flask test client), {args.requests} requests per route "
          f"({args.export_requests} exports), interleaved, after {args.warmup} warm-up rounds:")
    # CPU: this process's CPU time per request, i.e. the app and (SQLite) the database's
    # work without the waiting a busy machine adds; PostgreSQL works in its own processes.
    print(f"  {'route':40} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'CPU p50':>9} "
          f"{'KB':>7}  errors")
    for name, values in timings.items():
        if not values:
            continue
        print(f"  {name:40} {statistics.median(values):9.1f} {percentile(values, 95):9.1f} "
              f"{percentile(values, 99):9.1f} {statistics.median(cpu[name]):9.1f} "
              f"{sizes.get(name, 0) / 1024:7.0f}  {errors[name]:6}", flush=True)
    print(f"  bulk reassignment of {MAX_MOVE:,} customers (service, rolled back): "
          f"{reassign_seconds:.2f} s", flush=True)


MAX_MOVE = 5000


def bulk_reassignment(app: Any) -> float:
    """Move the branch manager's first MAX_MOVE customers by AUM to the bench RM (the most
    one move takes), with every hand-over task and notification, then roll back."""
    from sqlalchemy import select

    from integration.models import Customer
    from portal import audit
    from portal.assignments import reassign
    from portal.extensions import db
    from portal.models import User
    from portal.scope import restrict_listing, scope_for

    with app.app_context():
        session = db.session
        manager = session.scalar(select(User).where(User.username == "bench_bm"))
        scope = scope_for(session, manager)
        ids = list(session.scalars(restrict_listing(select(Customer.id), scope)
                                   .order_by(Customer.id).limit(MAX_MOVE)))
        started = time.perf_counter()
        reassign(session, audit.Actor.of(manager, "127.0.0.1"), scope, ids, BENCH_RM,
                 "bench: bulk move")
        session.flush()
        seconds = time.perf_counter() - started
        session.rollback()
    return seconds


def book_sizes(url: str) -> None:
    from sqlalchemy import func, select

    from integration.db import make_engine
    from integration.models import Customer
    from portal.scope import Scope, branch_subtree, restrict

    engine = make_engine(url)
    from sqlalchemy.orm import Session
    with Session(engine) as session:
        rm = session.scalar(restrict(select(func.count(Customer.id)),
                                     Scope("book", staff_id=BENCH_RM)))
        bm = session.scalar(restrict(select(func.count(Customer.id)), Scope(
            "branches", branches=branch_subtree(session, "B01"))))
        everyone = session.scalar(select(func.count(Customer.id)))
    engine.dispose()
    print(f"{everyone:,} customers; the bench RM's book: {rm:,}; the branch manager's "
          f"subtree (B01): {bm:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--txns-per-customer", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get(
        "CRM_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the database")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--skip-nightly", action="store_true")
    parser.add_argument("--requests", type=int, default=30,
                        help="timed in-process requests per route")
    parser.add_argument("--export-requests", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3, help="in-process warm-up rounds")
    args = parser.parse_args()

    print(f"{args.customers:,} customers, {args.txns_per_customer} transactions each; "
          f"database: {args.db}", flush=True)
    url = database(args)
    book_sizes(url)
    if args.build_only:
        return
    if not args.skip_nightly:
        nightly(url, args.workdir)
        analyze(url)  # as autovacuum would after the night's rewrite of the metrics
    print(f"load average before the requests: {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores", flush=True)
    in_process(url, args)


if __name__ == "__main__":
    main()
