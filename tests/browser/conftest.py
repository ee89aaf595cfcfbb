"""Browser tests: the real portal on a loopback port, driven in Debian's headless Chromium.

One server per run (werkzeug in a thread) over a database of its own, loaded with the
functional tests' bank through the real pipeline, with their users.  Playwright never
downloads a browser here: it launches /usr/bin/chromium (`make browser` installs it).
Without Chromium the tests fail under CI=true and skip elsewhere, saying why."""
from __future__ import annotations

import os
import threading
import uuid
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import make_url, select, text

from config import TestConfig
from integration import models as m
from integration.db import make_engine
from integration.migrate import upgrade
from integration.pipeline import import_file
from tests.feeds import write
from tests.functional.conftest import PASSWORD, USERS, bank_feed

CHROMIUM = os.environ.get("CRM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TABLET = {"width": 1024, "height": 768}
PG_URL = os.environ.get("CRM_TEST_DATABASE_URL")
# Only the lock-out test signs in wrongly, and as this user of its own.
LOCKOUT_USER = "lockout_analyst"


def _cannot_run(reason: str) -> None:
    """Fail in CI, where a missing browser is a broken set-up; skip on a developer machine."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


# --- the server ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database used only by the browser tests (its own PostgreSQL database when
    CRM_TEST_DATABASE_URL is set: the other tiers truncate theirs between tests)."""
    if PG_URL:
        name = f"crm_browser_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        admin = make_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        try:
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        return
    yield f"sqlite:///{tmp_path_factory.mktemp('browser-db') / 'crm.sqlite3'}"


@pytest.fixture(scope="session")
def browser_bank(browser_database_url: str, tmp_path_factory: pytest.TempPathFactory
                 ) -> dict[str, int]:
    """The bank loaded through import_file; source customer id (C1…) → golden id."""
    engine = make_engine(browser_database_url)
    try:
        upgrade(engine)
        path = write(tmp_path_factory.mktemp("browser-feed") / "bank.xml", bank_feed)
        result = import_file(engine, path, max_bytes=10**8, chunk=50)
        assert result.status == "applied", result.reason
        with engine.connect() as conn:
            rows = conn.execute(select(m.CustomerSource.source_id, m.CustomerSource.customer_id))
            return {source_id: cid for source_id, cid in rows}
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def live_server(browser_database_url: str, browser_bank: dict[str, int],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The portal served on 127.0.0.1 at a free port; yields its base URL."""
    from werkzeug.serving import make_server

    from portal import create_app
    from portal.extensions import db
    from portal.users import create_user

    app = create_app(TestConfig({
        "CRM_TEST_DATABASE_URL": browser_database_url,
        "CRM_INSTANCE_PATH": str(tmp_path_factory.mktemp("browser-instance")),
    }))
    with app.app_context():
        session = db.sessions()
        for username, (role, branch, staff) in USERS.items():
            create_user(session, username, role, branch, PASSWORD,
                        app.config["PASSWORD_METHOD"], staff)
        create_user(session, LOCKOUT_USER, "analyst", "HO", PASSWORD,
                    app.config["PASSWORD_METHOD"])
        session.commit()
        session.close()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="portal", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["crm.db"][0].dispose()


# --- the browser -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium under Playwright (a fresh temporary profile per launch)."""
    if not os.access(CHROMIUM, os.X_OK):
        _cannot_run(f"Chromium not found at {CHROMIUM}; run `make browser` as root "
                    "(apt-get install chromium fonts-noto-cjk) or set CRM_CHROMIUM")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _cannot_run("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                             headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Any, live_server: str) -> Iterator[Any]:
    """A new tab in a fresh context (no cookies), tablet-sized, Chinese first."""
    context = chromium.new_context(base_url=live_server, viewport=TABLET, locale="zh-CN")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def sign_in(page: Any) -> Callable[..., Any]:
    """Fill in and submit the sign-in form as a person would."""
    def submit(username: str, password: str = PASSWORD) -> Any:
        page.goto("/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        with page.expect_navigation():
            page.click("#login-form button[type=submit]")
        return page
    return submit
