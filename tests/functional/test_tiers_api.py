"""The tier API: rules (read by everyone, written by admins), evaluations on demand
(admins), a customer's tier scoped like the 360 view, pins (branch managers)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import AuditEvent
from tests.functional.tiers_support import OCT, SEP, current_tier, set_months


@pytest.fixture
def data(engine, bank, users):  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        set_months(session, bank.ids["C1"], 600_000, SEP, OCT)
        set_months(session, bank.ids["C2"], 45_000, SEP, OCT)
    return bank.ids


def test_everyone_reads_the_rules(api, data) -> None:  # type: ignore[no-untyped-def]
    body = api("rm1", "get", "/api/v1/tiers/rules").get_json()
    assert (body["version"], body["window_months"], body["grace_months"]) == (1, 3, 3)
    assert [(t["code"], t["rank"], t["min_adb"]) for t in body["tiers"]][:2] == \
        [("standard", 0, "0.0000"), ("gold", 1, "50000.0000")]
    assert api("analyst", "get", "/api/v1/tiers/rules/versions").get_json()["items"][0][
        "version"] == 1


def test_admins_write_a_new_version(api, data) -> None:  # type: ignore[no-untyped-def]
    created = api("admin", "post", "/api/v1/tiers/rules", json={
        "based_on": 1, "grace_months": 2, "note": "Lower Gold",
        "tiers": [{"code": "gold", "min_adb": "40000", "min_products": 2}]})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    gold = next(t for t in body["tiers"] if t["code"] == "gold")
    assert (body["version"], body["grace_months"], body["created_by"], gold["min_adb"],
            gold["min_products"], gold["name_zh"]) == (2, 2, "admin", "40000.0000", 2, "金卡")
    versions = api("rm1", "get", "/api/v1/tiers/rules/versions").get_json()["items"]
    assert [v["version"] for v in versions] == [2, 1]
    stale = api("admin", "post", "/api/v1/tiers/rules", json={"based_on": 1, "grace_months": 1})
    assert stale.status_code == 409


@pytest.mark.parametrize("body, status", [
    ({"tiers": [{"code": "gold", "min_adb": "600000"}]}, 400),   # above Platinum
    ({"window_months": 0}, 400), ({"grace_months": "2"}, 200),
    ({"tiers": [{"code": "gold", "min_adb": 50000.5}]}, 400),     # a float
    ({"tiers": "gold"}, 400), ({"unknown": 1}, 400), ([1, 2], 400), ({}, 400),
])
def test_rule_changes_are_validated(api, data, body, status) -> None:  # type: ignore[no-untyped-def]
    response = api("admin", "post", "/api/v1/tiers/rules", json=body)
    assert response.status_code == (201 if status == 200 else status), response.get_json()
    if status != 200:
        assert response.get_json()["error"]["code"] == "invalid"


@pytest.mark.parametrize("username", ["rm1", "bm_b01", "analyst"])
def test_only_admins_change_rules_and_evaluate(api, data, username) -> None:  # type: ignore[no-untyped-def]
    assert api(username, "post", "/api/v1/tiers/rules",
               json={"grace_months": 1}).status_code == 403
    assert api(username, "post", "/api/v1/tiers/evaluations", json={}).status_code == 403


def test_admins_evaluate_a_month_and_get_the_counts(api, data, engine) -> None:  # type: ignore[no-untyped-def]
    response = api("admin", "post", "/api/v1/tiers/evaluations")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "month": "2026-10", "version": 1, "replaced": False, "customers": 4,
        "counts": {"new": 4, "upgrade": 0, "downgrade": 0, "held": 0, "unchanged": 0,
                   "pinned": 0, "pin_expired": 0}}
    again = api("admin", "post", "/api/v1/tiers/evaluations", json={"month": "2026-10"})
    assert again.get_json()["replaced"] is True
    assert api("admin", "post", "/api/v1/tiers/evaluations",
               json={"month": "2026-09"}).status_code == 409
    assert api("admin", "post", "/api/v1/tiers/evaluations",
               json={"month": "2026-11"}).status_code == 400  # not complete
    assert api("admin", "post", "/api/v1/tiers/evaluations",
               json={"month": "October"}).status_code == 400
    assert current_tier(engine, data["C1"]).tier_code == "platinum"


def test_a_customers_tier_is_scoped_like_the_360_view(api, data, engine) -> None:  # type: ignore[no-untyped-def]
    c1 = data["C1"]
    # A customer never evaluated has no tier yet.
    no_tier = api("rm1", "get", f"/api/v1/customers/{c1}/tier").get_json()
    assert no_tier["tier"] is None and no_tier["history"] == []
    api("admin", "post", "/api/v1/tiers/evaluations", json={"month": "2026-09"})
    api("admin", "post", "/api/v1/tiers/evaluations", json={"month": "2026-10"})
    response = api("rm1", "get", f"/api/v1/customers/{c1}/tier",
                   headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["tier"]["code"] == "platinum" and body["tier"]["name_en"] == "Platinum"
    assert (body["tier"]["evaluated_month"], body["tier"]["pin"]) == ("2026-10", None)
    assert body["explanation"]["code"] == "unchanged"
    assert body["explanation_text"].startswith("Stays Platinum")
    assert [(h["month"], h["outcome"], h["adb"]) for h in body["history"]] == \
        [("2026-10", "unchanged", "600000.00"), ("2026-09", "new", "600000.00")]
    for username in ("bm_b01", "analyst"):  # the branch subtree; aggregates for analysts
        assert api(username, "get", f"/api/v1/customers/{c1}/tier").status_code == 200
    for username in ("rm2", "bm_b02", "admin"):  # another book, another branch, no browsing
        missing = api(username, "get", f"/api/v1/customers/{c1}/tier")
        assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    assert api("rm1", "get", "/api/v1/customers/999999/tier").status_code == 404
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "view_tier", AuditEvent.customer_id == c1)) == 4


def test_branch_managers_pin_and_unpin(api, data, engine) -> None:  # type: ignore[no-untyped-def]
    c2 = data["C2"]
    api("admin", "post", "/api/v1/tiers/evaluations", json={"month": "2026-10"})
    expires = (date.today() + timedelta(days=60)).isoformat()
    body = {"tier": "gold", "reason": "Family of a private banking client",
            "expires": expires}
    assert api("rm2", "put", f"/api/v1/customers/{c2}/tier/pin", json=body).status_code == 403
    assert api("bm_b02", "put", f"/api/v1/customers/{c2}/tier/pin",
               json=body).status_code == 404
    assert api("bm_b01", "put", f"/api/v1/customers/{c2}/tier/pin",
               json={**body, "expires": "31/12/2026"}).status_code == 400
    assert api("bm_b01", "put", f"/api/v1/customers/{c2}/tier/pin",
               json={**body, "reason": ""}).status_code == 400
    pinned = api("bm_b01", "put", f"/api/v1/customers/{c2}/tier/pin", json=body)
    assert pinned.status_code == 200, pinned.get_json()
    assert pinned.get_json()["tier"]["pin"]["tier"] == "gold"
    assert pinned.get_json()["tier"]["pin"]["expires"] == expires
    shown = api("rm2", "get", f"/api/v1/customers/{c2}/tier").get_json()
    assert shown["tier"]["pin"]["reason"] == "Family of a private banking client"
    removed = api("bm_b01", "delete", f"/api/v1/customers/{c2}/tier/pin")
    assert removed.status_code == 200 and removed.get_json()["tier"]["pin"] is None
    assert api("bm_b01", "delete", f"/api/v1/customers/{c2}/tier/pin").status_code == 409


def test_the_api_needs_a_token(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/tiers/rules").status_code == 401
    assert client.post("/api/v1/tiers/evaluations", json={}).status_code == 401
