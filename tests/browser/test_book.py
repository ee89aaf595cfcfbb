"""A branch manager's bulk reassignment in the real browser: tick customers on the book page
(select all on the page, untick one), choose another RM, give a reason; the book then shows
the new RM.

Its customers and RM are its own (loaded here into the shared browser database), so the
other browser tests' customers and books stay as they were."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from integration import models as m
from integration.db import make_engine
from integration.pipeline import import_file
from tests.feeds import write

pytestmark = pytest.mark.browser

NAMES = ("浏览甲", "浏览乙", "浏览丙")
FROM_STAFF, TO_STAFF = "RM0096", "RM0097"
TO_NAME = "柜员新"


def _customers(feed):  # type: ignore[no-untyped-def]
    for n, name in enumerate(NAMES):
        feed.customer(f"BRB{n}", name, mobile=f"1370000000{n}", branch="S012",
                      manager=FROM_STAFF)


@pytest.fixture(scope="module")
def book_customers(  # type: ignore[no-untyped-def]
        browser_database_url, live_server, tmp_path_factory) -> dict[str, int]:
    """Three customers of a staff id without an account, and an RM to receive them."""
    from portal.users import create_user

    engine = make_engine(browser_database_url)
    try:
        path = write(tmp_path_factory.mktemp("book-feed") / "book.xml", _customers,
                     sequence=40)
        result = import_file(engine, path, max_bytes=10**8, chunk=50)
        assert result.status == "applied", result.reason
        with Session(engine) as session, session.begin():
            create_user(session, "book_rm_new", "rm", "S012", "unused password 1",
                        "pbkdf2:sha256:1000", TO_STAFF, display_name=TO_NAME)
            rows = session.execute(select(m.Customer.name, m.Customer.id)
                                   .where(m.Customer.name.in_(NAMES)))
            return dict(rows.all())
    finally:
        engine.dispose()


def test_a_branch_manager_reassigns_ticked_customers(  # type: ignore[no-untyped-def]
        page, sign_in, book_customers) -> None:
    sign_in("bm_b01")
    page.goto("/book?q=浏览")
    rows = page.locator("#book-table tbody tr")
    assert rows.count() == 3
    for name in NAMES:
        assert FROM_STAFF in page.locator(f'tr[data-customer="{book_customers[name]}"] td.rm') \
            .inner_text()

    page.check("#select-page")
    assert page.locator("#book-table input.pick:checked").count() == 3
    page.uncheck(f'tr[data-customer="{book_customers["浏览丙"]}"] input.pick')
    assert page.locator("#picked-count").inner_text() == "2"
    assert page.locator("#select-page").evaluate("box => box.indeterminate")

    page.select_option("#to-staff", TO_STAFF)
    page.fill("#reassign-reason", "平衡客户经理工作量")
    with page.expect_navigation():
        page.click("#reassign-submit")

    assert urlsplit(page.url).path == "/book"
    assert page.locator(".flash.success").count() == 1
    assert TO_STAFF in page.locator(".flash.success").inner_text()
    for name, staff in (("浏览甲", TO_NAME), ("浏览乙", TO_NAME), ("浏览丙", FROM_STAFF)):
        cell = page.locator(f'tr[data-customer="{book_customers[name]}"] td.rm').inner_text()
        assert staff in cell, (name, cell)
