"""Tier rules: versioned copy-on-write, validated, audited, administered by admins only on
/admin/tiers (edit the rules, evaluate a month now)."""
from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.errors import Conflict
from portal.models import AuditEvent
from portal.vip import rules
from portal.vip.models import TierDefinition, TierRuleVersion
from tests.functional.conftest import csrf_token
from tests.functional.tiers_support import CLI, OCT, SEP, decision, evaluate, set_months


def current(engine) -> rules.RuleSet:  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as session:
        return rules.current(session)


def propose(engine, window: int = 3, grace: int = 3, **changes) -> rules.RuleSet:  # type: ignore[no-untyped-def]
    """Save the current rules with ``changes`` (code → fields) as a new version."""
    now = current(engine)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        return rules.create_version(session, CLI, rules.Proposal(
            [replace(t, **changes.get(t.code, {})) for t in now.tiers], window, grace))


def assert_refused(engine, reason: str, **kwargs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(rules.RulesInvalid) as caught:
        propose(engine, **kwargs)
    assert caught.value.reason == reason
    assert len(versions(engine)) == 1  # nothing written


def versions(engine) -> list[int]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return list(session.scalars(select(TierRuleVersion.id).order_by(TierRuleVersion.id)))


def test_the_seeded_rules_are_version_one(engine) -> None:  # type: ignore[no-untyped-def]
    seeded = current(engine)
    assert seeded.id == 1
    assert (seeded.version.window_months, seeded.version.grace_months) == (3, 3)
    assert [(t.code, t.name_zh, t.min_adb) for t in seeded.tiers] == [
        ("standard", "普通", 0), ("gold", "金卡", 50_000), ("platinum", "白金", 500_000),
        ("diamond", "钻石", 2_000_000), ("private", "私人银行", 6_000_000)]


def test_a_change_writes_a_new_version_and_keeps_the_old_one(engine) -> None:  # type: ignore[no-untyped-def]
    created = propose(engine, gold={"min_adb": Decimal(80_000), "min_products": 2},
                      grace=2)
    assert created.id == 2 and current(engine).id == 2
    assert current(engine).tier("gold").min_adb == 80_000
    with Session(engine) as session:
        # Copy-on-write: version 1 is untouched, version 2 has all five tiers.
        assert rules.version(session, 1).tier("gold").min_adb == 50_000
        assert session.scalar(select(func.count()).select_from(TierDefinition)
                              .where(TierDefinition.version_id == 2)) == 5
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "tier_rules"))
    assert event.detail["version"] == 2 and event.detail["based_on"] == 1
    assert {"tier": "gold", "field": "min_adb", "from": "50000.0000", "to": "80000.0000"} \
        in event.detail["changes"]
    assert {"field": "grace_months", "from": 3, "to": 2} in event.detail["changes"]


@pytest.mark.parametrize("kwargs, reason", [
    ({"gold": {"min_adb": Decimal(500_000)}}, "increasing"),          # = Platinum's
    ({"diamond": {"min_adb": Decimal(400_000)}}, "increasing"),
    ({"standard": {"min_adb": Decimal(1)}}, "base"),
    ({"standard": {"min_products": 1}}, "base"),
    ({"gold": {"rank": 2}}, "duplicate_rank"),
    ({"gold": {"rank": 0}}, "duplicate_rank"),
    ({"gold": {"min_contribution": Decimal(0)}}, "contribution"),
    ({"gold": {"min_products": 0}}, "products"),
    ({"gold": {"combine": "most"}}, "combine"),
    ({"gold": {"name_en": " "}}, "name"),
    ({"window": 0}, "window"), ({"window": 13}, "window"),
    ({"grace": -1}, "grace"), ({"grace": 13}, "grace"),
    ({}, "unchanged"),
])
def test_invalid_rules_are_refused(engine, kwargs, reason) -> None:  # type: ignore[no-untyped-def]
    assert_refused(engine, reason, **kwargs)


def test_the_edges_of_the_ranges_are_allowed(engine) -> None:  # type: ignore[no-untyped-def]
    assert propose(engine, window=12, grace=0).version.grace_months == 0
    assert propose(engine, window=1, grace=12).version.window_months == 1


def test_a_tier_customers_hold_cannot_be_dropped(engine, bank) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        set_months(session, bank.ids["C1"], 2_500_000, OCT)
    evaluate(engine, OCT)
    now = current(engine)
    with Session(engine) as session, session.begin():
        with pytest.raises(Conflict):
            rules.create_version(session, CLI, rules.Proposal(
                [t for t in now.tiers if t.code != "diamond"], 3, 3))
        # Gold (nobody holds it) may go; Private Banking's threshold is still above.
        kept = [t for t in now.tiers if t.code != "gold"]
        assert [t.code for t in rules.create_version(
            session, CLI, rules.Proposal(kept, 3, 3)).tiers] == \
            ["standard", "platinum", "diamond", "private"]


def test_an_edit_based_on_an_old_version_is_refused(engine) -> None:  # type: ignore[no-untyped-def]
    propose(engine, grace=2)
    now = current(engine)
    with Session(engine) as session, session.begin():
        with pytest.raises(Conflict):
            rules.create_version(session, CLI, rules.Proposal(now.tiers, 3, 1), based_on=1)


def test_merge_fills_in_what_an_edit_leaves_out(engine) -> None:  # type: ignore[no-untyped-def]
    merged = rules.merge(current(engine), {"grace_months": 1, "tiers": [
        {"code": "gold", "min_adb": "60000.5"},
        {"code": "wealth", "rank": 5, "name_en": "Wealth", "name_zh": "财富",
         "min_adb": 10_000_000, "min_products": 3, "combine": "any"}]})
    assert merged.grace_months == 1 and merged.window_months == 3
    by_code = {t.code: t for t in merged.tiers}
    assert by_code["gold"].min_adb == Decimal("60000.5") and by_code["gold"].name_zh == "金卡"
    assert by_code["wealth"].min_products == 3
    for bad in ({"tiers": [{"code": "gold", "min_adb": 1.5}]},
                {"tiers": [{"code": "gold", "min_adb": "1.00001"}]},
                {"tiers": [{"code": "new_one", "rank": 7}]},
                {"colour": "red"}):
        with pytest.raises(rules.RulesInvalid):
            rules.merge(current(engine), bad)


# -- the admin page ------------------------------------------------------------------------

def form_of(page: str, form_id: str) -> dict[str, str]:
    """The named form's fields with their values, as a browser would submit them."""
    form = re.search(rf'<form[^>]*id="{form_id}".*?</form>', page, re.S).group(0)
    fields = {name: value for tag, name, value in re.findall(
        r'(<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"[^>]*>)', form)
        if 'type="checkbox"' not in tag or " checked" in tag}  # unticked boxes send nothing
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option[^>]*value="([^"]*)"[^>]*selected', body) or \
            re.search(r'<option[^>]*value="([^"]*)"', body)
        fields[name] = chosen.group(1) if chosen else ""
    return fields


def test_an_admin_edits_the_rules_and_evaluates_on_the_page(client, login, users, engine, bank) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        set_months(session, bank.ids["C2"], 45_000, SEP, OCT)
    login("admin")
    page = client.get("/admin/tiers", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Rules in force: version 1" in text and 'name="gold-min_adb"' in text
    fields = form_of(text, "rules-form")
    assert fields["gold-min_adb"] == "50000" and fields["window_months"] == "3"
    fields.update({"gold-min_adb": "40000", "gold-name_en": "Gold card", "note": "Lower Gold"})
    saved = client.post("/admin/tiers", data=fields, follow_redirects=True,
                        headers={"Accept-Language": "en"})
    assert saved.status_code == 200
    assert "Rules version 2 saved" in saved.get_data(as_text=True)
    assert current(engine).tier("gold").min_adb == 40_000
    assert current(engine).version.note == "Lower Gold"

    month = form_of(client.get("/admin/tiers").get_data(as_text=True), "evaluate-form")
    assert month["month"] == "2026-10"  # the last complete month before Nov 20
    done = client.post("/admin/tiers/evaluate", data=month, follow_redirects=True)
    assert done.status_code == 200
    assert decision(engine, bank.ids["C2"], OCT).to_tier == "gold"
    assert decision(engine, bank.ids["C2"], OCT).rule_version == 2
    table = re.search(r'id="evaluation-tiers".*?</table>', done.get_data(as_text=True), re.S)
    assert re.search(r'data-tier="gold"><td>[^<]+</td><td class="num">1</td>', table.group(0))
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.action == "tier_evaluation")) == 1


def test_bad_input_on_the_page_says_why_and_changes_nothing(client, login, users, engine) -> None:  # type: ignore[no-untyped-def]
    login("admin")
    fields = form_of(client.get("/admin/tiers").get_data(as_text=True), "rules-form")
    response = client.post("/admin/tiers", data={**fields, "platinum-min_adb": "40000"},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert "must be above the one of the tier below it" in response.get_data(as_text=True)
    response = client.post("/admin/tiers", data={**fields, "gold-min_adb": "abc"},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 400 and "at most 4 decimals" in \
        response.get_data(as_text=True)
    no_token = client.post("/admin/tiers", data={k: v for k, v in fields.items()
                                                 if k != "csrf_token"})
    assert no_token.status_code == 400
    assert versions(engine) == [1]


def test_an_admin_adds_and_retires_tiers_on_the_page(client, login, users, engine, bank) -> None:  # type: ignore[no-untyped-def]
    login("admin")
    fields = form_of(client.get("/admin/tiers").get_data(as_text=True), "rules-form")
    assert "diamond-retire" not in fields and fields["new-code"] == ""
    # Silver between Standard and Gold; Diamond retired (no one holds it yet).
    fields.update({"new-code": "silver", "new-name_en": "Silver", "new-name_zh": "银卡",
                   "new-min_adb": "20000", "diamond-retire": "1"})
    saved = client.post("/admin/tiers", data=fields, follow_redirects=True,
                        headers={"Accept-Language": "en"})
    assert "Rules version 2 saved" in saved.get_data(as_text=True)
    now = current(engine)
    assert [(t.code, t.rank) for t in now.tiers] == [
        ("standard", 0), ("silver", 1), ("gold", 2), ("platinum", 3), ("private", 4)]
    assert now.tier("silver").name_zh == "银卡"

    # A tier customers hold cannot be retired: the page says so and nothing changes.
    with Session(engine) as session, session.begin():
        set_months(session, bank.ids["C1"], 600_000, OCT)
    with Session(engine) as session, session.begin():
        from portal.vip import evaluation
        evaluation.evaluate(session, OCT)
    fields = form_of(client.get("/admin/tiers").get_data(as_text=True), "rules-form")
    refused = client.post("/admin/tiers", data={**fields, "platinum-retire": "1"},
                          headers={"Accept-Language": "en"})
    assert refused.status_code == 409
    assert "customers hold tier platinum" in refused.get_data(as_text=True)
    # A new tier whose threshold repeats another's is refused too.
    twin = client.post("/admin/tiers", data={**fields, "new-code": "twin", "new-name_en": "T",
                                             "new-name_zh": "T", "new-min_adb": "50000"},
                       headers={"Accept-Language": "en"})
    assert twin.status_code == 400
    assert versions(engine) == [1, 2]


@pytest.mark.parametrize("username", ["rm1", "bm_b01", "analyst"])
def test_only_admins_manage_the_rules(client, login, users, engine, username) -> None:  # type: ignore[no-untyped-def]
    login(username)
    assert client.get("/admin/tiers").status_code == 403
    token = csrf_token(client, "/")
    assert client.post("/admin/tiers", data={"csrf_token": token, "window_months": "1",
                                             "grace_months": "0"}).status_code == 403
    assert client.post("/admin/tiers/evaluate", data={"csrf_token": token,
                                                      "month": "2026-10"}).status_code == 403
    assert versions(engine) == [1]


def test_signed_out_visitors_are_sent_to_sign_in(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/admin/tiers")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
