"""The customer 360 view: page and API, values, scope, masking, escaping and the audit."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from integration import models as m
from integration.pipeline import import_file
from portal.models import AuditEvent
from tests.feeds import BDATE, ZHANG, write

MASKED_ZHANG = ZHANG[:3] + "*" * 11 + ZHANG[-4:]



@pytest.fixture(autouse=True)
def english(client):  # type: ignore[no-untyped-def]
    """Pages in English, whatever the catalogues hold: the assertions read English text."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"


def view(api, user, customer_id, **params):  # type: ignore[no-untyped-def]
    response = api(user, "get", f"/api/v1/customers/{customer_id}", query_string=params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def audit_rows(engine, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return list(conn.execute(select(AuditEvent).where(AuditEvent.action == action)
                                 .order_by(AuditEvent.id)))


def test_aum_and_liabilities_in_cny(api, users, bank):
    body = view(api, "rm1", bank.ids["C1"])
    # 150000 CNY savings + 1000 USD current at 7.1 + 10500 CNY fund; the loan is a liability.
    assert body["aum_cny"] == "167600.00"
    assert body["liabilities_cny"] == "300000.00"
    assert body["as_of"] == BDATE.isoformat()
    assert body["fx_rates"] == {"CNY": "1", "USD": "7.1000"}


def test_identity_branch_manager_and_sources(api, users, bank):
    body = view(api, "rm1", bank.ids["C1"])
    assert body["id"] == bank.ids["C1"] and body["name"] == "张三"
    assert body["branch"] == "S011" and body["branch_name"] == "凤起路支行"
    assert body["manager"] == "RM0001"
    assert body["id_document"] == {"type": "RESIDENT_ID", "number": MASKED_ZHANG,
                                   "expiry": "2030-01-01", "expired": False}
    assert body["profile"]["mobile"] == "138****5678"
    assert body["sources"] == [{"source": "CBS", "source_id": "C1", "closed": False,
                                "business_date": BDATE.isoformat()}]
    assert body["dq_warnings"] == []


def test_provenance_names_the_source_system_batch_and_business_date(api, users, bank, engine):
    with engine.connect() as conn:
        batch_id = conn.scalar(select(m.FeedBatch.id).where(m.FeedBatch.status == "applied"))
    provenance = view(api, "rm1", bank.ids["C1"])["provenance"]
    stamp = {"source": "CBS", "batch_id": batch_id, "business_date": BDATE.isoformat()}
    assert provenance["name"] == stamp
    assert provenance["mobile"] == stamp
    assert provenance["id_document"] == stamp
    assert "email" not in provenance  # the feed never set it


def test_accounts_and_holdings_by_category(api, users, bank):
    body = view(api, "rm1", bank.ids["C1"])
    accounts = {a["number"]: a for a in body["accounts"]}
    assert set(accounts) == {"A1", "A1U", "A1L"}
    assert accounts["A1U"]["currency"] == "USD" and accounts["A1U"]["balance"] == "1000.00"
    assert accounts["A1U"]["balance_cny"] == "7100.00"
    assert accounts["A1L"]["type"] == "LOAN"
    assert [(g["category"], g["total_cny"]) for g in body["holdings"]] == [("FUND", "10500.00")]
    holding = body["holdings"][0]["items"][0]
    assert holding["product"] == "FUND1" and holding["market_value"] == "10500.00"


def test_twelve_months_of_flows(api, users, bank):
    flows = view(api, "rm1", bank.ids["C1"])["flows"]
    assert [f["month"] for f in flows] == \
        ["2025-12"] + [f"2026-{n:02d}" for n in range(1, 12)]
    by_month = {f["month"]: f for f in flows}
    # A salary in and a payment out each month; in November also a 60000 cash withdrawal.
    assert by_month["2026-11"] == {"month": "2026-11", "inflow_cny": "20000.00",
                                   "outflow_cny": "63500.50"}
    for month in ("2025-12", "2026-05", "2026-10"):
        assert by_month[month]["inflow_cny"] == "20000.00"
        assert by_month[month]["outflow_cny"] == "3500.50"


def test_flows_follow_the_as_of_date(api, users, bank):
    flows = view(api, "rm1", bank.ids["C1"], as_of="2026-06-30")["flows"]
    assert flows[0]["month"] == "2025-07" and flows[-1]["month"] == "2026-06"
    by_month = {f["month"]: f for f in flows}
    assert by_month["2026-06"]["inflow_cny"] == "20000.00"
    # The salary 330 days before 2026-11-20 is the oldest (Dec 2025): nothing earlier.
    assert by_month["2025-07"]["inflow_cny"] == "0.00"


def _later_rate(feed):  # type: ignore[no-untyped-def]
    feed.rate("USD", "7.2000")


def test_fx_rate_of_the_latest_business_date_on_or_before_as_of(api, users, bank, engine,
                                                                 tmp_path):
    later = BDATE + timedelta(days=1)
    result = import_file(engine, write(tmp_path / "rate.xml", _later_rate, sequence=2,
                                       business_date=later), max_bytes=10**8, chunk=50)
    assert result.status == "applied", result.reason
    # Default as-of: the newest business date loaded, with its rate.
    latest = view(api, "rm1", bank.ids["C1"])
    assert latest["as_of"] == later.isoformat() and latest["aum_cny"] == "167700.00"
    # On the earlier date, that date's rate.
    assert view(api, "rm1", bank.ids["C1"], as_of=BDATE.isoformat())["aum_cny"] == "167600.00"
    # Before any USD rate: the USD balance is left out and said to be.
    early = view(api, "rm1", bank.ids["C1"], as_of="2026-01-31")
    assert early["aum_cny"] == "160500.00" and early["missing_rates"] == ["USD"]


def test_recent_transactions_page(api, users, bank):
    first = view(api, "rm1", bank.ids["C1"], per_page=10)["recent_transactions"]
    assert first["total"] == 25 and first["page"] == 1 and len(first["items"]) == 10
    dates = [t["booking_date"] for t in first["items"]]
    assert dates == sorted(dates, reverse=True) and dates[0] == BDATE.isoformat()
    third = view(api, "rm1", bank.ids["C1"], per_page=10, page=3)["recent_transactions"]
    assert len(third["items"]) == 5
    assert not {t["id"] for t in first["items"]} & {t["id"] for t in third["items"]}


@pytest.mark.parametrize("filters, total", [
    ({"direction": "in"}, 12),
    ({"direction": "out"}, 13),
    ({"type": "CASH_WITHDRAWAL"}, 1),
    ({"min_amount": "50000"}, 1),
    ({"min_amount": "3500.50", "direction": "out"}, 13),
    ({"date_from": "2026-11-01"}, 3),
    ({"date_from": "2026-01-01", "date_to": "2026-03-31", "type": "PAYMENT"}, 3),
])
def test_transaction_filters(api, users, bank, filters, total):
    txns = view(api, "rm1", bank.ids["C1"], **filters)["recent_transactions"]
    assert txns["total"] == total


@pytest.mark.parametrize("filters", [
    {"date_from": "yesterday"}, {"direction": "sideways"}, {"type": "ROBBERY"},
    {"min_amount": "lots"}, {"min_amount": "NaN"}, {"min_amount": "-5"},
    {"min_amount": "0.00001"}, {"per_page": "1000"}, {"as_of": "2026-13-01"},
])
def test_bad_filters_are_400(api, users, bank, filters):
    response = api("rm1", "get", f"/api/v1/customers/{bank.ids['C1']}", query_string=filters)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid"


@pytest.mark.parametrize("user, customer", [
    ("rm1", "C2"),      # another RM of the same branch
    ("rm1", "C3"),      # another branch
    ("rm2", "C1"),
    ("bm_b02", "C1"),   # another branch manager's subtree
    ("bm_b01", "C3"),
    ("admin", "C1"),    # administrators do not browse customers
])
def test_a_customer_outside_the_scope_is_404_like_a_missing_one(api, client, login, users,
                                                                bank, engine, user, customer):
    missing = api(user, "get", "/api/v1/customers/999999")
    hidden = api(user, "get", f"/api/v1/customers/{bank.ids[customer]}")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json() == missing.get_json()
    assert hidden.get_json()["error"]["code"] == "not_found"
    login(user)
    page = client.get(f"/customers/{bank.ids[customer]}")
    assert page.status_code == 404
    assert "张三" not in page.get_data(as_text=True) and "王五" not in page.get_data(as_text=True)
    assert audit_rows(engine, "view_customer") == []


@pytest.mark.parametrize("user", ["rm1", "bm_b01", "analyst"])
def test_those_in_scope_see_the_customer(api, users, bank, user):
    assert view(api, user, bank.ids["C1"])["aum_cny"] == "167600.00"


def test_every_view_is_audited(api, client, login, users, bank, engine):
    view(api, "rm1", bank.ids["C1"])
    login("rm1")
    assert client.get(f"/customers/{bank.ids['C1']}").status_code == 200
    rows = audit_rows(engine, "view_customer")
    assert [(r.username, r.customer_id, r.detail["channel"], r.branch_code) for r in rows] == [
        ("rm1", bank.ids["C1"], "api", "S011"), ("rm1", bank.ids["C1"], "page", "S011")]


def test_the_page_shows_everything_masked(client, login, users, bank):
    login("rm1")
    response = client.get(f"/customers/{bank.ids['C1']}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert MASKED_ZHANG in html and ZHANG not in html
    assert "138****5678" in html and "13812345678" not in html
    assert "167,600.00" in html and "300,000.00" in html
    assert "凤起路支行" in html and "RM0001" in html
    assert "稳健债券基金" in html and "A1U" in html
    assert "CBS · batch" in html  # provenance of the fields
    assert 'id="reveal-id_number"' in html and 'id="reveal-mobile"' in html


def test_the_page_draws_the_flow_chart_as_inline_svg(client, login, users, bank):
    login("rm1")
    html = client.get(f"/customers/{bank.ids['C1']}").get_data(as_text=True)
    svg = re.search(r'<svg id="flow-chart".*?</svg>', html, re.S)
    assert svg, "no inline SVG chart"
    bars = re.findall(r'<rect class="bar (in|out)"[^>]*height="([0-9.]+)"', svg.group(0))
    assert len(bars) == 24 and {kind for kind, _ in bars} == {"in", "out"}
    heights = {kind: [float(h) for k, h in bars if k == kind] for kind in ("in", "out")}
    # November's outflow (63500.50) is the tallest bar; every month has some inflow.
    assert max(heights["out"]) == heights["out"][-1] > max(heights["in"]) > 0
    assert min(heights["in"]) > 0
    assert "<script src" not in html and "cdn" not in html.lower()


def test_the_page_filters_and_pages_transactions(client, login, users, bank):
    login("rm1")
    url = f"/customers/{bank.ids['C1']}"
    html = client.get(url).get_data(as_text=True)
    assert "25 transactions" in html and "Page 1 of 2" in html
    assert f'href="{url}?page=2#transactions"' in html
    filtered = client.get(url, query_string={"type": "CASH_WITHDRAWAL"}).get_data(as_text=True)
    assert "1 transaction" in filtered and "-60,000.00" in filtered
    assert '<option value="CASH_WITHDRAWAL" selected>' in filtered


def test_customer_names_from_the_feed_are_escaped(client, login, api, users, bank):
    login("rm1")
    html = client.get(f"/customers/{bank.ids['C4']}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html
    assert view(api, "rm1", bank.ids["C4"])["name"] == "<script>alert(1)</script>"


def test_an_analyst_sees_masked_values_and_no_reveal_button(client, login, api, users, bank):
    body = view(api, "analyst", bank.ids["C1"])
    assert body["id_document"]["number"] == MASKED_ZHANG
    assert body["profile"]["mobile"] == "138****5678"
    login("analyst")
    html = client.get(f"/customers/{bank.ids['C1']}").get_data(as_text=True)
    assert MASKED_ZHANG in html and ZHANG not in html and "13812345678" not in html
    assert "reveal-" not in html


def test_the_page_needs_a_signed_in_user(client, bank):
    response = client.get(f"/customers/{bank.ids['C1']}")
    assert response.status_code == 302 and "/login" in response.location


def test_the_openapi_document_describes_the_customer_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    search = paths["/customers"]["get"]
    assert {p["name"] for p in search["parameters"]} >= {"q", "page", "per_page"}
    schema = paths["/customers/{id}"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    assert {"id", "name", "branch", "manager", "id_document", "aum_cny", "liabilities_cny",
            "accounts", "holdings", "recent_transactions", "sources"} <= set(schema["required"])
    reveal = paths["/customers/{id}/reveal"]["post"]
    assert reveal["requestBody"]["content"]["application/json"]["schema"]["properties"][
        "field"]["enum"] == ["id_number", "mobile"]
    assert {"403", "404"} <= set(reveal["responses"])


def test_a_reassigned_customer_moves_to_the_new_rm(api, users, bank, engine):
    from portal.models import CustomerAssignment

    with engine.begin() as conn:
        conn.execute(CustomerAssignment.__table__.insert().values(
            customer_id=bank.ids["C1"], staff_id="RM0002", feed_manager="RM0001",
            assigned_by=users["bm_b01"], reason="rm1 on leave"))
    assert view(api, "rm2", bank.ids["C1"])["manager"] == "RM0002"
    assert api("rm1", "get", f"/api/v1/customers/{bank.ids['C1']}").status_code == 404
    found = api("rm2", "get", "/api/v1/customers?q=张三").get_json()["items"]
    assert [(i["id"], i["manager"]) for i in found] == [(bank.ids["C1"], "RM0002")]
    assert api("rm1", "get", "/api/v1/customers?q=张三").get_json()["total"] == 0
