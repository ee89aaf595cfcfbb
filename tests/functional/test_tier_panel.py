"""The 360 page's tier panel: the current tier named in the reader's language as its rule
version named it, the latest decision's explanation, the pin, and the tier history with
the rule version of each decision."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import User
from portal.vip.models import CustomerTier, TierDefinition, TierRuleVersion
from portal.vip import explain
from portal.vip.models import TierDecision
from portal.vip.panel import customer_tier_panel
from tests.functional.vip_report_data import (  # noqa: F401 - fixtures
    MONTH,
    PREVIOUS,
    Customers,
    customers,
    decide,
    set_tier,
)

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


# What the panel says of October's upgrade: the decision's figures with the conditions of
# rule version 2 (Gold renamed and raised to 60,000).
UPGRADE = {"code": "upgrade", "month": "2026-10", "version": 2, "window": 3, "grace": 3,
           "adb": "160000.0000", "contribution": "300.0000", "products": 1,
           "from": "standard", "to": "gold", "qualified": "gold", "next": "platinum",
           "months_below": 0, "below_for": 0,
           "tiers": {"standard": {"min_adb": "0.0000"}, "gold": {"min_adb": "60000.0000"},
                     "platinum": {"min_adb": "500000.0000"}}}


def worded(app, engine, customer_id: int, month: date) -> str:  # type: ignore[no-untyped-def]
    """The decision's explanation as the English page words it."""
    with Session(engine) as session, app.test_request_context(headers=EN):
        found = session.scalars(select(TierDecision).where(
            TierDecision.customer_id == customer_id, TierDecision.month == month)).one()
        return explain.describe(explain.of(found))


@pytest.fixture
def history(engine, customers: Customers, users) -> Customers:  # type: ignore[no-untyped-def]
    """Rule version 2 renames gold and raises it to 60,000; 张三 was new at standard in
    September (version 1) and upgraded in October (version 2), and a branch manager pinned
    him at platinum."""
    with Session(engine) as session, session.begin():
        version = TierRuleVersion(window_months=3, grace_months=3, note="Gold raised")
        session.add(version)
        session.flush()
        for d in session.scalars(select(TierDefinition).where(TierDefinition.version_id == 1)):
            gold = d.code == "gold"
            session.add(TierDefinition(
                version_id=version.id, code=d.code, rank=d.rank,
                name_en="Gold Plus" if gold else d.name_en,
                name_zh="金卡+" if gold else d.name_zh,
                min_adb=Decimal(60000) if gold else d.min_adb, combine="all"))
        manager = session.scalars(select(User).where(User.username == "bm_b01")).one()
        manager.display_name = "王经理"
        set_tier(session, customers["C1"], "gold", since=date(2026, 11, 1), pinned_tier="platinum",
                 pin_reason="家族客户, under review", pin_expires=date(2027, 3, 31),
                 pinned_by=manager.id)
        decide(session, customers["C1"], None, "standard", "new", "40000", month=PREVIOUS)
        decide(session, customers["C1"], "standard", "gold", "upgrade", "160000",
               version=version.id, contribution="300")
        assert version.id == 2
    return customers


def test_panel_data(engine, history) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        panel = customer_tier_panel(session, history["C1"])
        assert explain.of(panel.latest) == UPGRADE  # the figures, the version's conditions
    assert panel.current is not None and panel.current.tier_code == "gold"
    assert [(d.month, d.rule_version) for d in panel.history] == [(MONTH, 2), (PREVIOUS, 1)]
    assert panel.version == 2
    assert panel.threshold == Decimal(60000)
    assert panel.name("gold", "en", 2) == "Gold Plus" and panel.name("gold", "zh_CN", 1) == "金卡"
    assert panel.name("gold", "en") == "Gold Plus"  # the latest version's name
    assert panel.name("mystery", "en") == "mystery"
    assert panel.pinned_by == "王经理"
    assert panel.pin_in_force(date(2027, 3, 31)) and not panel.pin_in_force(date(2027, 4, 1))


def history_rows(page: str) -> dict[str, str]:
    import re

    return {m.group(1): m.group(2) for m in re.finditer(
        r'<tr data-month="([0-9-]+)">(.*?)</tr>', page, re.S)}


def test_the_360_page_shows_tier_explanation_pin_and_history(app, engine, client, login, history) -> None:  # type: ignore[no-untyped-def]
    login("rm1")
    response = client.get(f"/customers/{history['C1']}", headers=EN)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'data-tier="gold">Gold Plus</span>' in page
    upgrade = worded(app, engine, history["C1"], MONTH)
    new = worded(app, engine, history["C1"], PREVIOUS)
    assert "Gold Plus" in upgrade and "60,000.00" in upgrade and "No explanation" not in upgrade
    assert f'id="tier-explanation">{escape(upgrade)}</p>' in page
    assert "Pinned at Platinum" in page and "王经理" in page
    assert "家族客户, under review" in page and "Mar 31, 2027" in page
    assert '<dd id="tier-rule-version">2</dd>' in page
    rows = history_rows(page)
    assert list(rows) == ["2026-10", "2026-09"]
    october = rows["2026-10"]
    assert "Standard → Gold Plus" in october and "Upgrade" in october
    assert "160,000.00" in october and '<td class="num">2</td>' in october
    assert str(escape(upgrade)) in october
    september = rows["2026-09"]
    assert "Standard" in september and "New" in september and '<td class="num">1</td>' in september
    assert str(escape(new)) in september


def test_the_panel_speaks_chinese(client, login, history) -> None:  # type: ignore[no-untyped-def]
    login("rm1")
    page = client.get(f"/customers/{history['C1']}", headers=ZH).get_data(as_text=True)
    assert 'data-tier="gold">金卡+</span>' in page
    assert "普通 → 金卡+" in history_rows(page)["2026-10"]


def test_an_expired_pin_is_shown_as_expired(engine, client, login, history) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        session.get(CustomerTier, history["C1"]).pin_expires = date(2026, 11, 1)
    login("bm_b01")
    page = client.get(f"/customers/{history['C1']}", headers=EN).get_data(as_text=True)
    assert "Pin at Platinum expired" in page and "Pinned at" not in page


def test_every_role_that_sees_the_customer_sees_the_panel(client, login, history) -> None:  # type: ignore[no-untyped-def]
    login("analyst")
    page = client.get(f"/customers/{history['C1']}", headers=EN).get_data(as_text=True)
    assert 'id="tier-panel"' in page and "Gold Plus" in page


def test_a_customer_never_evaluated(client, login, history) -> None:  # type: ignore[no-untyped-def]
    login("rm1")
    page = client.get(f"/customers/{history['C4']}", headers=EN).get_data(as_text=True)
    assert "No tier yet" in page and "No tier decisions yet." in page
