"""An admin lowers the Gold threshold on /admin/tiers and evaluates October again: the
evaluation on the admin page and the customer's tier (on the branch manager's pin page)
reflect the new threshold."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterator

import pytest
from sqlalchemy.orm import Session

from integration.db import make_engine
from portal.audit import Actor
from portal.vip import aum, evaluation, rules
from tests.feeds import BDATE

pytestmark = pytest.mark.browser
OCTOBER = evaluation.default_month(BDATE)


def gold_customers(page: Any) -> int:
    return int(page.locator('#evaluation-tiers tr[data-tier="gold"] td.num').inner_text())


@pytest.fixture
def october(browser_database_url: str, browser_bank: dict[str, int]) -> Iterator[Any]:
    """Three months of aggregates from the bank's history, October evaluated under the
    rules in force; afterwards the Gold threshold is put back and October evaluated again."""
    engine = make_engine(browser_database_url)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        aum.backfill(session, BDATE, 3)
        evaluation.evaluate(session, OCTOBER, business_date=BDATE)
        before = rules.current(session)
    try:
        yield before
    finally:
        with Session(engine) as session, session.begin():
            now = rules.current(session)
            if now.tiers != before.tiers:
                rules.create_version(session, Actor(None, "test"), rules.Proposal(
                    before.tiers, now.version.window_months, now.version.grace_months))
                evaluation.evaluate(session, OCTOBER, business_date=BDATE)
        engine.dispose()


def test_an_admin_lowers_the_gold_threshold_and_the_evaluation_reflects_it(  # type: ignore[no-untyped-def]
        page, sign_in, browser_bank, october):
    wang = browser_bank["C3"]  # 王五: about 8,100 a day in October, below Gold's 50,000
    assert october.tier("gold").min_adb > Decimal(8_100)
    sign_in("admin")
    page.goto("/admin/tiers")
    gold_before = gold_customers(page)
    page.fill('input[name="gold-min_adb"]', "5000")
    with page.expect_navigation():
        page.click("#save-rules")
    assert page.locator(".flash").count() == 1
    assert page.locator('input[name="gold-min_adb"]').input_value() == "5000"
    page.select_option("#evaluate-month", OCTOBER.strftime("%Y-%m"))
    with page.expect_navigation():
        page.click("#evaluate-now")
    # The decisions shown on the admin page: one more Gold customer.
    assert gold_customers(page) == gold_before + 1

    page.click("#sign-out")
    page.wait_for_url("**/login*")
    sign_in("bm_b02")  # 王五's branch
    page.goto(f"/customers/{wang}/tier/pin")
    assert page.locator("#current-tier").get_attribute("data-tier") == "gold"
    explanation = page.locator("#current-explanation").inner_text()
    assert "5,000.00" in explanation and "8,1" in explanation
    assert page.locator("#pin-history tr").nth(1).inner_text().startswith(
        OCTOBER.strftime("%Y-%m"))
