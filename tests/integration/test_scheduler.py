"""Inbox pick-up: order, moves, and the lock that keeps two schedulers apart."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from integration import models as m
from integration.locks import acquire_lock, release_lock
from integration.scheduler import pick_up_inbox
from tests.feeds import reference, txn, write


def settings(inbox: Path) -> dict:  # type: ignore[type-arg]
    return {"INBOX": str(inbox), "FEED_MAX_BYTES": 10**8, "INGEST_CHUNK": 5}


def fill_inbox(inbox: Path) -> None:
    inbox.mkdir(parents=True, exist_ok=True)

    def customers(feed):  # type: ignore[no-untyped-def]
        reference(feed)
        feed.customer("C1", "张三", branch="S011")
        feed.account("A1", "C1", product="SAV", type="SAVINGS", currency="CNY", balance="1")

    def payments(feed):  # type: ignore[no-untyped-def]
        txn(feed, "T1", "A1", "5")
    # Named so that name order is the wrong order: the scheduler must sort by sequence.
    write(inbox / "a-cbs-0002.xml", payments, sequence=2)
    write(inbox / "b-cbs-0001.xml", customers, sequence=1)
    (inbox / "c-garbage.xml").write_bytes(b"<not-a-feed/>")


def test_files_are_imported_in_sequence_order_and_moved(engine, tmp_path):
    inbox = tmp_path / "inbox"
    fill_inbox(inbox)
    results = pick_up_inbox(engine, settings(inbox))
    assert [(Path(r.file).name, r.status) for r in results] == [
        ("b-cbs-0001.xml", "applied"), ("a-cbs-0002.xml", "applied"),
        ("c-garbage.xml", "rejected")]
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == [
        "a-cbs-0002.xml", "b-cbs-0001.xml"]
    assert [p.name for p in (inbox / "rejected").iterdir()] == ["c-garbage.xml"]
    assert not [p for p in inbox.iterdir() if p.is_file()]


def test_the_lock_has_one_holder_until_it_expires(engine):
    assert acquire_lock(engine, "inbox", "host-a:1")
    assert acquire_lock(engine, "inbox", "host-a:1")  # renewal by the holder
    assert not acquire_lock(engine, "inbox", "host-b:2")
    release_lock(engine, "inbox", "host-a:1")
    assert acquire_lock(engine, "inbox", "host-b:2", lease=timedelta(seconds=-1))  # expired lease
    assert acquire_lock(engine, "inbox", "host-c:3")


def test_one_nightly_run_at_a_time(engine):
    from integration.jobs import NIGHTLY_LOCK, NightlyBusy, run_nightly

    assert acquire_lock(engine, NIGHTLY_LOCK, "other-host:1")
    with pytest.raises(NightlyBusy):
        run_nightly(engine, date(2026, 11, 20), only=set())
    release_lock(engine, NIGHTLY_LOCK, "other-host:1")
    assert run_nightly(engine, date(2026, 11, 20), only=set()) == {}
    # The run let go of the lease when it finished.
    assert acquire_lock(engine, NIGHTLY_LOCK, "other-host:1")


def test_concurrent_claims_have_exactly_one_winner(engine):
    barrier = threading.Barrier(6)
    wins: list[str] = []

    def claim(holder: str) -> None:
        barrier.wait()
        if acquire_lock(engine, "race", holder):
            wins.append(holder)
    threads = [threading.Thread(target=claim, args=(f"h{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


def test_two_scheduler_processes_never_import_the_same_file(engine, database_url, tmp_path):
    inbox = tmp_path / "inbox"
    fill_inbox(inbox)
    for n in range(3, 9):  # more files, so both processes are busy at the same time
        write(inbox / f"d-cbs-{n:04d}.xml", lambda f, n=n: txn(f, f"T{n}", "A1", "1"),
              sequence=n)
    env = {**os.environ, "CRM_ENV": "development", "CRM_DATABASE_URL": database_url,
           "CRM_INBOX": str(inbox), "CRM_INSTANCE_PATH": str(tmp_path / "instance"),
           "CRM_LOG_LEVEL": "WARNING"}
    env.pop("CRM_TEST_DATABASE_URL", None)
    crm = [sys.executable, "-c", "from portal.cli import main; main()", "scheduler", "--once"]
    procs = [subprocess.Popen(crm, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    imported = [json.loads(line)["file"] for out, _ in outputs for line in out.splitlines()
                if line.startswith("{")]
    assert len(imported) == len(set(imported)) == 9
    with engine.connect() as conn:
        batches = conn.execute(select(m.FeedBatch.file_name, m.FeedBatch.status)).all()
    assert len(batches) == 9 and {s for _, s in batches} == {"applied", "rejected"}
