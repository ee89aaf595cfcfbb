"""Quarantined records: keeping them, applying them when what they wait for arrives,
and the operator's release and discard."""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Iterable, Sequence

from sqlalchemy import Connection, Engine, and_, exists, func, insert, literal, or_, select, update

from integration import models as m
from integration import records as codec
from integration.adapters.base import FeedRejected, Record
from integration.apply import Context, Failure, Outcome, prepare_stage
from integration.db import utcnow

log = logging.getLogger(__name__)

quarantined = m.QuarantinedRecord.__table__
customer_sources = m.CustomerSource.__table__
accounts = m.Account.__table__
products = m.Product.__table__
branches = m.Branch.__table__
transactions = m.Transaction.__table__
holdings = m.Holding.__table__
customers = m.Customer.__table__

ApplyFn = Callable[[Connection, Context, Sequence[Record]], Outcome]


def store(conn: Connection, ctx: Context, invalid: Sequence[Record],
          failures: Sequence[Failure]) -> None:
    """Write newly quarantined records of this batch."""
    now = utcnow()
    rows = [
        {"batch_id": ctx.batch_id, "source": ctx.source, "business_date": ctx.business_date,
         "kind": r.kind, "record_key": r.key[:104] or "(missing)", "reason_code": "INVALID",
         "reason": (r.error or "invalid")[:1000], "waiting_kind": None, "waiting_key": None,
         "payload": (r.raw or b"").decode("utf-8", "replace"), "payload_format": "xml",
         "op": r.op[:8], "status": "waiting", "created_at": now}
        for r in invalid
    ] + [
        {"batch_id": ctx.batch_id, "source": ctx.source, "business_date": ctx.business_date,
         "kind": f.record.kind, "record_key": f.record.key, "reason_code": "MISSING_REF",
         "reason": f.reason[:1000], "waiting_kind": f.waiting_kind,
         "waiting_key": f.waiting_key[:104], "payload": codec.dumps(f.record.values),
         "payload_format": "json", "op": f.record.op, "status": "waiting", "created_at": now}
        for f in failures
    ]
    if rows:
        conn.execute(insert(quarantined), rows)


def _arrived(kind: str) -> Any:
    """SQL: the thing a waiting record of ``waiting_kind`` = kind waits for now exists."""
    q = quarantined.c
    if kind == "customer":
        return exists().where(customer_sources.c.source + ":" + customer_sources.c.source_id
                              == q.waiting_key)
    if kind == "account":
        return or_(
            exists().where(accounts.c.source + ":" + accounts.c.source_id == q.waiting_key),
            exists().where(literal("*:") + accounts.c.source_id == q.waiting_key),
        )
    if kind == "product":
        return exists().where(products.c.code == q.waiting_key)
    if kind == "branch":
        return exists().where(branches.c.code == q.waiting_key)
    raise ValueError(kind)


KIND_ORDER = ("branch", "product", "customer", "account", "holding", "transaction", "balance")


def release_arrived(conn: Connection, appliers: dict[str, ApplyFn], resolving_batch: int) -> int:
    """Apply every waiting record whose missing reference has arrived; returns how many."""
    total = 0
    for _round in range(len(KIND_ORDER)):  # a customer may unlock accounts, then transactions
        ids: list[int] = []
        for kind in ("branch", "product", "customer", "account"):
            ids += conn.execute(
                select(quarantined.c.id).where(
                    quarantined.c.status == "waiting",
                    quarantined.c.reason_code == "MISSING_REF",
                    quarantined.c.waiting_kind == kind,
                    _arrived(kind),
                )
            ).scalars().all()
        if not ids:
            break
        applied = reapply(conn, ids, appliers, resolving_batch, by="auto")
        total += applied
        if not applied:
            break
    return total


def reapply(conn: Connection, ids: Iterable[int], appliers: dict[str, ApplyFn],
            resolving_batch: int | None, by: str) -> int:
    """Try waiting records again; applied ones are closed, the others get their new reason."""
    from integration.adapters.cbs import parse_record_xml

    rows = conn.execute(
        select(quarantined).where(quarantined.c.id.in_(list(ids)),
                                  quarantined.c.status == "waiting")
        .order_by(quarantined.c.id)
    ).mappings().all()
    groups: dict[tuple[str, int, date, str], list[tuple[int, Record]]] = defaultdict(list)
    still_invalid: list[tuple[int, str]] = []
    for row in rows:
        if row["payload_format"] == "json":
            record = Record(row["kind"], row["record_key"], row["op"], codec.loads(row["payload"]))
        else:
            try:
                record = parse_record_xml(row["payload"].encode("utf-8"))
            except (FeedRejected, Exception) as exc:  # noqa: BLE001 - kept, with the reason
                still_invalid.append((row["id"], f"cannot be read: {exc}"))
                continue
            if record.error:
                still_invalid.append((row["id"], record.error))
                continue
        groups[(row["source"], row["batch_id"], row["business_date"], row["kind"])].append(
            (row["id"], record)
        )
    now = utcnow()
    applied_ids: list[int] = []
    order = {k: i for i, k in enumerate(KIND_ORDER)}
    for (source, batch_id, business_date, kind), items in sorted(
        groups.items(), key=lambda g: (order.get(g[0][3], 99), g[0][1])
    ):
        ctx = Context(source, batch_id, business_date, released_by=resolving_batch)
        outcome = appliers[kind](conn, ctx, [rec for _, rec in items])
        failed = {id(f.record): f for f in outcome.failures or []}
        for qid, rec in items:
            failure = failed.get(id(rec))
            if failure is None:
                applied_ids.append(qid)
            else:
                conn.execute(update(quarantined).where(quarantined.c.id == qid).values(
                    reason=failure.reason, waiting_kind=failure.waiting_kind,
                    waiting_key=failure.waiting_key))
    for qid, reason in still_invalid:
        conn.execute(update(quarantined).where(quarantined.c.id == qid).values(reason=reason[:1000]))
    if applied_ids:
        conn.execute(
            update(quarantined).where(quarantined.c.id.in_(applied_ids)).values(
                status="applied", resolved_at=now, resolved_batch_id=resolving_batch,
                resolved_by=by)
        )
    return len(applied_ids)


def supersede(conn: Connection, batch_id: int) -> int:
    """Waiting records that a later file delivered again, valid, are superseded by it."""
    q = quarantined.c
    targets = {
        "customer": and_(customer_sources.c.source == q.source,
                         customer_sources.c.source_id == q.record_key,
                         customer_sources.c.batch_id == batch_id),
        "account": and_(accounts.c.source == q.source, accounts.c.source_id == q.record_key,
                        accounts.c.batch_id == batch_id),
        "holding": and_(holdings.c.source == q.source, holdings.c.source_id == q.record_key,
                        holdings.c.batch_id == batch_id),
        "transaction": and_(transactions.c.source == q.source,
                            transactions.c.source_id == q.record_key),
        "product": and_(products.c.code == q.record_key, products.c.batch_id == batch_id),
        "branch": and_(branches.c.code == q.record_key, branches.c.batch_id == batch_id),
    }
    total = 0
    for kind, where in targets.items():
        total += conn.execute(
            update(quarantined)
            .where(q.status == "waiting", q.kind == kind, q.batch_id != batch_id,
                   exists().where(where))
            .values(status="superseded", resolved_at=utcnow(), resolved_batch_id=batch_id,
                    resolved_by="redelivered")
        ).rowcount
    return total


@dataclass
class QuarantineAction:
    applied: int
    still_waiting: int


def operator_release(engine: Engine, ids: Sequence[int], operator: str) -> QuarantineAction:
    """Retry records now, in one transaction (e.g. after reference data was fixed)."""
    from integration.pipeline import appliers_for

    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        prepare_stage(conn)
        applied = reapply(conn, ids, appliers_for(conn), None, by=operator)
        waiting = conn.execute(
            select(func.count()).select_from(quarantined)
            .where(quarantined.c.id.in_(list(ids)), quarantined.c.status == "waiting")
        ).scalar_one()
    return QuarantineAction(applied, waiting)


def operator_discard(engine: Engine, ids: Sequence[int], operator: str, reason: str) -> int:
    with engine.begin() as conn:
        return conn.execute(
            update(quarantined)
            .where(quarantined.c.id.in_(list(ids)), quarantined.c.status == "waiting")
            .values(status="discarded", resolved_at=utcnow(), resolved_by=operator,
                    reason=quarantined.c.reason + " | discarded: " + reason[:200])
        ).rowcount
