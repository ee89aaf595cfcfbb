"""The bell in the real browser: an RM sees the unread count, opens the notifications page
from the bell, opens one (it is read and its customer's page opens), marks the rest read."""
from __future__ import annotations

import os
from typing import Iterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from sqlalchemy.orm import Session

from integration.db import make_engine
from integration.models import Customer
from portal.models import User
from portal.workbench.models import Notification
from portal.workbench.notifications import notify

pytestmark = pytest.mark.browser


@pytest.fixture
def rm2_notified(browser_database_url: str, live_server: str) -> Iterator[list[int]]:
    """Two fresh notifications for rm2 (written as a service would), newest first.

    The browser tests share one database: nothing here moves a customer."""
    engine = make_engine(browser_database_url)
    with Session(engine) as session:
        rm2 = session.scalar(select(User.id).where(User.username == "rm2"))
        customer = session.scalar(select(Customer.id).where(Customer.name == "李四"))
        notify(session, [rm2], "tasks_generated", {"count": 3})
        notify(session, [rm2], "assigned", {"count": 1, "reason": "browser check",
                                            "by": "bm_b01", "customer": "李四"},
               customer_id=customer)
        session.commit()
        ids = list(session.scalars(select(Notification.id).where(Notification.user_id == rm2)
                                   .order_by(Notification.id.desc()).limit(2)))
    yield ids
    engine.dispose()


def bell_count(page) -> int:  # type: ignore[no-untyped-def]
    count = page.locator("#bell-count")
    return int(count.inner_text()) if count.count() else 0


def test_the_bell_leads_to_the_notifications_and_opening_one_reads_it(  # type: ignore[no-untyped-def]
        page, sign_in, rm2_notified, browser_bank):
    newest, older = rm2_notified
    sign_in("rm2")
    before = bell_count(page)
    assert before >= 2
    with page.expect_navigation():
        page.click("#bell")
    assert urlsplit(page.url).path == "/notifications"
    item = page.locator(f"#notification-{newest}")
    assert "unread" in (item.get_attribute("class") or "")
    assert "李四" in item.inner_text() and "browser check" in item.inner_text()
    if os.environ.get("CRM_SCREENSHOTS"):
        page.screenshot(path=os.environ["CRM_SCREENSHOTS"] + "/notifications.png",
                        full_page=True)
    with page.expect_navigation():
        item.locator("button.notification-text").click()
    assert urlsplit(page.url).path == f"/customers/{browser_bank['C2']}"
    assert bell_count(page) == before - 1
    with page.expect_navigation():
        page.click("#bell")
    assert "unread" not in (page.locator(f"#notification-{newest}").get_attribute("class")
                            or "")
    with page.expect_navigation():
        page.click("#mark-all-read")
    assert bell_count(page) == 0
    assert page.locator(".notification.unread").count() == 0
    assert page.locator(f"#notification-{older}").count() == 1
