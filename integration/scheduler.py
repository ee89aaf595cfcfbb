"""The scheduler process: picks feed files up from the inbox, one importer at a time."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import Engine

from integration.adapters.base import FeedRejected
from integration.db import utcnow
from integration.jobs import NightlyBusy, run_nightly
from integration.locks import acquire_lock, holder_name, release_lock
from integration.pipeline import ImportResult, import_file
from integration.queries import latest_business_date

log = logging.getLogger(__name__)

INBOX_LOCK = "inbox"  # renewed before every file; a dead holder frees it by expiry


def _order_key(path: Path, max_bytes: int) -> tuple[str, int, str]:
    """Files are imported in (source, sequence) order; unreadable ones last."""
    from integration.adapters.detect import open_adapter

    try:
        adapter = open_adapter(path, "auto", max_bytes)
        header = adapter.header()
        getattr(adapter, "close", lambda: None)()
    except (FeedRejected, OSError):
        return ("~", 0, path.name)
    return (header.source, header.sequence or 0, path.name)


def inbox_files(inbox: Path, max_bytes: int) -> list[Path]:
    files = [p for p in inbox.iterdir() if p.is_file() and not p.name.startswith(".")]
    return sorted(files, key=lambda p: _order_key(p, max_bytes))


def pick_up_inbox(engine: Engine, config: Mapping[str, Any],
                  holder: str | None = None) -> list[ImportResult]:
    """Import every file waiting in the inbox, then move it to processed/ or rejected/."""
    inbox = Path(config["INBOX"])
    inbox.mkdir(parents=True, exist_ok=True)
    holder = holder or holder_name()
    if not acquire_lock(engine, INBOX_LOCK, holder):
        log.info("inbox is being imported by another process")
        return []
    results = []
    try:
        for path in inbox_files(inbox, config["FEED_MAX_BYTES"]):
            if not path.exists():
                continue
            if not acquire_lock(engine, INBOX_LOCK, holder):  # renew; lost means stop
                log.warning("lost the inbox lease; stopping")
                break
            result = import_file(engine, path, max_bytes=config["FEED_MAX_BYTES"],
                                 chunk=config["INGEST_CHUNK"])
            target = inbox / ("rejected" if result.status == "rejected" else "processed")
            target.mkdir(exist_ok=True)
            destination = target / path.name
            if destination.exists():
                destination = target / f"{path.stem}.batch{result.batch_id}{path.suffix}"
            shutil.move(str(path), destination)
            results.append(result)
        if any(r.status in ("applied", "partial") for r in results):
            # The night's data changed: refresh what is derived from it (integration.jobs).
            with engine.connect() as conn:
                day = latest_business_date(conn)
            try:
                run_nightly(engine, day)
            except NightlyBusy:  # someone ran `crm nightly` meanwhile; the next pick-up runs
                log.warning("nightly jobs busy in another process; not run after this import")
    finally:
        release_lock(engine, INBOX_LOCK, holder)
    return results


def run_scheduler(app: Any) -> None:
    """Block, running the jobs on their intervals until interrupted."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from portal.extensions import db

    scheduler = BlockingScheduler(timezone="UTC")

    def inbox_job() -> None:
        with app.app_context():
            pick_up_inbox(db.engine, app.config)

    scheduler.add_job(inbox_job, "interval", seconds=app.config["SCHEDULER_INBOX_SECONDS"],
                      id="inbox", max_instances=1, coalesce=True, next_run_time=utcnow())
    log.info("scheduler started; inbox %s every %ss", app.config["INBOX"],
             app.config["SCHEDULER_INBOX_SECONDS"])
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
