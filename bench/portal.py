"""Portal benchmark: the customer 360 page and search at scale, beside a trivial route.

    python bench/portal.py                                   # 1,000,000 customers, SQLite
    python bench/portal.py --customers 20000 --db postgresql

1. Builds (or reuses, under bench/out/) a database of N customers with 2 accounts each and
   5 transactions per customer over 12 months, plus --heavy customers with --heavy-txns
   transactions each (an active customer's year), loaded through the real pipeline
   (`integration.pipeline.import_file`), and the bench users.
2. In process, with the Flask test client: median / p95 / p99 server time of
   /customers/<id> (random customers; as a head-office branch manager, who sees everyone,
   and as an RM in their own book), of search (/?q=<name prefix>, /?q=<mobile>) and of
   /healthz, interleaved in the same run.
3. Starts gunicorn (2 sync workers, CRM_ENV=development) on 127.0.0.1 and runs a load of
   16 keep-alive clients (threads in 2 processes, each signing in first) for 30 s against
   the 360 page and against /healthz: req/s, p50/p95/p99 latency, errors.
   The load generator shares the machine's cores with the server (and the database).

Only loopback traffic; every phase is bounded in time.  Run by hand; not part of tests.
Aim (issue 3): 360 p95 < 50 ms and within 5x the trivial route; no errors under load.
"""
from __future__ import annotations

import argparse
import http.client
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-password-2026"
# username: (role, branch, staff id); the feed puts every customer in S01 under HO and
# spreads them over managers RM0000..RM0039.
USERS = {
    "bench_bm": ("branch_manager", "HO", None),
    "bench_rm": ("rm", "S01", "RM0001"),
    "bench_analyst": ("analyst", "HO", None),
}
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


# --- the database ------------------------------------------------------------------------------

def heavy_feed(path: Path, customers: int, heavy: int, per_customer: int, seed: int = 11
               ) -> None:
    """A second CBS file: many transactions on the savings accounts of the first customers."""
    from bench.ingest import BDATE
    from integration.feedwriter import FeedWriter

    rng = random.Random(seed)
    with FeedWriter(path, "CBS", BDATE, 2, pretty=True) as feed:
        for c in range(min(heavy, customers)):
            for t in range(per_customer):
                amount = rng.randint(-500000, 800000) / 100
                feed.transaction(
                    f"H{c:06d}{t:06d}", f"A{c:08d}0",
                    booking_date=BDATE - timedelta(days=rng.randrange(365)),
                    amount=f"{amount:.2f}", currency="CNY",
                    type="TRANSFER_IN" if amount >= 0 else "PAYMENT", channel="MOBILE",
                    counterparty=("杭州某某科技有限公司", None, None), narrative="往来 transfer")


def database(args: argparse.Namespace) -> str:
    """The URL of a loaded bench database, built unless a complete one exists."""
    from sqlalchemy import make_url, text

    from bench.ingest import generate
    from integration.db import make_engine
    from integration.migrate import upgrade
    from integration.pipeline import import_file

    out = args.workdir
    out.mkdir(parents=True, exist_ok=True)
    tag = f"{args.customers}-{args.transactions}-{args.heavy}x{args.heavy_txns}"
    done = out / f"portal-{args.db}-{tag}.done"
    if args.db == "sqlite":
        path = out / f"portal-{tag}.sqlite3"
        url = f"sqlite:///{path}"
    else:
        url = make_url(args.pg_url).set(database="crm_bench_portal").render_as_string(
            hide_password=False)
    if done.exists() and not args.rebuild:
        print(f"reusing the {args.db} database built {done.read_text().strip()}")
        engine = make_engine(url)
        upgrade(engine)  # migrations added since (indexes, say) apply to it as well
        engine.dispose()
        return url
    if args.db == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        for stale in out.glob("portal-postgresql-*.done"):
            stale.unlink()  # one PostgreSQL bench database, whatever its size
        admin = make_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "crm_bench_portal" WITH (FORCE)'))
            conn.execute(text('CREATE DATABASE "crm_bench_portal"'))
        admin.dispose()
    engine = make_engine(url)
    upgrade(engine)

    feeds = [out / f"portal-feed-{args.customers}-{args.transactions}.xml"]
    if args.heavy:
        feeds.append(out / f"portal-heavy-{args.customers}-{args.heavy}x{args.heavy_txns}.xml")
    for number, feed in enumerate(feeds):
        if feed.exists():
            continue
        start = time.perf_counter()
        if number == 0:
            generate(feed, args.customers, args.transactions)
        else:
            heavy_feed(feed, args.customers, args.heavy, args.heavy_txns)
        print(f"generated {feed.name}: {feed.stat().st_size / 1e6:,.0f} MB "
              f"in {time.perf_counter() - start:.0f} s")
    for feed in feeds:
        start = time.perf_counter()
        result = import_file(engine, feed, max_bytes=1 << 40, chunk=5000)
        if result.status != "applied":
            raise SystemExit(f"the pipeline did not apply {feed.name}: {result}")
        print(f"loaded {feed.name} through the pipeline: {result.read:,} records "
              f"in {time.perf_counter() - start:.0f} s")
    with engine.begin() as conn:  # fresh planner statistics, as after any nightly load
        conn.execute(text("ANALYZE"))
    engine.dispose()
    create_users(url, args.workdir)
    done.write_text(time.strftime("%Y-%m-%d %H:%M:%S") + "\n")
    return url


def bench_config(url: str, workdir: Path) -> Any:
    from config import load_config

    return load_config("development", {
        "CRM_DATABASE_URL": url,
        "CRM_INSTANCE_PATH": str(workdir / "portal-instance"),
        "CRM_LOG_LEVEL": "WARNING",
    })


def create_users(url: str, workdir: Path) -> None:
    from portal import create_app
    from portal.errors import DomainError
    from portal.extensions import db
    from portal.users import create_user

    app = create_app(bench_config(url, workdir))
    with app.app_context():
        for username, (role, branch, staff) in USERS.items():
            session = db.sessions()
            try:
                create_user(session, username, role, branch, PASSWORD,
                            app.config["PASSWORD_METHOD"], staff)
                session.commit()
            except DomainError:
                session.rollback()  # already there from an earlier run
            finally:
                session.close()
    app.extensions["crm.db"][0].dispose()


def samples(url: str, count: int, heavy: int, seed: int = 3) -> dict[str, list[Any]]:
    """Random customers: anyone (the head office sees all), the RM's book, the heavy ones."""
    from sqlalchemy import text

    from integration.db import make_engine

    rng = random.Random(seed)
    engine = make_engine(url)
    with engine.connect() as conn:
        everyone = conn.execute(text("SELECT id, name, mobile FROM customers")).all()
        book = conn.execute(text("SELECT id, name, mobile FROM customers "
                                 "WHERE manager_staff_id = :staff"),
                            {"staff": USERS["bench_rm"][2]}).all()
        busy = [conn.execute(text("SELECT customer_id FROM customer_sources "
                                  "WHERE source = 'CBS' AND source_id = :id"),
                             {"id": f"C{i:08d}"}).scalar_one() for i in range(heavy)]
    engine.dispose()
    return {"all": rng.sample(everyone, min(count, len(everyone))),
            "book": rng.sample(book, min(count, len(book))),
            "heavy": list(busy)}


# --- in process ------------------------------------------------------------------------------

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


def in_process(url: str, args: argparse.Namespace, picks: dict[str, list[Any]]) -> None:
    from portal import create_app

    app = create_app(bench_config(url, args.workdir))
    bm, rm = app.test_client(), app.test_client()
    sign_in(bm, "bench_bm")
    sign_in(rm, "bench_rm")
    rng = random.Random(5)

    def name_prefix(row: Any) -> str:
        return "/?" + urlencode({"q": row[1][:2]})

    routes: dict[str, tuple[Any, Callable[[], str]]] = {
        "/healthz": (bm, lambda: "/healthz"),
        "360, branch manager (HO)": (bm, lambda: f"/customers/{rng.choice(picks['all'])[0]}"),
        "360, RM (own book)": (rm, lambda: f"/customers/{rng.choice(picks['book'])[0]}"),
        "search name prefix, BM": (bm, lambda: name_prefix(rng.choice(picks["all"]))),
        "search mobile, BM": (bm, lambda: "/?q=" + rng.choice(picks["all"])[2]),
        "search name prefix, RM": (rm, lambda: name_prefix(rng.choice(picks["book"]))),
        "search mobile, RM": (rm, lambda: "/?q=" + rng.choice(picks["book"])[2]),
    }
    if picks["heavy"]:
        routes["360, heavy customer"] = (
            bm, lambda: f"/customers/{rng.choice(picks['heavy'])}")
    timings: dict[str, list[float]] = {name: [] for name in routes}
    errors: dict[str, int] = {name: 0 for name in routes}
    for round_ in range(args.warmup + args.requests):
        for name, (client, path) in routes.items():
            target = path()
            start = time.perf_counter()
            response = client.get(target)
            elapsed = time.perf_counter() - start
            if response.status_code != 200:
                errors[name] += 1
                if errors[name] == 1:
                    print(f"  ! {name}: {target} answered {response.status_code}")
            if round_ >= args.warmup:
                timings[name].append(elapsed * 1000)
    app.extensions["crm.db"][0].dispose()

    base = timings["/healthz"]
    print(f"\nin process (Flask test client), {args.requests} requests per route, "
          f"interleaved, after {args.warmup} warm-up rounds:")
    print(f"  {'route':28} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  {'x healthz p50/p95':>17}"
          f"  errors")
    for name, values in timings.items():
        p50, p95 = statistics.median(values), percentile(values, 95)
        ratios = f"{p50 / statistics.median(base):.1f}x / {p95 / percentile(base, 95):.1f}x"
        print(f"  {name:28} {p50:8.2f} {p95:8.2f} {percentile(values, 99):8.2f}  {ratios:>17}"
              f"  {errors[name]:6}")


# --- under load ------------------------------------------------------------------------------

class Client:
    """One keep-alive HTTP/1.1 connection with its own session cookie."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            raise
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, data

    def sign_in(self, username: str, attempts: int = 5) -> int:
        """Sign in; returns how many attempts failed first (each one is a server error)."""
        for failed in range(attempts):
            status, page = self.request("GET", "/login")
            match = CSRF.search(page.decode())
            if status == 200 and match:
                status, _ = self.request("POST", "/login", urlencode(
                    {"username": username, "password": PASSWORD, "csrf_token": match.group(1)}))
                if status == 302:
                    return failed
            time.sleep(0.2 * (failed + 1))
        raise RuntimeError(f"sign-in as {username} answered {status} {attempts} times")


def load_process(port: int, threads: int, paths: list[str], start_at: float, warmup: float,
                 duration: float, seed: int) -> dict[str, Any]:
    """Run `threads` clients until the deadline; latencies of requests after the warm-up."""
    latencies: list[float] = []
    errors: list[str] = []
    sign_in_errors: list[str] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        client = Client(port)
        try:
            failed = client.sign_in("bench_bm")
        except Exception as exc:  # noqa: BLE001 - counted, not fatal
            with lock:
                sign_in_errors.append(f"gave up: {exc}")
            return
        if failed:
            with lock:
                sign_in_errors.extend(["failed, retried"] * failed)
        mine: list[float] = []
        wrong: list[str] = []
        while time.time() < start_at:
            time.sleep(0.005)
        measure_from, stop = start_at + warmup, start_at + warmup + duration
        while (now := time.time()) < stop:
            path = rng.choice(paths)
            begin = time.perf_counter()
            try:
                status, _ = client.request("GET", path)
                problem = None if status == 200 else f"{status} {path}"
            except Exception as exc:  # noqa: BLE001
                problem = f"{type(exc).__name__} {path}"
            elapsed = (time.perf_counter() - begin) * 1000
            if now >= measure_from:
                mine.append(elapsed)
                if problem:
                    wrong.append(problem)
        with lock:
            latencies.extend(mine)
            errors.extend(wrong)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=warmup + duration + 120)
    return {"latencies": latencies, "errors": errors, "sign_in_errors": sign_in_errors,
            "clients": threads - sum(e.startswith("gave up") for e in sign_in_errors)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gunicorn(url: str, args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, "CRM_DATABASE_URL": url, "CRM_ENV": "development",
           "CRM_INSTANCE_PATH": str(args.workdir / "portal-instance"),
           "CRM_LOG_LEVEL": "WARNING"}
    gunicorn = Path(sys.executable).parent / "gunicorn"
    log = (args.workdir / "portal-gunicorn.log").open("w")
    server = subprocess.Popen(
        [str(gunicorn), "--workers", str(args.workers), "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "wsgi:app"],
        cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.time() + 60
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return server, port
        except OSError:
            pass
        time.sleep(0.2)
    stop(server)
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def under_load(url: str, args: argparse.Namespace, picks: dict[str, list[Any]]) -> None:
    server, port = start_gunicorn(url, args)
    procs = max(1, min(args.client_processes, args.clients))
    split = [args.clients // procs + (1 if i < args.clients % procs else 0) for i in range(procs)]
    cases = {"/healthz": ["/healthz"],
             "360 page (BM, random customer)": [f"/customers/{row[0]}" for row in picks["all"]]}
    print(f"\ngunicorn {args.workers} sync workers on 127.0.0.1:{port}; {args.clients} "
          f"keep-alive clients in {procs} processes, each signed in; {args.warmup_seconds:g} s "
          f"warm-up, then {args.duration:g} s:")
    print(f"  {'route':32} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} errors"
          f"  clients  failed sign-ins")
    try:
        with ProcessPoolExecutor(procs, mp_context=get_context("spawn")) as pool:
            for name, paths in cases.items():
                start_at = time.time() + 3 + 0.2 * args.clients  # time to sign in
                futures = [pool.submit(load_process, port, n, paths, start_at,
                                       args.warmup_seconds, args.duration, i)
                           for i, n in enumerate(split)]
                results = [f.result(timeout=start_at - time.time() + args.warmup_seconds
                                    + args.duration + 180) for f in futures]
                latencies = [v for r in results for v in r["latencies"]]
                errors = [e for r in results for e in r["errors"]]
                sign_ins = [e for r in results for e in r["sign_in_errors"]]
                clients = sum(r["clients"] for r in results)
                if not latencies:
                    print(f"  {name:32} no requests completed; errors: {errors[:3]}")
                    continue
                print(f"  {name:32} {len(latencies) / args.duration:8,.0f} "
                      f"{statistics.median(latencies):8.2f} {percentile(latencies, 95):8.2f} "
                      f"{percentile(latencies, 99):8.2f} {len(errors):6}  {clients:7}"
                      f"  {len(sign_ins):15}")
                for error in sorted(set(errors))[:3]:
                    print(f"      e.g. {error}")
    finally:
        stop(server)
    log = (args.workdir / "portal-gunicorn.log").read_text(errors="replace")
    if "Traceback" in log:
        causes = sorted({line for line in log.splitlines() if line.startswith(
            ("sqlalchemy.exc.", "sqlite3.", "psycopg."))})
        print(f"  server errors logged in {args.workdir / 'portal-gunicorn.log'}:")
        for cause in causes[:5]:
            print(f"      {cause[:150]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--transactions", type=int, default=None,
                        help="default: 5 per customer")
    parser.add_argument("--heavy", type=int, default=100,
                        help="customers with many transactions (default 100)")
    parser.add_argument("--heavy-txns", type=int, default=2000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get(
        "CRM_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the database")
    parser.add_argument("--requests", type=int, default=1000,
                        help="timed in-process requests per route")
    parser.add_argument("--warmup", type=int, default=100, help="in-process warm-up rounds")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load per route")
    parser.add_argument("--warmup-seconds", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--skip-load", action="store_true", help="in-process figures only")
    args = parser.parse_args()
    if args.transactions is None:
        args.transactions = 5 * args.customers

    print(f"{args.customers:,} customers, {2 * args.customers:,} accounts, "
          f"{args.transactions:,} transactions + {args.heavy} customers with "
          f"{args.heavy_txns:,} more each; database: {args.db}")
    url = database(args)
    picks = samples(url, 2000, args.heavy)
    print(f"sampled {len(picks['all'])} customers, {len(picks['book'])} of RM "
          f"{USERS['bench_rm'][2]}'s book, {len(picks['heavy'])} heavy")
    in_process(url, args, picks)
    if not args.skip_load:
        under_load(url, args, picks)


if __name__ == "__main__":
    main()
