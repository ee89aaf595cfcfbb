"""The customer value pyramid: layers by current value and growth potential against
hand-computed data, the cut-offs' boundaries, the nightly refresh, scope, pages and API."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.scope import Scope
from portal.vip import reports
from portal.vip.models import CustomerValueLayer
from portal.vip.pyramid import DEFAULT_RULES, PyramidRules, classify, pyramid, refresh_pyramid
from tests.feeds import BDATE
from tests.functional.vip_report_data import (  # noqa: F401 - fixtures
    MONTH,
    TREND_START,
    Customers,
    customers,
    decide,
    month_aum,
)

HALVES = PyramidRules(platinum_percent=25, gold_percent=25)
EN = {"Accept-Language": "en"}

# customer: (contribution in October, ADB in October, ADB in August)
FIGURES = {
    "C1": ("300", "160000", "100000"),   # growing 60 %
    "C2": ("100", "52000", "40000"),     # growing 30 %
    "C3": ("10", "8000", "8000"),        # flat, but a salary of 6,000 against 8,000
    "C4": ("0", "0", "0"),               # nothing at all
    "C5": ("500", "880000", "900000"),
    "C6": ("100", "60000", "70000"),     # shrinking, no inflows
    "C7": ("900", "1900000", "2000000"),
    "C8": ("800", "51000", "10000"),     # CLOSED: never placed
}


@pytest.fixture
def months(engine, customers: Customers) -> Customers:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        for source, (contribution, adb, start) in FIGURES.items():
            month_aum(session, customers[source], MONTH, adb, contribution)
            month_aum(session, customers[source], TREND_START, start)
            decide(session, customers[source], "standard", "standard", "unchanged", adb)
    return customers


def layers(engine) -> dict[int, str]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return {customer_id: layer for customer_id, layer in session.execute(
            select(CustomerValueLayer.customer_id, CustomerValueLayer.layer))}


def placed(engine, c: Customers) -> dict[str, str]:  # type: ignore[no-untyped-def]
    by_id = {v: k for k, v in c.ids.items()}
    return {by_id[cid]: layer for cid, layer in layers(engine).items()}


def test_layers_with_a_quarter_each_for_platinum_and_gold(engine, months) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        summary = classify(session, MONTH, HALVES)
    # 7 customers ranked (周九 is CLOSED): platinum to rank ⌈1.75⌉ = 2, gold to ⌈3.5⌉ = 4.
    # 钱七 ranks before 李四 on the same contribution by the larger ADB.
    assert placed(engine, months) == {
        "C7": "platinum", "C5": "platinum", "C1": "gold", "C6": "gold",
        "C2": "iron", "C3": "iron", "C4": "lead"}
    assert summary["customers"] == 7
    assert summary["layers"] == {"platinum": 2, "gold": 2, "iron": 2, "lead": 1}
    with Session(engine) as session:
        row = session.get(CustomerValueLayer, months["C3"])
    assert row is not None
    assert (row.growing, row.wallet_signal, row.inflow, row.value_rank) == \
        (False, True, Decimal("6000"), 6)
    assert row.adb == Decimal("8000") and row.start_adb == Decimal("8000")


def test_layers_with_the_default_cut_offs(engine, months) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        classify(session, MONTH)
    # Top 5 % of 7: rank 1; top 20 %: rank ⌈1.4⌉ = 2.
    assert placed(engine, months) == {
        "C7": "platinum", "C5": "gold", "C1": "iron", "C2": "iron", "C3": "iron",
        "C6": "lead", "C4": "lead"}


def test_customers_with_equal_figures_share_a_layer(engine, months) -> None:  # type: ignore[no-untyped-def]
    from portal.vip.models import CustomerMonthAum

    with Session(engine) as session, session.begin():
        # 李四 now has 钱七's figures exactly: both rank 4, both gold (cut-off 4).
        row = session.get(CustomerMonthAum, (months["C2"], MONTH))
        assert row is not None
        row.aum_day_sum = Decimal(60000 * 31)
        classify(session, MONTH, HALVES)
    found = placed(engine, months)
    assert found["C2"] == found["C6"] == "gold"


@pytest.mark.parametrize("start, growing", [("40000", True), ("40000.01", False)])
def test_growth_boundary(engine, months, start, growing) -> None:  # type: ignore[no-untyped-def]
    from portal.vip.models import CustomerMonthAum

    with Session(engine) as session, session.begin():
        # 李四: 44,000 now against `start` in August; 110 % of 40,000 is exactly 44,000.
        session.get(CustomerMonthAum, (months["C2"], MONTH)).aum_day_sum = Decimal(44000 * 31)
        session.get(CustomerMonthAum, (months["C2"], TREND_START)).aum_day_sum = \
            Decimal(start) * 31
        classify(session, MONTH)
    assert placed(engine, months)["C2"] == ("iron" if growing else "lead")


@pytest.mark.parametrize("adb, wallet", [("30000", True), ("30000.01", False)])
def test_share_of_wallet_boundary(engine, months, adb, wallet) -> None:  # type: ignore[no-untyped-def]
    from portal.vip.models import CustomerMonthAum

    with Session(engine) as session, session.begin():
        # 王五's 6,000 of inflows is 20 % of an ADB of exactly 30,000 (flat since August).
        for month in (MONTH, TREND_START):
            session.get(CustomerMonthAum, (months["C3"], month)).aum_day_sum = \
                Decimal(adb) * 31
        classify(session, MONTH)
    assert placed(engine, months)["C3"] == ("iron" if wallet else "lead")


def test_minimum_inflow(engine, months) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        classify(session, MONTH, replace(DEFAULT_RULES, min_inflow=Decimal("6000.01")))
    assert placed(engine, months)["C3"] == "lead"


def test_a_customer_new_in_the_window_with_aum_is_growing(engine, months) -> None:  # type: ignore[no-untyped-def]
    from portal.vip.models import CustomerMonthAum

    with Session(engine) as session, session.begin():
        session.delete(session.get(CustomerMonthAum, (months["C6"], TREND_START)))
        classify(session, MONTH)
    assert placed(engine, months)["C6"] == "iron"


def test_rules_are_checked() -> None:
    for bad in ({"platinum_percent": 60, "gold_percent": 50}, {"trend_months": 1},
                {"growth_percent": -1}, {"min_inflow": Decimal(-1)}):
        with pytest.raises(ValueError):
            PyramidRules(**bad)  # type: ignore[arg-type]


def test_nightly_refresh_is_idempotent_and_follows_a_new_evaluation(engine, months) -> None:  # type: ignore[no-untyped-def]
    from portal.vip.models import TierDecision

    with Session(engine) as session, session.begin():
        first = refresh_pyramid(session, BDATE)
    with Session(engine) as session, session.begin():
        again = refresh_pyramid(session, BDATE)
    assert first["layers"]["platinum"] == 1 and again["skipped"] == "up to date"
    with Session(engine) as session, session.begin():
        # The month evaluated again (on demand): a newer decision, so the layers are redone.
        decision = session.scalars(select(TierDecision)
                                   .where(TierDecision.customer_id == months["C1"])).one()
        from integration.db import utcnow

        decision.decided_at = utcnow()
        redone = refresh_pyramid(session, BDATE)
    assert redone["month"] == "2026-10" and "layers" in redone


def test_nothing_to_classify_before_the_first_evaluation(engine, customers) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        assert refresh_pyramid(session, BDATE) == {"skipped": "no evaluation yet"}
        report = pyramid(session, Scope("all"))
    assert report.month is None and report.customers == 0


def test_report_counts_and_values_per_layer_within_scope(engine, months) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        classify(session, MONTH, HALVES)
    with Session(engine) as session:
        everyone = pyramid(session, Scope("all"))
        rm1 = pyramid(session, Scope("book", staff_id="RM0001"))
    assert [(l.code, l.customers, l.value, l.adb) for l in everyone.layers] == [
        ("platinum", 2, Decimal("1400"), Decimal("2780000")),
        ("gold", 2, Decimal("400"), Decimal("220000")),
        ("iron", 2, Decimal("110"), Decimal("60000")),
        ("lead", 1, Decimal("0"), Decimal("0"))]
    assert everyone.month == MONTH and everyone.customers == 7
    # RM0001: 赵六 platinum, 张三 gold, <script> lead.
    assert [(l.code, l.customers) for l in rm1.layers] == [
        ("platinum", 1), ("gold", 1), ("iron", 0), ("lead", 1)]
    with Session(engine) as session:
        page = reports.drill_down(session, Scope("book", staff_id="RM0001"),
                                  reports.Drill.parse({"layer": "platinum"}))
    assert [r.id for r in page.items] == [months["C5"]] and page.items[0].value == Decimal(500)


def test_pyramid_page_and_api(client, login, api, users, months, engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        classify(session, MONTH, HALVES)
    login("bm_b02")
    page = client.get("/vip", headers=EN).get_data(as_text=True)
    assert 'id="pyramid-chart"' in page and "/vip/customers?layer=iron" in page
    assert "Iron customers" in page
    listed = client.get("/vip/customers?layer=iron", headers=EN).get_data(as_text=True)
    assert "王五" in listed and "李四" not in listed  # 李四 is in B01's subtree
    body = api("analyst", "get", "/api/v1/tiers/pyramid").get_json()
    assert body["month"] == "2026-10" and body["customers"] == 7
    assert body["layers"][0] == {"layer": "platinum", "customers": 2, "value": "1400.00",
                                 "adb": "2780000.00"}
    assert set(body["rules"]) >= {"platinum_percent", "gold_percent", "growth_percent"}
    listed_api = api("bm_b02", "get", "/api/v1/tiers/customers?layer=platinum").get_json()
    assert [i["id"] for i in listed_api["items"]] == [months["C7"]]
    assert listed_api["items"][0]["layer"] == "platinum"
