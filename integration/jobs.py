"""Work that runs after the night's feeds are applied (refreshing balances, generating
tasks, confirming won opportunities, …). Modules above the data centre register their jobs
here, so the scheduler and ``crm nightly`` run them without the data centre knowing them."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Callable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from integration.db import session_factory
from integration.locks import acquire_lock, holder_name, release_lock

log = logging.getLogger(__name__)
NIGHTLY_LOCK = "nightly"
# Renewed before every job: a run that died frees the jobs once its lease ends.
NIGHTLY_LEASE = timedelta(hours=2)


class NightlyBusy(RuntimeError):
    """Another process is running the nightly jobs."""


@dataclass(frozen=True)
class NightlyJob:
    name: str
    # Runs in its own transaction: (session, business date) -> a summary for the log.
    run: Callable[[Session, date], Any]
    order: int = 100


_JOBS: dict[str, NightlyJob] = {}


def register_nightly(job: NightlyJob) -> None:
    _JOBS[job.name] = job


def nightly_jobs() -> list[NightlyJob]:
    return sorted(_JOBS.values(), key=lambda job: (job.order, job.name))


def run_nightly(engine: Engine, business_date: date,
                only: set[str] | None = None) -> dict[str, Any]:
    """Run every registered job (or those named in ``only``) in order, each in a
    transaction of its own: a failing job rolls back alone and the others still run.
    One run at a time (a lease in the database): NightlyBusy while another holds it."""
    holder = holder_name()
    if not acquire_lock(engine, NIGHTLY_LOCK, holder, NIGHTLY_LEASE):
        raise NightlyBusy("the nightly jobs are running in another process")
    sessions = session_factory(engine)
    results: dict[str, Any] = {}
    try:
        for job in nightly_jobs():
            if only is not None and job.name not in only:
                continue
            acquire_lock(engine, NIGHTLY_LOCK, holder, NIGHTLY_LEASE)  # renew
            try:
                with sessions.begin() as session:
                    results[job.name] = job.run(session, business_date)
                log.info("nightly job %s: %s", job.name, results[job.name])
            except Exception as exc:  # noqa: BLE001 - one job's failure must not stop the rest
                log.exception("nightly job %s failed", job.name)
                results[job.name] = {"error": str(exc)}
    finally:
        release_lock(engine, NIGHTLY_LOCK, holder)
    return results
