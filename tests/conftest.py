"""Shared fixtures: one migrated database per run, emptied between tests.

SQLite: a migrated template file is copied for each test.  PostgreSQL (when
CRM_TEST_DATABASE_URL is set): migrated once, tables truncated between tests."""
from __future__ import annotations

import itertools
import os
import shutil
import uuid
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import Engine, make_url, text

from config import TestConfig
from integration.db import make_engine
from integration.migrate import upgrade

PG_URL = os.environ.get("CRM_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if PG_URL:
        # A database of its own per run, so parallel runs never trip over each other.
        name = f"crm_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        upgrade(engine)
        _keep_seeds(engine)
        engine.dispose()
        yield url
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        return
    path = tmp_path_factory.mktemp("template") / "crm.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    yield str(path)


def _keep_seeds(engine: Engine) -> None:
    """Copy the rows migrations seed (default policies, rules) aside, so each test starts
    from them on PostgreSQL as it does from the copied template on SQLite."""
    with engine.begin() as conn:
        conn.execute(text("CREATE SCHEMA seed"))
        for table in _tables(conn):
            if conn.execute(text(f'SELECT EXISTS (SELECT 1 FROM public."{table}")')).scalar():
                conn.execute(text(f'CREATE TABLE seed."{table}" AS TABLE public."{table}"'))


def _tables(conn: Any, schema: str = "public") -> list[str]:
    return list(conn.execute(text(
        "SELECT tablename FROM pg_tables WHERE schemaname = :schema "
        "AND tablename <> 'alembic_version'"), {"schema": schema}).scalars())


def _delete_order() -> list[str]:
    """Every table, those that refer to others first (so plain DELETEs never trip a key)."""
    import integration.models  # noqa: F401 - every model registers its table
    import portal.models  # noqa: F401
    import portal.vip.models  # noqa: F401
    import portal.workbench.models  # noqa: F401
    import risk.models  # noqa: F401
    from integration.db import Base

    return [table.name for table in reversed(Base.metadata.sorted_tables)]


def _truncate(engine: Engine) -> None:
    """Empty what the last test filled and put the seeded rows back. DELETE, not TRUNCATE:
    a TRUNCATE of forty tables creates forty sets of files and took 0.3 s a test; the few
    rows a test leaves delete in milliseconds. Identities restart as after TRUNCATE."""
    with engine.begin() as conn:
        tables = _tables(conn)
        filled = set(conn.execute(text(" UNION ALL ".join(
            f"SELECT '{table}' WHERE EXISTS (SELECT 1 FROM public.\"{table}\")"
            for table in tables))).scalars())
        ordered = [t for t in _delete_order() if t in filled]
        for table in ordered:
            if table == "audit_events":  # append-only: its triggers refuse DELETE
                conn.execute(text('TRUNCATE public."audit_events"'))
            else:
                conn.execute(text(f'DELETE FROM public."{table}"'))
        leftover = sorted(filled - set(ordered))
        if leftover:  # a table no model declares: the sure way
            conn.execute(text(f"TRUNCATE {', '.join(leftover)} CASCADE"))
        for sequence in conn.execute(text(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' "
                "AND last_value IS NOT NULL")).scalars():
            conn.execute(text(f'ALTER SEQUENCE public."{sequence}" RESTART'))
        for table in _tables(conn, "seed"):
            conn.execute(text(f'INSERT INTO public."{table}" SELECT * FROM seed."{table}"'))
            sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"),
                                    {"t": f'public."{table}"'}).scalar()
            if sequence:
                conn.execute(text(f'SELECT setval(:s, (SELECT max(id) FROM public."{table}"))'),
                             {"s": sequence})


@pytest.fixture
def database_url(_template: str, tmp_path: Path) -> str:
    if PG_URL:
        return _template
    copy = tmp_path / "crm.sqlite3"
    shutil.copyfile(_template, copy)
    return f"sqlite:///{copy}"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    if PG_URL:
        _truncate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> TestConfig:
    return TestConfig({
        "CRM_TEST_DATABASE_URL": database_url,
        "CRM_INSTANCE_PATH": str(tmp_path / "instance"),
        "CRM_FEED_MAX_BYTES": str(50 * 1024 * 1024),
    })


@pytest.fixture
def app(config: TestConfig, engine: Engine) -> Iterator[Any]:
    from portal import create_app

    app = create_app(config)
    yield app
    app.extensions["crm.db"][0].dispose()


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def feed_path(tmp_path: Path) -> Callable[..., Path]:
    """A fresh file name for each feed a test writes."""
    counter = itertools.count(1)

    def make(name: str = "feed") -> Path:
        return tmp_path / f"{name}-{next(counter)}.xml"

    return make


@pytest.fixture
def import_feed(engine: Engine) -> Callable[..., Any]:
    from integration.pipeline import import_file

    def run(path: Path, **kwargs: Any) -> Any:
        kwargs.setdefault("max_bytes", 50 * 1024 * 1024)
        kwargs.setdefault("chunk", 7)  # tiny chunks: every test crosses chunk boundaries
        return import_file(engine, path, **kwargs)

    return run


BUSINESS_DATE = date(2026, 11, 20)
