"""Read-side queries of the data centre for operators (CLI now, admin pages later)."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from integration import models as m


def stats(conn: Connection) -> dict[str, int]:
    """The counts `crm stats --json` promises."""
    def count(model: Any, *where: Any) -> int:
        return conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one()

    return {
        "customers": count(m.Customer),
        "accounts": count(m.Account),
        "holdings": count(m.Holding),
        "transactions": count(m.Transaction),
        "quarantined": count(m.QuarantinedRecord, m.QuarantinedRecord.status == "waiting"),
        "batches": count(m.FeedBatch),
    }


def recent_batches(conn: Connection, limit: int, source: str | None = None) -> list[dict[str, Any]]:
    query = select(m.FeedBatch.__table__).order_by(m.FeedBatch.id.desc()).limit(limit)
    if source:
        query = query.where(m.FeedBatch.source == source)
    return [dict(r) for r in conn.execute(query).mappings()]


def quarantined_records(conn: Connection, status: str, batch_id: int | None,
                        limit: int) -> list[dict[str, Any]]:
    q = m.QuarantinedRecord
    query = select(q.id, q.batch_id, q.source, q.kind, q.record_key, q.reason_code, q.reason,
                   q.waiting_kind, q.waiting_key, q.status, q.created_at).order_by(q.id).limit(limit)
    if status != "all":
        query = query.where(q.status == status)
    if batch_id is not None:
        query = query.where(q.batch_id == batch_id)
    return [dict(r) for r in conn.execute(query).mappings()]


def waiting_ids(conn: Connection) -> list[int]:
    q = m.QuarantinedRecord
    return list(conn.execute(select(q.id).where(q.status == "waiting").order_by(q.id)).scalars())


def latest_business_date(bind: Connection | Session) -> date:
    """The business date of the newest feed applied (fully or partly), else today."""
    found = bind.execute(select(func.max(m.FeedBatch.business_date))
                         .where(m.FeedBatch.status.in_(("applied", "partial")))).scalar()
    return found or date.today()
