"""The ingestion pipeline: one file, one batch, applied whole (less quarantine) or not at all."""
from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from integration import apply as ap
from integration import models as m
from integration import quarantine
from integration.adapters import detect
from integration.adapters.base import FeedRejected, Record
from integration.db import to_units, utcnow

log = logging.getLogger(__name__)

batches = m.FeedBatch.__table__
deliveries = m.FeedDelivery.__table__

Progress = Callable[[int], None]


@dataclass
class ImportResult:
    file: str
    batch_id: int
    source: str | None
    sequence: int | None
    status: str
    read: int = 0
    applied: int = 0
    quarantined: int = 0
    released: int = 0
    new_transactions: int = 0
    business_date: date | None = None
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    duration_ms: int = 0

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["business_date"] = self.business_date.isoformat() if self.business_date else None
        if self.reason is None:
            out.pop("reason")
        return out


def exit_code(results: Sequence[ImportResult]) -> int:
    """0 all applied or duplicate, 3 when any partial, 2 when any rejected."""
    statuses = {r.status for r in results}
    if "rejected" in statuses:
        return 2
    return 3 if "partial" in statuses else 0


def file_digest(path: str | os.PathLike[str]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def stage_function(conn: Connection) -> Callable[[Connection, list[tuple[Any, ...]]], None]:
    """The fastest way this backend takes a chunk of staged transactions."""
    columns = ", ".join(ap.STAGE_COLUMNS)
    if conn.dialect.name == "sqlite":
        sql = (f"INSERT INTO staged_transactions ({columns}) "
               f"VALUES ({', '.join('?' for _ in ap.STAGE_COLUMNS)})")

        def stage_sqlite(c: Connection, rows: list[tuple[Any, ...]]) -> None:
            cursor = c.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.executemany(sql, [
                    (*r[:5], r[5].isoformat(), r[6].isoformat() if r[6] else None,
                     to_units(r[7]), *r[8:]) for r in rows
                ])
            finally:
                cursor.close()

        return stage_sqlite
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        sql = f"COPY staged_transactions ({columns}) FROM STDIN"

        def stage_copy(c: Connection, rows: list[tuple[Any, ...]]) -> None:
            with c.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
                with cursor.copy(sql) as copy:
                    for row in rows:
                        copy.write_row(row)

        return stage_copy
    return ap.stage_with_core


def appliers_for(conn: Connection) -> dict[str, quarantine.ApplyFn]:
    return {
        "rate": ap.apply_rates, "branch": ap.apply_branches, "product": ap.apply_products,
        "customer": ap.apply_customers, "account": ap.apply_accounts,
        "holding": ap.apply_holdings, "balance": ap.apply_balances,
        "transaction": partial(ap.apply_transactions, stage=stage_function(conn)),
    }


class _Rollback(Exception):
    """Leave the batch transaction without applying anything (e.g. a duplicate)."""


def import_file(engine: Engine, path: str | os.PathLike[str], *, adapter: str = "auto",
                max_bytes: int, chunk: int = 5000,
                progress: Progress | None = None) -> ImportResult:
    """Import one file as one batch; never raises for bad input, the result says why."""
    started = time.monotonic()
    path = Path(path)
    sha, size = file_digest(path)
    with engine.begin() as conn:
        batch_id = conn.execute(
            insert(batches).returning(batches.c.id),
            {"file_name": str(path), "file_sha256": sha, "file_size": size,
             "status": "running", "started_at": utcnow(), "warnings": [],
             "records_read": 0, "records_applied": 0, "records_quarantined": 0,
             "records_rejected": 0, "released": 0},
        ).scalar_one()
    result = ImportResult(file=str(path), batch_id=batch_id, source=None, sequence=None,
                          status="running")
    try:
        _run(engine, path, adapter, max_bytes, chunk, progress, result)
    except FeedRejected as exc:
        result.status, result.reason = "rejected", exc.reason
    except _Rollback:
        pass
    except Exception as exc:  # noqa: BLE001 - the batch record must say what happened
        log.exception("import of %s failed", path)
        result.status, result.reason = "rejected", f"internal error: {type(exc).__name__}: {exc}"
    result.duration_ms = int((time.monotonic() - started) * 1000)
    if result.status == "rejected":
        result.applied = result.quarantined = result.released = result.new_transactions = 0
    if result.status != "applied" and result.status != "partial":
        _finish_batch(engine, result)  # the data transaction rolled back; record why
    log.info("%s: %s (%s read, %s quarantined)%s", path.name, result.status, result.read,
             result.quarantined, f": {result.reason}" if result.reason else "")
    return result


def _finish_batch(conn_or_engine: Connection | Engine, result: ImportResult) -> None:
    values = {
        "status": result.status, "source": result.source, "sequence": result.sequence,
        "business_date": result.business_date, "records_read": result.read,
        "records_applied": result.applied, "records_quarantined": result.quarantined,
        "records_rejected": result.read if result.status == "rejected" else 0,
        "released": result.released, "reason": result.reason, "warnings": result.warnings,
        "finished_at": utcnow(), "duration_ms": result.duration_ms,
    }
    statement = update(batches).where(batches.c.id == result.batch_id).values(**values)
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.begin() as conn:
            conn.execute(statement)
    else:
        conn_or_engine.execute(statement)


def _run(engine: Engine, path: Path, adapter_name: str, max_bytes: int, chunk: int,
         progress: Progress | None, result: ImportResult) -> None:
    adapter = detect.open_adapter(path, adapter_name, max_bytes)
    header = adapter.header()
    result.source, result.sequence = header.source, header.sequence
    result.business_date = header.business_date
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        if header.sequence is not None and _delivered(conn, header.source, str(header.sequence)):
            result.status = "duplicate"
            result.reason = f"{header.source} sequence {header.sequence} was already loaded"
            raise _Rollback
        if header.sequence is not None:
            result.warnings += _sequence_warnings(conn, header.source, header.sequence)
        ctx = ap.Context(header.source, result.batch_id, header.business_date)
        ap.prepare_stage(conn)
        appliers = appliers_for(conn)
        pending: list[Record] = []
        invalid: list[Record] = []
        failures: list[ap.Failure] = []

        planner = _PlannerStatistics(conn)

        def flush() -> None:
            if pending:
                planner.grew(pending[0].kind, len(pending))
                outcome = appliers[pending[0].kind](conn, ctx, pending)
                failures.extend(outcome.failures or [])
                result.new_transactions += outcome.new_transactions
                pending.clear()
            if invalid or failures:
                quarantine.store(conn, ctx, invalid, failures)
                result.quarantined += len(invalid) + len(failures)
                invalid.clear()
                failures.clear()
            if progress is not None:
                progress(getattr(adapter, "bytes_read", 0))

        for record in adapter.records():
            result.read += 1
            if record.error is not None:
                invalid.append(record)
                continue
            if pending and (pending[0].kind != record.kind or len(pending) >= chunk):
                flush()
            pending.append(record)
        flush()
        summary = adapter.summary()  # the trailer was checked when the file ended
        result.warnings += summary.warnings
        result.released = quarantine.release_arrived(conn, appliers, result.batch_id)
        quarantine.supersede(conn, result.batch_id)
        result.applied = result.read - result.quarantined
        result.status = "partial" if result.quarantined else "applied"
        try:
            with conn.begin_nested():
                conn.execute(insert(deliveries), {
                    "source": header.source, "delivery_key": summary.delivery_key[:500],
                    "sequence": header.sequence, "batch_id": result.batch_id})
        except IntegrityError:
            result.status = "duplicate"
            result.reason = (f"{header.source} delivery {summary.delivery_key} "
                             f"was already loaded")
            raise _Rollback from None
        conn.execute(update(batches).where(batches.c.id == result.batch_id)
                     .values(delivery_key=summary.delivery_key[:500], adapter=adapter.name))
        _finish_batch(conn, result)


class _PlannerStatistics:
    """Keeps PostgreSQL's statistics in step with tables that grow inside one big batch.

    The batch is one transaction, so autovacuum never sees its rows; without this the
    planner goes on believing a table loaded from empty holds nothing and scans it whole
    for every lookup.  ANALYZE runs when a table has doubled: a few times per load."""

    TABLES = {"customer": ("customers", "customer_sources"), "account": ("accounts",),
              "holding": ("holdings",), "transaction": ("transactions",)}

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.enabled = conn.dialect.name == "postgresql"
        self.written: dict[str, int] = {}
        self.analyzed_at: dict[str, int] = {}

    def grew(self, kind: str, rows: int) -> None:
        if not self.enabled or kind not in self.TABLES:
            return
        written = self.written[kind] = self.written.get(kind, 0) + rows
        if written >= 2 * self.analyzed_at.get(kind, 2500):
            for table in self.TABLES[kind]:
                self.conn.exec_driver_sql(f"ANALYZE {table}")
            self.analyzed_at[kind] = written


def _delivered(conn: Connection, source: str, key: str) -> bool:
    return conn.execute(
        select(deliveries.c.batch_id).where(deliveries.c.source == source,
                                            deliveries.c.delivery_key == key)
    ).first() is not None


def _sequence_warnings(conn: Connection, source: str, sequence: int) -> list[str]:
    last = conn.execute(
        select(func.max(deliveries.c.sequence)).where(deliveries.c.source == source)
    ).scalar()
    if last is None or sequence == last + 1:
        return []
    if sequence > last + 1:
        return [f"sequence gap: {source} {last + 1}..{sequence - 1} not received"]
    return [f"late delivery: {source} sequence {sequence} arrives after {last}"]
