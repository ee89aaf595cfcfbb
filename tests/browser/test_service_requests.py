"""An RM serves a Platinum customer in the real browser: raises an airport-lounge request
from the 360 page, sees the year's remaining quota drop, and moves the request to fulfilled
on the service requests page."""
from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from integration.db import make_engine
from portal.vip.models import CustomerTier, ServiceRequest

pytestmark = pytest.mark.browser


@pytest.fixture
def platinum_customer(browser_database_url: str, browser_bank: dict[str, int]) -> int:
    """张三 (rm1's) on Platinum, as the monthly evaluation would leave him, with no requests."""
    customer_id = browser_bank["C1"]
    engine = make_engine(browser_database_url)
    try:
        with Session(engine) as session, session.begin():
            session.execute(delete(ServiceRequest)
                            .where(ServiceRequest.customer_id == customer_id))
            session.execute(delete(CustomerTier).where(CustomerTier.customer_id == customer_id))
            session.add(CustomerTier(customer_id=customer_id, tier_code="platinum",
                                     since=date(2026, 1, 1)))
    finally:
        engine.dispose()
    return customer_id


def lounge_left(page) -> str:  # type: ignore[no-untyped-def]
    row = page.locator('#service-entitlements tr[data-code="airport_lounge"]')
    return row.get_attribute("data-remaining")  # type: ignore[no-any-return]


def test_an_rm_raises_a_lounge_visit_and_fulfils_it(  # type: ignore[no-untyped-def]
        page, sign_in, live_server, platinum_customer):
    sign_in("rm1")
    page.goto(f"/customers/{platinum_customer}")
    assert page.locator("#service").is_visible()
    assert lounge_left(page) == "2"

    with page.expect_navigation():
        page.click("#raise-service-request")
    assert urlsplit(page.url).path == f"/customers/{platinum_customer}/service-requests/new"
    page.check("#entitlement-airport_lounge")
    page.fill("textarea[name=note]", "浦东机场 T2，12月3日")
    with page.expect_navigation():
        page.click("#service-submit")
    assert urlsplit(page.url).path == f"/customers/{platinum_customer}"
    assert lounge_left(page) == "1"  # the quota dropped
    assert page.locator("#service-open li").count() == 1

    with page.expect_navigation():
        page.click("#nav-service")
    row = page.locator(f'#service-requests tr[data-customer="{platinum_customer}"]')
    assert row.count() == 1
    assert row.get_attribute("data-status") == "open"
    assert "张三" in row.inner_text()
    with page.expect_navigation():
        row.locator("a.svc-open").click()
    assert "浦东机场 T2" in page.locator("main").inner_text()
    with page.expect_navigation():
        page.click("#to-in_progress")
    assert page.locator("#service-status").get_attribute("data-status") == "in_progress"
    page.fill("textarea[name=resolution]", "已预约贵宾厅")
    with page.expect_navigation():
        page.click("#to-fulfilled")
    assert page.locator("#service-status").get_attribute("data-status") == "fulfilled"
    assert page.locator("#service-transition").count() == 0  # fulfilled is final

    page.goto(f"/customers/{platinum_customer}")
    assert lounge_left(page) == "1"  # a fulfilled request keeps its quota
    assert page.locator("#service-open li").count() == 0
