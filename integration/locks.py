"""Named leases in the database (``job_locks``): one holder at a time across processes and
machines, for work that must not run twice at once (the inbox import, the nightly jobs)."""
from __future__ import annotations

import os
import socket
from datetime import timedelta

from sqlalchemy import Engine, insert, or_, update
from sqlalchemy.exc import IntegrityError

from integration import models as m
from integration.db import utcnow

locks = m.JobLock.__table__
LEASE = timedelta(minutes=30)


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def acquire_lock(engine: Engine, name: str, holder: str, lease: timedelta = LEASE) -> bool:
    """Take or renew the named lease; False when another live holder has it.

    One conditional UPDATE decides, so two processes can never both win."""
    now = utcnow()
    with engine.begin() as conn:
        try:
            with conn.begin_nested():
                conn.execute(insert(locks), {"name": name, "holder": None, "expires_at": None})
        except IntegrityError:
            pass
        taken = conn.execute(
            update(locks)
            .where(locks.c.name == name,
                   or_(locks.c.holder.is_(None), locks.c.holder == holder,
                       locks.c.expires_at < now))
            .values(holder=holder, expires_at=now + lease)
        ).rowcount
    return taken == 1


def release_lock(engine: Engine, name: str, holder: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(locks).where(locks.c.name == name, locks.c.holder == holder)
                     .values(holder=None, expires_at=None))
