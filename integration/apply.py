"""Set-based application of validated records, one chunk at a time, inside the batch's
transaction.  Each applier returns the records it could not apply, with why."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import Connection, Table, and_, bindparam, insert, or_, select, update

from integration import models as m
from integration.adapters.base import Record
from integration.identity import normalise
from integration.merge import CUSTOMER_FIELDS, merge_customer

branches: Table = m.Branch.__table__  # type: ignore[assignment]
products: Table = m.Product.__table__  # type: ignore[assignment]
fx_rates: Table = m.FxRate.__table__  # type: ignore[assignment]
customers: Table = m.Customer.__table__  # type: ignore[assignment]
customer_sources: Table = m.CustomerSource.__table__  # type: ignore[assignment]
accounts: Table = m.Account.__table__  # type: ignore[assignment]
holdings: Table = m.Holding.__table__  # type: ignore[assignment]
transactions: Table = m.Transaction.__table__  # type: ignore[assignment]
staged: Table = m.StagedTransaction.__table__  # type: ignore[assignment]

# Sources whose transactions name accounts of any source by account number.
ACCOUNT_NUMBER_SOURCES = frozenset({"CAMT"})
IN_CHUNK = 500  # bound on an IN (...) list, well under every backend's limit


@dataclass
class Context:
    """Where the records being applied came from: provenance of what they set."""

    source: str
    batch_id: int
    business_date: date
    released_by: int | None = None  # the batch applying a released record, if any


@dataclass
class Failure:
    record: Record
    reason: str
    waiting_kind: str
    waiting_key: str


@dataclass
class Outcome:
    applied: int = 0
    failures: list[Failure] | None = None
    new_transactions: int = 0

    def fail(self, record: Record, reason: str, kind: str, key: str) -> None:
        if self.failures is None:
            self.failures = []
        self.failures.append(Failure(record, reason, kind, key))


def _existing(conn: Connection, column: Any, keys: Iterable[Any], where: Any = None,
              value: Any = None) -> dict[Any, Any]:
    """{key: value} for the keys that exist, queried in bounded IN lists."""
    found: dict[Any, Any] = {}
    keys = list(dict.fromkeys(k for k in keys if k is not None))
    for start in range(0, len(keys), IN_CHUNK):
        part = keys[start:start + IN_CHUNK]
        query = select(column, value if value is not None else column).where(column.in_(part))
        if where is not None:
            query = query.where(where)
        found.update(conn.execute(query).all())
    return found


def bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert plain rows the fastest way the backend offers (COPY on PostgreSQL)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        columns = list(rows[0])
        sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        with conn.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
            with cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row([row[c] for c in columns])
        return
    conn.execute(insert(table), rows)


def _last_wins(records: Sequence[Record]) -> list[Record]:
    """A key repeated in one chunk: the later record is the newer statement."""
    return list({r.key: r for r in records}.values())


def apply_rates(conn: Connection, ctx: Context, records: Sequence[Record]) -> Outcome:
    out = Outcome()
    rows = {r.values["currency"]: r.values["to_cny"] for r in records if r.op != "close"}
    existing = _existing(conn, fx_rates.c.currency, rows,
                         where=fx_rates.c.business_date == ctx.business_date)
    new = [{"currency": c, "business_date": ctx.business_date, "to_cny": v,
            "source": ctx.source, "batch_id": ctx.batch_id}
           for c, v in rows.items() if c not in existing]
    old = [{"b_currency": c, "to_cny": v, "source": ctx.source, "batch_id": ctx.batch_id}
           for c, v in rows.items() if c in existing]
    if new:
        conn.execute(insert(fx_rates), new)
    if old:
        conn.execute(
            update(fx_rates)
            .where(fx_rates.c.currency == bindparam("b_currency"),
                   fx_rates.c.business_date == ctx.business_date)
            .values(to_cny=bindparam("to_cny"), source=bindparam("source"),
                    batch_id=bindparam("batch_id")),
            old,
        )
    out.applied = len(records)
    return out


def _upsert(conn: Connection, table: Table, key: str, rows: list[dict[str, Any]],
            existing: dict[Any, Any]) -> None:
    """Insert new rows, update existing ones (matched on the single column ``key``)."""
    new = [r for r in rows if r[key] not in existing]
    old = [{**{k: v for k, v in r.items() if k != key}, "b_key": r[key]}
           for r in rows if r[key] in existing]
    if new:
        conn.execute(insert(table), new)
    if old:
        cols = [k for k in old[0] if k != "b_key"]
        conn.execute(
            update(table).where(table.c[key] == bindparam("b_key"))
            .values({c: bindparam(c) for c in cols}),
            old,
        )


def _close(conn: Connection, table: Table, where: Any, values: dict[str, Any]) -> int:
    return conn.execute(update(table).where(where).values(**values)).rowcount


def apply_branches(conn: Connection, ctx: Context, records: Sequence[Record]) -> Outcome:
    out = Outcome()
    records = _last_wins(records)
    closes = [r for r in records if r.op == "close"]
    for r in closes:
        _close(conn, branches, branches.c.code == r.key, {"closed": True})
    records = [r for r in records if r.op != "close"]
    codes = {r.key for r in records} | {r.values["parent"] for r in records}
    existing = _existing(conn, branches.c.code, codes)
    known = set(existing) | {r.key for r in records}
    rows, parents = [], []
    for r in records:
        parent = r.values["parent"]
        if parent is not None and parent not in known:
            out.fail(r, f"parent branch {parent!r} is unknown", "branch", parent)
            continue
        rows.append({"code": r.key, "name": r.values["name"], "city": r.values["city"],
                     "closed": False, "source": ctx.source, "batch_id": ctx.batch_id})
        parents.append({"b_code": r.key, "parent_code": parent})
    # Parents may come after their children in the file: link them once all exist.
    _upsert(conn, branches, "code", rows, existing)
    if parents:
        conn.execute(update(branches).where(branches.c.code == bindparam("b_code"))
                     .values(parent_code=bindparam("parent_code")), parents)
    out.applied = len(closes) + len(rows)
    return out


def apply_products(conn: Connection, ctx: Context, records: Sequence[Record]) -> Outcome:
    out = Outcome()
    records = _last_wins(records)
    rows = []
    for r in records:
        if r.op == "close":
            _close(conn, products, products.c.code == r.key, {"closed": True})
            continue
        v = r.values
        rows.append({"code": r.key, "name": v["name"], "category": v["category"],
                     "risk_level": v["risk_level"], "currency": v["currency"],
                     "min_amount": v["min_amount"], "term_days": v["term_days"],
                     "expected_return": v["expected_return"], "closed": False,
                     "source": ctx.source, "batch_id": ctx.batch_id})
    _upsert(conn, products, "code", rows, _existing(conn, products.c.code, (r["code"] for r in rows)))
    out.applied = len(records)
    return out


def apply_customers(conn: Connection, ctx: Context, records: Sequence[Record]) -> Outcome:
    """Resolve each record to a golden customer (by source id, else identity document)."""
    out = Outcome()
    src = ctx.source
    links = {
        sid: (xid, cid) for sid, xid, cid in conn.execute(
            select(customer_sources.c.source_id, customer_sources.c.id,
                   customer_sources.c.customer_id)
            .where(customer_sources.c.source == src,
                   customer_sources.c.source_id.in_({r.key for r in records}))
        )
    } if records else {}
    docs = {
        r.key: normalise(r.values["id_type"], r.values["id_number"])
        for r in records if r.op != "close" and r.values.get("id_type")
    }
    by_identity: dict[str, int] = _existing(
        conn, customers.c.identity_key, (d.key for d in docs.values()), value=customers.c.id
    )
    known_branches = set(_existing(
        conn, branches.c.code, (r.values.get("branch") for r in records)
    ))
    wanted = {cid for _, cid in links.values()} | set(by_identity.values())
    golden: dict[int, dict[str, Any]] = {}
    for start in range(0, len(wanted), IN_CHUNK):
        part = list(wanted)[start:start + IN_CHUNK]
        for row in conn.execute(select(customers).where(customers.c.id.in_(part))).mappings():
            golden[row["id"]] = dict(row)
    changed: set[int] = set()
    new_ids: list[int] = []  # temporary negative ids of customers to insert
    new_links: list[dict[str, Any]] = []
    touched_links: list[dict[str, Any]] = []
    closed_links: set[int] = set()
    for r in records:
        link = links.get(r.key)
        if r.op == "close":
            if link is not None:
                touched_links.append({"b_id": link[0], "closed": True, "batch_id": ctx.batch_id,
                                      "business_date": ctx.business_date})
                closed_links.add(link[1])
            out.applied += 1
            continue
        branch = r.values.get("branch")
        if branch is not None and branch not in known_branches:
            out.fail(r, f"branch {branch!r} is unknown", "branch", branch)
            continue
        doc = docs.get(r.key)
        cid = link[1] if link else (by_identity.get(doc.key) if doc and doc.key else None)
        if cid is None:
            cid = -(len(new_ids) + 1)
            new_ids.append(cid)
            golden[cid] = {**{f: None for f in CUSTOMER_FIELDS}, "id": cid, "provenance": {},
                           "dq_warnings": [], "status": "ACTIVE", "identity_key": None}
        record = golden[cid]
        merge_customer(record, r.values, doc, ctx.source, ctx.batch_id, ctx.business_date)
        if doc and doc.key and record.get("identity_key") != doc.key:
            holder = by_identity.get(doc.key)
            if holder is None and record.get("identity_key") is None:
                record["identity_key"] = doc.key
                by_identity[doc.key] = cid
            elif holder not in (None, cid):
                _warn(record, f"{src} {r.key}: identity document also belongs to customer "
                              f"{holder}; not merged")
        changed.add(cid)
        if link is None:
            new_links.append({"source": src, "source_id": r.key, "customer_id": cid,
                              "closed": False, "batch_id": ctx.batch_id,
                              "business_date": ctx.business_date})
            links[r.key] = (0, cid)
        else:
            touched_links.append({"b_id": link[0], "closed": False, "batch_id": ctx.batch_id,
                                  "business_date": ctx.business_date})
        out.applied += 1
    _write_customers(conn, golden, changed, new_ids, new_links, touched_links)
    if closed_links:
        _close_customers_without_open_links(conn, closed_links, ctx)
    return out


def _warn(record: dict[str, Any], warning: str) -> None:
    warnings = list(record.get("dq_warnings") or [])
    if warning not in warnings:
        warnings.append(warning)
        record["dq_warnings"] = warnings


def _write_customers(conn: Connection, golden: dict[int, dict[str, Any]], changed: set[int],
                     new_ids: list[int], new_links: list[dict[str, Any]],
                     touched_links: list[dict[str, Any]]) -> None:
    from integration.db import utcnow

    now = utcnow()
    columns = [*CUSTOMER_FIELDS, "identity_key", "provenance", "dq_warnings"]
    real: dict[int, int] = {}
    if new_ids:
        rows = [{**{c: golden[t][c] for c in columns}, "created_at": now, "updated_at": now}
                for t in new_ids]
        result = conn.execute(
            insert(customers).returning(customers.c.id, sort_by_parameter_order=True), rows
        )
        real = dict(zip(new_ids, (row[0] for row in result)))
    updates = [{**{c: golden[cid][c] for c in columns}, "b_id": cid, "updated_at": now}
               for cid in changed if cid > 0]
    if updates:
        conn.execute(
            update(customers).where(customers.c.id == bindparam("b_id"))
            .values({c: bindparam(c) for c in [*columns, "updated_at"]}),
            updates,
        )
    for link in new_links:
        link["customer_id"] = real.get(link["customer_id"], link["customer_id"])
    bulk_insert(conn, customer_sources, new_links)
    if touched_links:
        conn.execute(
            update(customer_sources).where(customer_sources.c.id == bindparam("b_id"))
            .values(closed=bindparam("closed"), batch_id=bindparam("batch_id"),
                    business_date=bindparam("business_date")),
            touched_links,
        )


def _close_customers_without_open_links(conn: Connection, ids: set[int], ctx: Context) -> None:
    """A golden record is closed once every system that knew the person closed it."""
    still_open = set(_existing(conn, customer_sources.c.customer_id, ids,
                               where=customer_sources.c.closed.is_(False)))
    for cid in ids - still_open:
        conn.execute(update(customers).where(customers.c.id == cid).values(status="CLOSED"))


def _customer_ids(conn: Connection, source: str, keys: Iterable[str]) -> dict[str, int]:
    return _existing(conn, customer_sources.c.source_id, keys,
                     where=customer_sources.c.source == source,
                     value=customer_sources.c.customer_id)


def apply_accounts(conn: Connection, ctx: Context, records: Sequence[Record]) -> Outcome:
    out = Outcome()
    records = _last_wins(records)
    owners = _customer_ids(conn, ctx.source, (r.values.get("customer") for r in records))
    known_products = set(_existing(conn, products.c.code, (r.values.get("product") for r in records)))
    known_branches = set(_existing(conn, branches.c.code, (r.values.get("branch") for r in records)))
    existing = _existing(conn, accounts.c.source_id, (r.key for r in records),
                         where=accounts.c.source == ctx.source, value=accounts.c.id)
    rows = []
    for r in records:
        v = r.values
        if r.op == "close":
            if r.key in existing:
                _close(conn, accounts, accounts.c.id == existing[r.key],
                       {"status": "CLOSED", "batch_id": ctx.batch_id})
            out.applied += 1
            continue
        if v["customer"] not in owners:
            out.fail(r, f"customer {v['customer']!r} of {ctx.source} is unknown",
                     "customer", f"{ctx.source}:{v['customer']}")
        elif v["product"] not in known_products:
            out.fail(r, f"product {v['product']!r} is unknown", "product", v["product"])
        elif v["branch"] is not None and v["branch"] not in known_branches:
            out.fail(r, f"branch {v['branch']!r} is unknown", "branch", v["branch"])
        else:
            rows.append({
                "source_id": r.key, "source": ctx.source, "customer_id": owners[v["customer"]],
                "product_code": v["product"], "type": v["type"], "currency": v["currency"],
                "balance": v["balance"], "balance_date": ctx.business_date,
                "open_date": v["open_date"], "maturity_date": v["maturity_date"],
                "interest_rate": v["interest_rate"], "credit_limit": v["credit_limit"],
                "overdue_days": v["overdue_days"], "status": v["status"] or "ACTIVE",
                "branch_code": v["branch"], "batch_id": ctx.batch_id,
            })
    new = [r for r in rows if r["source_id"] not in existing]
    old = [{**r, "b_id": existing[r["source_id"]]} for r in rows if r["source_id"] in existing]
    bulk_insert(conn, accounts, new)
    if old:
        cols = [c for c in old[0] if c not in ("b_id", "source", "source_id")]
        conn.execute(update(accounts).where(accounts.c.id == bindparam("b_id"))
                     .values({c: bindparam(c) for c in cols}), old)
    out.applied += len(rows)
    return out


def apply_holdings(conn: Connection, ctx: Context, records: Sequence[Record]) -> Outcome:
    out = Outcome()
    records = _last_wins(records)
    owners = _customer_ids(conn, ctx.source, (r.values.get("customer") for r in records))
    known_products = set(_existing(conn, products.c.code, (r.values.get("product") for r in records)))
    existing = _existing(conn, holdings.c.source_id, (r.key for r in records),
                         where=holdings.c.source == ctx.source, value=holdings.c.id)
    rows = []
    for r in records:
        v = r.values
        if r.op == "close":
            if r.key in existing:
                _close(conn, holdings, holdings.c.id == existing[r.key],
                       {"closed": True, "batch_id": ctx.batch_id})
            out.applied += 1
            continue
        if v["customer"] not in owners:
            out.fail(r, f"customer {v['customer']!r} of {ctx.source} is unknown",
                     "customer", f"{ctx.source}:{v['customer']}")
        elif v["product"] not in known_products:
            out.fail(r, f"product {v['product']!r} is unknown", "product", v["product"])
        else:
            rows.append({
                "source_id": r.key, "source": ctx.source, "customer_id": owners[v["customer"]],
                "product_code": v["product"], "units": v["units"],
                "market_value": v["market_value"], "currency": v["currency"], "cost": v["cost"],
                "valuation_date": v["valuation_date"] or ctx.business_date, "closed": False,
                "batch_id": ctx.batch_id,
            })
    new = [r for r in rows if r["source_id"] not in existing]
    old = [{**r, "b_id": existing[r["source_id"]]} for r in rows if r["source_id"] in existing]
    bulk_insert(conn, holdings, new)
    if old:
        cols = [c for c in old[0] if c not in ("b_id", "source", "source_id")]
        conn.execute(update(holdings).where(holdings.c.id == bindparam("b_id"))
                     .values({c: bindparam(c) for c in cols}), old)
    out.applied += len(rows)
    return out


def apply_balances(conn: Connection, ctx: Context, records: Sequence[Record]) -> Outcome:
    """Statement closing balances: applied when newer than the balance the CRM holds."""
    out = Outcome()
    records = _last_wins(records)  # two statements closing the same day: the later one
    found = _existing(conn, accounts.c.source_id, (r.values["account"] for r in records),
                      value=accounts.c.id)
    for r in records:
        v = r.values
        if v["account"] not in found:
            out.fail(r, f"account {v['account']!r} is unknown", "account", f"*:{v['account']}")
            continue
        # Newer than what the CRM holds; on the same day, a later statement of this file.
        conn.execute(
            update(accounts)
            .where(accounts.c.id == found[v["account"]],
                   or_(accounts.c.balance_date < v["date"],
                       and_(accounts.c.balance_date == v["date"],
                            accounts.c.batch_id == ctx.batch_id)))
            .values(balance=v["amount"], balance_date=v["date"], batch_id=ctx.batch_id)
        )
        out.applied += 1
    return out


STAGE_COLUMNS = ("batch_id", "seq", "source", "source_id", "account", "booking_date",
                 "value_date", "amount", "currency", "type", "channel", "counterparty_name",
                 "counterparty_account", "counterparty_bank", "narrative", "op")
TXN_VALUE_COLUMNS = ("booking_date", "value_date", "amount", "currency", "type", "channel",
                     "counterparty_name", "counterparty_account", "counterparty_bank",
                     "narrative")


def apply_transactions(conn: Connection, ctx: Context, records: Sequence[Record],
                       stage: Callable[[Connection, list[tuple[Any, ...]]], None]) -> Outcome:
    """Stage the chunk, then insert-select it against accounts in one statement.

    Re-delivered ids are skipped by the unique (source, id) key; transactions of unknown
    accounts come back as failures."""
    out = Outcome()
    rows = []
    closes = []
    # The same id twice in one file is one transaction: keep the first.
    records = list({r.key: r for r in reversed(records)}.values())[::-1]
    for i, r in enumerate(records):
        v = r.values
        if r.op == "close":
            closes.append(r)
            continue
        rows.append((ctx.batch_id, i, ctx.source, r.key, v["account"], v["booking_date"],
                     v["value_date"], v["amount"], v["currency"], v["type"], v["channel"],
                     v["counterparty_name"], v["counterparty_account"], v["counterparty_bank"],
                     v["narrative"], r.op))
    for r in closes:
        _close(conn, transactions,
               and_(transactions.c.source == ctx.source, transactions.c.source_id == r.key),
               {"closed": True})
    out.applied += len(closes)
    if not rows:
        return out
    stage(conn, rows)
    s, a, t = staged.alias("s"), accounts.alias("a"), transactions.alias("t")
    match = a.c.source_id == s.c.account
    if ctx.source not in ACCOUNT_NUMBER_SOURCES:
        match = and_(match, a.c.source == s.c.source)
    chosen = (
        select(s.c.source, s.c.source_id, a.c.id, *[s.c[c] for c in TXN_VALUE_COLUMNS],
               s.c.batch_id)
        .select_from(s.join(a, match))
        .where(s.c.batch_id == ctx.batch_id)
        .order_by(s.c.seq)
    )
    if conn.dialect.name not in ("sqlite", "postgresql"):
        chosen = chosen.where(~select(t.c.id).where(
            t.c.source == s.c.source, t.c.source_id == s.c.source_id).exists())
    target = ["source", "source_id", "account_id", *TXN_VALUE_COLUMNS, "batch_id"]
    out.new_transactions = conn.execute(
        _insert_ignoring_duplicates(conn, target, chosen).execution_options(preserve_rowcount=True)
    ).rowcount
    orphans = conn.execute(
        select(s).where(s.c.batch_id == ctx.batch_id,
                        ~select(a.c.id).where(match).exists())
        .order_by(s.c.seq)
    ).mappings().all()
    by_seq = {row["seq"]: row for row in orphans}
    for i, r in enumerate(records):
        if i in by_seq:
            acct = r.values["account"]
            prefix = "*" if ctx.source in ACCOUNT_NUMBER_SOURCES else ctx.source
            out.fail(r, f"account {acct!r} is unknown", "account", f"{prefix}:{acct}")
    clear_stage(conn, ctx.batch_id)
    out.applied += len(rows) - len(orphans)
    return out


def _insert_ignoring_duplicates(conn: Connection, target: list[str], chosen: Any) -> Any:
    """INSERT ... SELECT that skips ids already loaded (a re-delivered transaction)."""
    name = conn.dialect.name
    if name == "sqlite":
        return insert(transactions).prefix_with("OR IGNORE").from_select(target, chosen)
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(transactions).from_select(target, chosen).on_conflict_do_nothing(
            index_elements=["source", "source_id"]
        )
    return insert(transactions).from_select(target, chosen)


def prepare_stage(conn: Connection) -> None:
    """On PostgreSQL, stage in a temporary table of the same name, which shadows the shared
    one for this transaction: emptied by TRUNCATE, it leaves no dead rows behind chunk
    after chunk (DELETE would, and every later chunk would wade through them)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "CREATE TEMPORARY TABLE IF NOT EXISTS staged_transactions "
            "(LIKE public.staged_transactions INCLUDING DEFAULTS) ON COMMIT DROP")


def clear_stage(conn: Connection, batch_id: int) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("TRUNCATE staged_transactions")
    else:
        conn.execute(staged.delete().where(staged.c.batch_id == batch_id))


def stage_with_core(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    conn.execute(insert(staged), [dict(zip(STAGE_COLUMNS, row)) for row in rows])
