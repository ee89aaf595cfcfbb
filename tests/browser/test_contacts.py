"""Logging a contact in the real browser: from a customer's 360 page, with a follow-up
task, back to the 360 page that shows it, and the follow-up on the task list."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser

SHANGHAI = timezone(timedelta(hours=8))


def test_log_a_contact_with_a_follow_up_from_the_360_page(  # type: ignore[no-untyped-def]
        page, sign_in, browser_bank):
    marker = uuid.uuid4().hex[:8]  # the browser tests share one database
    outcome, next_step = f"Reviewed the portfolio {marker}", f"Send the bond proposal {marker}"
    due = (datetime.now(SHANGHAI) + timedelta(days=3)).date()
    customer = browser_bank["C1"]

    sign_in("rm1")
    page.goto(f"/customers/{customer}")
    with page.expect_navigation():
        page.click("#log-contact")
    assert urlsplit(page.url).path == f"/customers/{customer}/contacts/new"
    assert page.locator("#contact-customer").inner_text() == "张三"
    assert page.input_value("input[name=contacted_at]")  # now, in the bank's local time
    page.select_option("select[name=channel]", "visit")
    page.select_option("select[name=purpose]", "review")
    page.fill("textarea[name=outcome]", outcome)
    page.fill("textarea[name=next_step]", next_step)
    page.check("input[name=follow_up]")
    page.fill("input[name=follow_up_due]", due.isoformat())
    with page.expect_navigation():
        page.click("#save-contact")

    assert urlsplit(page.url).path == f"/customers/{customer}"
    assert page.locator(".flash").count() == 1
    latest = page.locator("#latest-contacts li").first
    assert outcome in latest.inner_text() and next_step in latest.inner_text()
    assert page.locator("#contact-overdue").count() == 0  # contacted just now
    assert next_step in page.locator("#customer-tasks").inner_text()

    page.goto("/tasks")
    row = page.locator("#task-list tr", has_text=next_step)
    assert row.count() == 1
    assert "张三" in row.inner_text()


def test_a_mistake_is_shown_next_to_its_field_and_nothing_is_logged(  # type: ignore[no-untyped-def]
        page, sign_in, browser_bank):
    customer = browser_bank["C1"]
    sign_in("rm1")
    page.goto(f"/customers/{customer}/contacts/new")
    page.check("input[name=follow_up]")
    with page.expect_navigation():
        page.click("#save-contact")  # no outcome, no due date
    assert urlsplit(page.url).path == f"/customers/{customer}/contacts/new"
    assert page.locator(".field-error").count() >= 1
    assert page.input_value("input[name=contacted_at]")  # what was entered stays
