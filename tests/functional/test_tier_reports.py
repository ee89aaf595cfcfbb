"""Tier reports: distribution per branch and the migration matrix against hand-computed
figures, drill-down within scope (pages and API), and who may see them."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from portal.errors import Forbidden, Invalid
from portal.scope import Scope, branch_subtree
from portal.vip import reports
from tests.functional.vip_report_data import (  # noqa: F401 - fixtures
    MONTH,
    PREVIOUS,
    Customers,
    customers,
    decide,
    set_tier,
)

EN = {"Accept-Language": "en"}
RM1 = Scope("book", staff_id="RM0001")


@pytest.fixture
def tiers(engine, customers: Customers) -> Customers:  # type: ignore[no-untyped-def]
    """Current tiers and the decisions of October (and two of September)."""
    c = customers
    with Session(engine) as session, session.begin():
        for source, tier in (("C1", "gold"), ("C2", "gold"), ("C3", "standard"),
                             ("C4", "standard"), ("C5", "platinum"), ("C6", "gold"),
                             ("C7", "diamond"), ("C8", "gold")):
            set_tier(session, c[source], tier)
        decide(session, c["C1"], "standard", "gold", "upgrade", "160000")
        decide(session, c["C2"], "gold", "gold", "unchanged", "52000")
        decide(session, c["C3"], None, "standard", "new", "8000")
        decide(session, c["C4"], "standard", "standard", "unchanged", "0")
        decide(session, c["C5"], "gold", "platinum", "upgrade", "880000")
        decide(session, c["C6"], "platinum", "gold", "downgrade", "60000")
        decide(session, c["C7"], "diamond", "diamond", "held", "1900000", months_below=1)
        decide(session, c["C8"], "gold", "gold", "unchanged", "51000")
        decide(session, c["C1"], None, "standard", "new", "40000", month=PREVIOUS)
        decide(session, c["C6"], "platinum", "platinum", "unchanged", "600000",
               month=PREVIOUS)
    return customers


def cells(report: reports.Distribution) -> dict[tuple[str | None, str], tuple[int, Decimal]]:
    return {(b.code, tier): (cell.customers, cell.aum)
            for b in report.branches for tier, cell in b.cells.items()}


def scope_of(engine, kind: str) -> Scope:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        if kind == "bm_b01":
            return Scope("branches", branches=branch_subtree(session, "B01"))
        if kind == "bm_b02":
            return Scope("branches", branches=branch_subtree(session, "B02"))
    return {"rm1": RM1, "analyst": Scope("all")}[kind]


# -- distribution -------------------------------------------------------------------------

def test_distribution_counts_customers_and_aum_per_tier_per_branch(engine, tiers) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        report = reports.distribution(session, Scope("all"))
    # 周九 (C8) is CLOSED: left out.
    assert cells(report) == {
        ("S011", "gold"): (1, Decimal("167600")), ("S011", "standard"): (1, Decimal(0)),
        ("S011", "platinum"): (1, Decimal("900000")),
        ("S012", "gold"): (2, Decimal("120000")),
        ("S021", "standard"): (1, Decimal("8000")), ("S021", "diamond"): (1, Decimal("2500000")),
    }
    assert [t.code for t in report.tiers] == ["standard", "gold", "platinum", "diamond",
                                              "private"]
    assert report.customers == 7 and report.aum == Decimal("3695600")
    assert report.totals["gold"].customers == 3
    assert report.totals["gold"].aum == Decimal("287600")
    assert [b.name for b in report.branches] == ["凤起路支行", "庆春路支行", "海曙支行"]


@pytest.mark.parametrize("who, expected", [
    ("rm1", {("S011", "gold"): 1, ("S011", "standard"): 1, ("S011", "platinum"): 1}),
    ("bm_b01", {("S011", "gold"): 1, ("S011", "standard"): 1, ("S011", "platinum"): 1,
                ("S012", "gold"): 2}),
    ("bm_b02", {("S021", "standard"): 1, ("S021", "diamond"): 1}),
])
def test_distribution_is_scoped(engine, tiers, who, expected) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        report = reports.distribution(session, scope_of(engine, who))
    assert {key: count for key, (count, _) in cells(report).items()} == expected


def test_a_reassigned_customer_counts_in_the_new_rms_book(engine, tiers) -> None:  # type: ignore[no-untyped-def]
    from portal.models import CustomerAssignment, User

    with Session(engine) as session, session.begin():
        admin = User(username="boss", role="admin", branch_code="HO", password_hash="x")
        session.add(admin)
        session.flush()
        session.add(CustomerAssignment(customer_id=tiers["C2"], staff_id="RM0001",
                                       feed_manager="RM0002", assigned_by=admin.id,
                                       reason="cover"))
    with Session(engine) as session:
        mine = cells(reports.distribution(session, RM1))
        theirs = cells(reports.distribution(session, Scope("book", staff_id="RM0002")))
    assert mine[("S012", "gold")] == (1, Decimal("50000"))
    assert theirs == {("S012", "gold"): (1, Decimal("70000"))}


def test_admins_see_no_tier_reports(engine, tiers) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, pytest.raises(Forbidden):
        reports.distribution(session, Scope("none"))


# -- migration matrix ---------------------------------------------------------------------

def test_migration_matrix_of_the_latest_month(engine, tiers) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        report = reports.migration(session, Scope("all"))
    assert report.month == MONTH and report.previous == PREVIOUS
    assert report.counts == {
        ("standard", "gold"): 1, ("gold", "gold"): 2, ("none", "standard"): 1,
        ("standard", "standard"): 1, ("gold", "platinum"): 1, ("platinum", "gold"): 1,
        ("diamond", "diamond"): 1}
    assert (report.total, report.upgrades, report.downgrades, report.unchanged) == (8, 2, 1, 4)
    assert report.rows[0] == reports.NO_TIER
    assert report.months == [MONTH, PREVIOUS]


def test_migration_matrix_of_an_earlier_month_and_scoped(engine, tiers) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        september = reports.migration(session, Scope("all"), PREVIOUS)
        rm1 = reports.migration(session, RM1)
        b01 = reports.migration(session, scope_of(engine, "bm_b01"))
        empty = reports.migration(session, Scope("all"), reports.parse_month("2025-01"))
    assert september.counts == {("none", "standard"): 1, ("platinum", "platinum"): 1}
    # RM0001: 张三 up, <script> unchanged, 赵六 up, and the closed 周九 (decisions count as
    # taken).
    assert rm1.counts == {("standard", "gold"): 1, ("gold", "gold"): 1,
                          ("standard", "standard"): 1, ("gold", "platinum"): 1}
    assert b01.total == 6 and b01.downgrades == 1
    assert empty.total == 0 and empty.counts == {}


def test_month_must_be_a_month() -> None:
    assert reports.parse_month("2026-10") == MONTH
    assert reports.parse_month("") is None
    for bad in ("2026-13", "2026-1", "October", "2026-10-01"):
        with pytest.raises(Invalid):
            reports.parse_month(bad)


# -- drill-down ---------------------------------------------------------------------------

def drill(engine, scope: Scope, **args: str) -> reports.CustomerPage:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return reports.drill_down(session, scope, reports.Drill.parse(args), per_page=50)


def ids(page: reports.CustomerPage) -> list[int]:
    return [row.id for row in page.items]


def test_drill_down_lists_the_customers_of_a_figure_largest_first(engine, tiers) -> None:  # type: ignore[no-untyped-def]
    c = tiers
    gold = drill(engine, Scope("all"), tier="gold")
    assert ids(gold) == [c["C1"], c["C6"], c["C2"]] and gold.total == 3  # by AUM
    assert ids(drill(engine, Scope("all"), tier="gold", branch="S012")) == [c["C6"], c["C2"]]
    cell = drill(engine, Scope("all"), month="2026-10", **{"from": "standard", "to": "gold"})
    assert ids(cell) == [c["C1"]]
    row = cell.items[0]
    assert (row.from_tier, row.to_tier, row.outcome, row.adb, row.tier, row.manager) == \
        ("standard", "gold", "upgrade", Decimal("160000"), "gold", "RM0001")
    new = drill(engine, Scope("all"), month="2026-10", **{"from": "none"})
    assert ids(new) == [c["C3"]]
    column = drill(engine, Scope("all"), month="2026-10", to="gold")
    assert set(ids(column)) == {c["C1"], c["C2"], c["C6"], c["C8"]}


@pytest.mark.parametrize("who, expected", [
    ("rm1", ["C1"]), ("bm_b01", ["C1", "C6", "C2"]), ("bm_b02", []),
    ("analyst", ["C1", "C6", "C2"])])
def test_drill_down_stays_within_scope(engine, tiers, who, expected) -> None:  # type: ignore[no-untyped-def]
    page = drill(engine, scope_of(engine, who), tier="gold")
    assert ids(page) == [tiers[c] for c in expected] and page.total == len(expected)


def test_drill_down_pages(engine, tiers) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        first = reports.drill_down(session, Scope("all"), reports.Drill.parse({"tier": "gold"}),
                                   page=1, per_page=2)
        last = reports.drill_down(session, Scope("all"), reports.Drill.parse({"tier": "gold"}),
                                  page=2, per_page=2)
        beyond = reports.drill_down(session, Scope("all"),
                                    reports.Drill.parse({"tier": "gold"}), page=3, per_page=2)
    assert (first.total, first.pages, len(first.items), len(last.items)) == (3, 2, 2, 1)
    assert ids(last) == [tiers["C2"]] and beyond.items == []


@pytest.mark.parametrize("args", [
    {}, {"tier": "gold", "layer": "iron"}, {"branch": "S011"}, {"month": "2026-10"},
    {"from": "gold"}, {"layer": "diamond"}, {"tier": "gold'--"},
    {"month": "2026-10", "to": "none"}])
def test_drill_down_refuses_unclear_questions(args) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Invalid):
        reports.Drill.parse(args)


# -- pages ---------------------------------------------------------------------------------

def test_overview_page_draws_the_charts_with_drill_down_links(client, login, users, tiers) -> None:  # type: ignore[no-untyped-def]
    login("bm_b01")
    page = client.get("/vip", headers=EN).get_data(as_text=True)
    assert 'id="distribution-chart"' in page and 'id="migration-chart"' in page
    assert "/vip/customers?tier=gold&amp;branch=S012" in page
    assert "/vip/customers?month=2026-10&amp;from=platinum&amp;to=gold" in page
    assert "Platinum" in page and "海曙支行" not in page  # B02's branch is not in scope
    assert re.search(r'<option value="2026-09"', page)
    chinese = client.get("/vip", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "白金" in chinese and "金卡" in chinese


def test_overview_page_of_an_earlier_month_and_by_aum(client, login, users, tiers) -> None:  # type: ignore[no-untyped-def]
    login("analyst")
    response = client.get("/vip?month=2026-09&measure=aum", headers=EN)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<option value="2026-09" selected>' in page
    assert "/vip/customers?month=2026-09&amp;from=platinum&amp;to=platinum" in page
    assert client.get("/vip?measure=height", headers=EN).status_code == 400
    assert client.get("/vip?month=2026-13", headers=EN).status_code == 400


def test_drill_down_page_links_to_the_360_view(client, login, users, tiers) -> None:  # type: ignore[no-untyped-def]
    login("rm1")
    response = client.get("/vip/customers?tier=gold", headers=EN)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert f'href="/customers/{tiers["C1"]}"' in page and "张三" in page
    assert "李四" not in page and "钱七" not in page  # RM0002's customers
    assert "1 customer" in page


def test_analyst_drill_down_shows_no_personal_identifiers(client, login, users, tiers) -> None:  # type: ignore[no-untyped-def]
    login("analyst")
    page = client.get("/vip/customers?layer=platinum", headers=EN).get_data(as_text=True)
    page += client.get("/vip/customers?tier=platinum", headers=EN).get_data(as_text=True)
    assert "赵六" in page
    assert "13700002222" not in page and "137****2222" not in page


def test_admins_get_403_and_strangers_sign_in(client, login, users, tiers) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/vip").status_code in (302, 401)
    login("admin")
    assert client.get("/vip").status_code == 403
    assert client.get("/vip/customers?tier=gold").status_code == 403


# -- API ------------------------------------------------------------------------------------

def test_api_distribution_and_migration(api, users, tiers) -> None:  # type: ignore[no-untyped-def]
    body = api("bm_b02", "get", "/api/v1/tiers/distribution").get_json()
    assert [(b["branch"], b["customers"], b["aum"]) for b in body["branches"]] == \
        [("S021", 2, "2508000.00")]
    assert {t["tier"]: t["customers"] for t in body["totals"]["tiers"]
            if t["customers"]} == {"standard": 1, "diamond": 1}
    assert body["tiers"][1] == {"code": "gold", "rank": 1, "name_en": "Gold", "name_zh": "金卡",
                                "min_adb": "50000.00"}
    matrix = api("analyst", "get", "/api/v1/tiers/migration?month=2026-10").get_json()
    assert matrix["month"] == "2026-10" and matrix["previous_month"] == "2026-09"
    assert {(c["from"], c["to"]): c["customers"] for c in matrix["cells"]}[("gold", "gold")] == 2
    assert (matrix["upgrades"], matrix["downgrades"]) == (2, 1)
    assert api("analyst", "get", "/api/v1/tiers/migration?month=10-2026").status_code == 400
    assert api("admin", "get", "/api/v1/tiers/distribution").status_code == 403


def test_api_customers_are_scoped_and_paged(api, users, tiers) -> None:  # type: ignore[no-untyped-def]
    mine = api("rm1", "get", "/api/v1/tiers/customers?tier=gold").get_json()
    assert [i["id"] for i in mine["items"]] == [tiers["C1"]] and mine["total"] == 1
    assert mine["items"][0]["aum"] == "167600.00" and mine["items"][0]["adb"] == "160000.00"
    branch = api("bm_b01", "get", "/api/v1/tiers/customers?tier=gold&per_page=2&page=2")
    assert branch.get_json()["total"] == 3 and len(branch.get_json()["items"]) == 1
    cell = api("bm_b02", "get",
               "/api/v1/tiers/customers?month=2026-10&from=platinum&to=gold").get_json()
    assert cell["total"] == 0  # 钱七 is in B01's subtree
    assert api("rm1", "get", "/api/v1/tiers/customers?tier=gold&per_page=500").status_code == 400
    assert api("rm1", "get", "/api/v1/tiers/customers").status_code == 400
