"""Entitlements administration: admins only, per tier of the current rule version, with
validation (known tier, code format, quota ≥ 0 or unlimited, SLA 1..2160 h, unique per
tier), deactivation and reactivation, each change audited; the same through the API."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import AuditEvent
from portal.vip.models import TierDefinition, TierEntitlement, TierRuleVersion
from tests.functional.conftest import PASSWORD, csrf_token

EN = {"Accept-Language": "en"}


def entitlement(engine: Any, tier: str, code: str) -> TierEntitlement | None:
    with Session(engine) as session:
        found = session.scalars(select(TierEntitlement).where(
            TierEntitlement.tier_code == tier, TierEntitlement.code == code)).one_or_none()
        if found is not None:
            session.expunge(found)
        return found


def snapshot(engine: Any) -> list[tuple[Any, ...]]:
    with Session(engine) as session:
        return [(e.tier_code, e.code, e.yearly_quota, e.sla_hours, e.active)
                for e in session.scalars(select(TierEntitlement).order_by(TierEntitlement.id))]


def audits(engine: Any) -> list[dict[str, Any]]:
    with Session(engine) as session:
        return [e.detail for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action == "entitlements")
            .order_by(AuditEvent.id))]


@pytest.fixture
def admin(client, login, users):  # type: ignore[no-untyped-def]
    login("admin")
    return csrf_token(client, "/admin/entitlements")


def test_the_page_lists_each_tier_with_its_entitlements(client, admin):
    page = client.get("/admin/entitlements", headers=EN).get_data(as_text=True)
    for tier in ("Standard", "Gold", "Platinum", "Diamond", "Private Banking"):
        assert tier in page
    assert 'id="tier-platinum"' in page and "Airport lounge visit" in page
    lounge = page.split('data-code="airport_lounge"')[1]  # platinum's row: 2 a year, 72 h
    assert 'name="yearly_quota" inputmode="numeric" value="2"' in lounge
    assert 'name="sla_hours" inputmode="numeric" value="72"' in lounge
    zh = client.get("/admin/entitlements", headers={"Accept-Language": "zh-CN"})
    assert "白金" in zh.get_data(as_text=True)


def test_only_admins_configure(app, engine, users):
    before = snapshot(engine)
    for username in ("rm1", "adv1", "bm_b01", "analyst"):
        client = app.test_client()
        client.post("/login", data={"username": username, "password": PASSWORD,
                                    "csrf_token": csrf_token(client)})
        assert client.get("/admin/entitlements").status_code == 403, username
        lounge = entitlement(engine, "platinum", "airport_lounge")
        token = csrf_token(client, "/")
        for path, form in (("/admin/entitlements", {"tier": "gold", "code": "wine_tasting",
                                                     "yearly_quota": "1", "sla_hours": "24"}),
                           (f"/admin/entitlements/{lounge.id}",
                            {"yearly_quota": "9", "sla_hours": "9"}),
                           (f"/admin/entitlements/{lounge.id}/deactivate", {})):
            response = client.post(path, data={**form, "csrf_token": token})
            assert response.status_code == 403, (username, path)
    assert snapshot(engine) == before and audits(engine) == []


def test_signed_out_visitors_are_sent_to_sign_in(client, bank):
    response = client.get("/admin/entitlements")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_an_admin_adds_an_entitlement_audited(client, engine, admin):
    response = client.post("/admin/entitlements", data={
        "tier": "gold", "code": "wine_tasting", "yearly_quota": "", "sla_hours": "36",
        "csrf_token": admin})
    assert response.status_code == 302 and response.headers["Location"].endswith("#tier-gold")
    added = entitlement(engine, "gold", "wine_tasting")
    assert added is not None
    assert (added.yearly_quota, added.sla_hours, added.active) == (None, 36, True)
    assert audits(engine) == [{"change": "add", "tier": "gold", "code": "wine_tasting",
                               "before": None, "after": {"yearly_quota": None,
                                                         "sla_hours": 36, "active": True}}]
    # A code without a label is shown as its code.
    page = client.get("/admin/entitlements", headers=EN).get_data(as_text=True)
    assert "wine_tasting" in page.split('id="tier-gold"')[1].split("</section>")[0]


BAD_INPUT = [
    ({"tier": "bronze"}, "Unknown tier bronze."),
    ({"code": "Wine"}, "The code must be 3 to 30 lower-case letters"),
    ({"code": "wi"}, "The code must be 3 to 30 lower-case letters"),
    ({"code": "a" * 31}, "The code must be 3 to 30 lower-case letters"),
    ({"code": "wine-tasting"}, "The code must be 3 to 30 lower-case letters"),
    ({"yearly_quota": "-1"}, "The yearly quota must be a whole number of at least 0"),
    ({"yearly_quota": "two"}, "The yearly quota must be a whole number of at least 0"),
    ({"sla_hours": "0"}, "The SLA must be a whole number of hours from 1 to 2160."),
    ({"sla_hours": "2161"}, "The SLA must be a whole number of hours from 1 to 2160."),
    ({"sla_hours": ""}, "The SLA must be a whole number of hours from 1 to 2160."),
    ({"sla_hours": "1.5"}, "The SLA must be a whole number of hours from 1 to 2160."),
    ({"tier": "platinum", "code": "airport_lounge"},
     "The Platinum tier already has the entitlement Airport lounge visit."),
]


def test_bad_input_says_why_and_changes_nothing(client, engine, admin):
    before = snapshot(engine)
    for form, message in BAD_INPUT:
        data = {"tier": "gold", "code": "wine_tasting", "yearly_quota": "1",
                "sla_hours": "24", "csrf_token": admin, **form}
        response = client.post("/admin/entitlements", data=data, headers=EN)
        assert response.status_code == (409 if "already has" in message else 400), form
        assert message in response.get_data(as_text=True), form
    assert snapshot(engine) == before and audits(engine) == []


def test_the_boundaries_are_allowed(client, engine, admin):
    for code, quota, sla in (("tea_ceremony", "0", "1"), ("golf_day", "", "2160")):
        response = client.post("/admin/entitlements", data={
            "tier": "diamond", "code": code, "yearly_quota": quota, "sla_hours": sla,
            "csrf_token": admin})
        assert response.status_code == 302
    assert entitlement(engine, "diamond", "tea_ceremony").yearly_quota == 0
    assert entitlement(engine, "diamond", "golf_day").sla_hours == 2160


def test_an_admin_edits_quota_and_sla(client, engine, admin):
    lounge = entitlement(engine, "platinum", "airport_lounge")
    response = client.post(f"/admin/entitlements/{lounge.id}", data={
        "yearly_quota": "4", "sla_hours": "48", "csrf_token": admin})
    assert response.status_code == 302
    changed = entitlement(engine, "platinum", "airport_lounge")
    assert (changed.yearly_quota, changed.sla_hours) == (4, 48)
    assert changed.updated_by is not None
    client.post(f"/admin/entitlements/{lounge.id}", data={
        "yearly_quota": "", "sla_hours": "48", "csrf_token": admin})
    assert entitlement(engine, "platinum", "airport_lounge").yearly_quota is None
    assert [(a["change"], a["before"]["yearly_quota"], a["after"]["yearly_quota"])
            for a in audits(engine)] == [("update", 2, 4), ("update", 4, None)]
    bad = client.post(f"/admin/entitlements/{lounge.id}", data={
        "yearly_quota": "3", "sla_hours": "9999", "csrf_token": admin}, headers=EN)
    assert bad.status_code == 400 and "from 1 to 2160" in bad.get_data(as_text=True)
    assert entitlement(engine, "platinum", "airport_lounge").sla_hours == 48
    assert client.post("/admin/entitlements/999999", data={
        "yearly_quota": "3", "sla_hours": "9", "csrf_token": admin}).status_code == 404


def test_an_admin_deactivates_and_reactivates(client, engine, admin):
    lounge = entitlement(engine, "platinum", "airport_lounge")
    assert client.post(f"/admin/entitlements/{lounge.id}/deactivate",
                       data={"csrf_token": admin}).status_code == 302
    assert entitlement(engine, "platinum", "airport_lounge").active is False
    page = client.get("/admin/entitlements", headers=EN).get_data(as_text=True)
    assert f'id="reactivate-{lounge.id}"' in page
    assert client.post(f"/admin/entitlements/{lounge.id}/reactivate",
                       data={"csrf_token": admin}).status_code == 302
    assert entitlement(engine, "platinum", "airport_lounge").active is True
    assert [a["change"] for a in audits(engine)] == ["deactivate", "reactivate"]


def test_only_the_tiers_of_the_current_rule_version_are_configured(client, engine, admin):
    """A new rule version without Private Banking and with a new tier: the page follows."""
    with Session(engine) as session, session.begin():
        version = TierRuleVersion(window_months=3, grace_months=3, note="test")
        session.add(version)
        session.flush()
        for code, rank, en, zh, adb in (("standard", 0, "Standard", "普通", 0),
                                        ("gold", 1, "Gold", "金卡", 50_000),
                                        ("elite", 2, "Elite", "精英", 1_000_000)):
            session.add(TierDefinition(version_id=version.id, code=code, rank=rank,
                                       name_en=en, name_zh=zh, min_adb=Decimal(adb)))
    page = client.get("/admin/entitlements", headers=EN).get_data(as_text=True)
    assert 'id="tier-elite"' in page and 'id="tier-private"' not in page
    assert client.post("/admin/entitlements", data={
        "tier": "private", "code": "yacht_day", "yearly_quota": "1", "sla_hours": "24",
        "csrf_token": admin}).status_code == 400
    assert client.post("/admin/entitlements", data={
        "tier": "elite", "code": "airport_lounge", "yearly_quota": "3", "sla_hours": "24",
        "csrf_token": admin}).status_code == 302


def test_a_form_without_its_csrf_token_is_refused(client, engine, admin):
    before = snapshot(engine)
    response = client.post("/admin/entitlements", data={
        "tier": "gold", "code": "wine_tasting", "yearly_quota": "1", "sla_hours": "24"})
    assert response.status_code == 400 and snapshot(engine) == before


# -- API -----------------------------------------------------------------------------

def test_every_signed_in_role_reads_the_entitlements(api, users):
    bodies = []
    for username in ("rm1", "adv1", "bm_b01", "analyst", "admin"):
        response = api(username, "get", "/api/v1/entitlements")
        assert response.status_code == 200, username
        bodies.append(response.get_json())
    assert all(b == bodies[0] for b in bodies)
    body = bodies[0]
    assert body["rule_version"] == 1
    tiers = {t["code"]: t for t in body["tiers"]}
    assert list(tiers) == ["standard", "gold", "platinum", "diamond", "private"]
    assert tiers["standard"]["entitlements"] == []
    lounge = next(e for e in tiers["platinum"]["entitlements"] if e["code"] == "airport_lounge")
    assert (lounge["yearly_quota"], lounge["sla_hours"], lounge["active"]) == (2, 72, True)


def test_admins_put_entitlements_all_or_nothing(api, engine, users):
    body = {"entitlements": [
        {"tier": "platinum", "code": "airport_lounge", "yearly_quota": 3, "sla_hours": 48},
        {"tier": "gold", "code": "wine_tasting", "yearly_quota": None, "sla_hours": 24},
        {"tier": "gold", "code": "birthday_gift", "yearly_quota": 1, "sla_hours": 168,
         "active": False}]}
    assert api("rm1", "put", "/api/v1/entitlements", json=body).status_code == 403
    response = api("admin", "put", "/api/v1/entitlements", json=body)
    assert response.status_code == 200, response.get_json()
    gold = next(t for t in response.get_json()["tiers"] if t["code"] == "gold")
    assert {e["code"]: e["active"] for e in gold["entitlements"]}["birthday_gift"] is False
    assert (entitlement(engine, "platinum", "airport_lounge").yearly_quota,
            entitlement(engine, "platinum", "airport_lounge").sla_hours) == (3, 48)
    assert entitlement(engine, "gold", "wine_tasting").yearly_quota is None
    assert sorted(a["change"] for a in audits(engine)) == ["add", "update", "update"]
    before = snapshot(engine)
    for bad in (
        {"entitlements": [{"tier": "gold", "code": "spa_day", "sla_hours": 24},
                          {"tier": "gold", "code": "spa_day", "sla_hours": 0}]},
        {"entitlements": [{"tier": "gold", "code": "spa_day", "sla_hours": 24},
                          {"tier": "gold", "code": "spa_day", "sla_hours": 24}]},
        {"entitlements": [{"tier": "gold", "code": "spa_day", "sla_hours": 24,
                           "yearly_quota": -1}]},
        {"entitlements": [{"tier": "gold", "code": "spa_day", "sla_hours": "24"}]},
        {"entitlements": [{"tier": "gold", "code": "spa_day", "sla_hours": True}]},
        {"entitlements": [{"tier": "nope", "code": "spa_day", "sla_hours": 24}]},
        {"entitlements": []}, {"something": 1}, [1, 2]):
        response = api("admin", "put", "/api/v1/entitlements", json=bad)
        assert response.status_code == 400, bad
        assert response.get_json()["error"]["message"]
    assert snapshot(engine) == before
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.action == "entitlements")) == 3
