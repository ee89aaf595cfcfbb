"""Moving an opportunity across the board in the real browser: create it from the customer
360 page, drag its card to another column (persisted: still there after a reload), and
drag it to Lost, which asks why first."""
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from portal.workbench.opportunities import bank_today

pytestmark = pytest.mark.browser


def new_opportunity(page, customer_id: int, amount: str) -> int:  # type: ignore[no-untyped-def]
    """Create an opportunity as an RM does: from the customer's page."""
    page.goto(f"/customers/{customer_id}")
    with page.expect_navigation():
        page.click("#new-opportunity-link")
    page.select_option("select[name=product]", "FUND1")
    page.fill("input[name=amount]", amount)
    page.fill("input[name=expected_close]", (bank_today() + timedelta(days=30)).isoformat())
    with page.expect_navigation():
        page.click("#new-opportunity button[type=submit]")
    found = re.fullmatch(r"/pipeline/(\d+)", urlsplit(page.url).path)
    assert found, page.url
    return int(found.group(1))


def column_of(page, opportunity_id: int) -> str:  # type: ignore[no-untyped-def]
    card = page.locator(f"#opportunity-{opportunity_id}")
    return str(card.evaluate("card => card.closest('.board-column').dataset.stage"))


def test_dragging_a_card_moves_the_opportunity(  # type: ignore[no-untyped-def]
        page, sign_in, browser_bank):
    sign_in("rm1")
    opp = new_opportunity(page, browser_bank["C4"], "77777")
    page.goto("/pipeline/board")
    card = page.locator(f"#opportunity-{opp}")
    assert column_of(page, opp) == "lead"
    proposals = int(page.locator("#column-proposal [data-count]").inner_text())

    card.drag_to(page.locator("#column-proposal"))
    page.wait_for_function(
        f"document.querySelector('#opportunity-{opp}').closest('.board-column')"
        ".dataset.stage === 'proposal'")
    assert page.locator("#column-proposal [data-count]").inner_text() == str(proposals + 1)
    assert page.locator("#board-status").inner_text() != ""

    page.reload()
    assert column_of(page, opp) == "proposal"  # persisted


def test_dropping_a_card_on_lost_asks_why(  # type: ignore[no-untyped-def]
        page, sign_in, browser_bank):
    sign_in("rm1")
    opp = new_opportunity(page, browser_bank["C4"], "12345")
    page.goto("/pipeline/board")
    dialog = page.locator("#lost-dialog")

    # Changing one's mind: cancelled, nothing moves.
    page.locator(f"#opportunity-{opp}").drag_to(page.locator("#column-lost"))
    dialog.wait_for(state="visible")
    page.click("#lost-cancel")
    assert not dialog.is_visible()
    page.reload()
    assert column_of(page, opp) == "lead"

    page.locator(f"#opportunity-{opp}").drag_to(page.locator("#column-lost"))
    dialog.wait_for(state="visible")
    page.select_option("#lost-reason", "competitor")
    page.fill("#lost-note", "他行利率更高")
    page.click("#lost-confirm")
    page.wait_for_function(
        f"document.querySelector('#opportunity-{opp}').closest('.board-column')"
        ".dataset.stage === 'lost'")
    page.reload()
    assert column_of(page, opp) == "lost"
    page.goto(f"/pipeline/{opp}")
    assert "他行利率更高" in page.locator("#opportunity-lost-reason").inner_text()
