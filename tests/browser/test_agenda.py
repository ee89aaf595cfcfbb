"""The day's agenda in the real browser: an RM signs in and lands on it, sees what is
overdue, due today and coming up, and completes a task with its outcome from the agenda."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy.orm import Session

from integration.db import make_engine
from portal.workbench.models import Task
from portal.workbench.tasks import add_task

pytestmark = pytest.mark.browser

SHANGHAI = timezone(timedelta(hours=8))  # the bank's calendar decides what "today" is


def add(url: str, **kwargs: Any) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            return add_task(session, assignee_staff_id="RM0001", **kwargs).id
    finally:
        engine.dispose()


def test_an_rm_works_through_the_agenda(page, sign_in, browser_bank,
                                        browser_database_url):
    marker = uuid.uuid4().hex[:8]  # the browser tests share one database
    today = datetime.now(SHANGHAI).date()
    overdue = add(browser_database_url, title=f"Overdue call {marker}",
                  due_date=today - timedelta(days=2), customer_id=browser_bank["C1"],
                  priority="high")
    due_today = add(browser_database_url, title=f"Today's visit {marker}", due_date=today,
                    customer_id=browser_bank["C1"])
    upcoming = add(browser_database_url, title=f"Next week {marker}",
                   due_date=today + timedelta(days=5))
    far = add(browser_database_url, title=f"Far away {marker}",
              due_date=today + timedelta(days=30))

    sign_in("rm1")
    assert urlsplit(page.url).path == "/agenda"
    assert page.locator(f"#agenda-overdue #task-{overdue}").count() == 1
    assert page.locator(f"#agenda-today #task-{due_today}").count() == 1
    assert page.locator(f"#agenda-upcoming #task-{upcoming}").count() == 1
    assert page.locator(f"#task-{far}").count() == 0
    row = page.locator(f"#task-{due_today}")
    assert "张三" in row.inner_text() and f"Today's visit {marker}" in row.inner_text()

    # The outcome is required: the browser does not send the form without one.
    row.locator("button[type=submit]").click()
    assert page.locator(f"#agenda-today #task-{due_today}").count() == 1

    outcome = f"Met the customer, fund review next month {marker}"
    row.locator("input[name=outcome]").fill(outcome)
    with page.expect_navigation():
        row.locator("button[type=submit]").click()
    assert urlsplit(page.url).path == "/agenda"
    assert page.locator(".flash.info").count() >= 1
    assert page.locator(f"#task-{due_today}").count() == 0
    assert page.locator(f"#agenda-overdue #task-{overdue}").count() == 1

    engine = make_engine(browser_database_url)
    try:
        with Session(engine) as session:
            done = session.get(Task, due_today)
            assert (done.status, done.outcome) == ("done", outcome)
    finally:
        engine.dispose()

    page.goto(f"/tasks/{due_today}")
    assert page.locator("#task-status").count() == 1
    assert outcome in page.locator("#task-outcome").inner_text()
