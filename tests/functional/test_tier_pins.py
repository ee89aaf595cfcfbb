"""Pins: branch managers keep a customer of their subtree on a tier with a reason and an
expiry; the next evaluation honours a valid pin, an expired (or removed) one gives way to
the figures at once."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import Actor
from portal.errors import Conflict, Forbidden, NotFound
from portal.models import AuditEvent, User
from portal.scope import scope_for
from portal.vip import explain, pins
from tests.functional.conftest import csrf_token
from tests.functional.tiers_support import (
    DEC,
    NOV,
    OCT,
    current_tier,
    decision,
    explained,
    evaluate,
    set_months,
)

TODAY = date(2026, 11, 25)
JAN = date(2027, 1, 1)


@pytest.fixture
def evaluated(engine, bank, users):  # type: ignore[no-untyped-def]
    """C1 at Gold in October, with Gold figures in every month after."""
    with Session(engine) as session, session.begin():
        set_months(session, bank.ids["C1"], 80_000, OCT, NOV, DEC, JAN)
    evaluate(engine, OCT)
    return bank.ids


def as_user(engine, username: str, action, *args, **kwargs):  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as session, session.begin():
        user = session.scalar(select(User).where(User.username == username))
        return action(session, scope_for(session, user), Actor.of(user), *args, **kwargs)


def pin(engine, customer_id: int, tier: str = "platinum", reason: str | None = "VIP relationship",  # type: ignore[no-untyped-def]
        expires: date | None = date(2026, 12, 15), username: str = "bm_b01"):
    return as_user(engine, username, pins.pin, customer_id, tier, reason, expires, TODAY)


def test_a_pin_wins_over_the_figures_until_it_expires(app, engine, evaluated) -> None:  # type: ignore[no-untyped-def]
    c1 = evaluated["C1"]
    pinned = pin(engine, c1)
    assert (pinned.pinned_tier, pinned.pin_expires, pinned.tier_code) == \
        ("platinum", date(2026, 12, 15), "gold")  # honoured from the next evaluation
    # November's decision takes effect on Dec 1, within the pin.
    evaluate(engine, NOV)
    found = decision(engine, c1, NOV)
    assert (found.from_tier, found.to_tier, found.qualified_tier, found.outcome) == \
        ("gold", "platinum", "gold", "pinned")
    assert (found.pin_expires, found.pin_reason) == (date(2026, 12, 15), "VIP relationship")
    why = explained(engine, c1, NOV)
    assert why["pin"] == {"tier": "platinum", "expires": "2026-12-15",
                          "reason": "VIP relationship"}
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert explain.describe(why).startswith(
            "Pinned at Platinum by a branch manager until 2026-12-15: VIP relationship. The "
            "figures alone give Gold.")
    assert current_tier(engine, c1).tier_code == "platinum"
    # December's takes effect on Jan 1: the pin has expired, the figures apply at once.
    evaluate(engine, DEC)
    found = decision(engine, c1, DEC)
    assert (found.from_tier, found.to_tier, found.outcome, found.months_below) == \
        ("platinum", "gold", "pin_expired", 0)
    tier = current_tier(engine, c1)
    assert (tier.tier_code, tier.pinned_tier, tier.pin_reason, tier.pin_expires) == \
        ("gold", None, None, None)
    # Evaluating December again tells the same story (the pin is gone, November was pinned).
    evaluate(engine, DEC)
    assert decision(engine, c1, DEC).outcome == "pin_expired"
    evaluate(engine, JAN)
    assert decision(engine, c1, JAN).outcome == "unchanged"


def test_a_pin_that_expired_before_the_evaluation_is_not_honoured(engine, evaluated) -> None:  # type: ignore[no-untyped-def]
    pin(engine, evaluated["C1"], expires=date(2026, 11, 30))
    evaluate(engine, NOV)  # takes effect on Dec 1: the pin is over
    assert (decision(engine, evaluated["C1"], NOV).to_tier,
            decision(engine, evaluated["C1"], NOV).outcome) == ("gold", "unchanged")
    assert current_tier(engine, evaluated["C1"]).pinned_tier is None


def test_a_removed_pin_gives_way_to_the_figures(engine, evaluated) -> None:  # type: ignore[no-untyped-def]
    c1 = evaluated["C1"]
    pin(engine, c1, tier="diamond", expires=date(2027, 6, 30))
    evaluate(engine, NOV)
    assert current_tier(engine, c1).tier_code == "diamond"
    unpinned = as_user(engine, "bm_b01", pins.unpin, c1)
    assert unpinned.pinned_tier is None
    evaluate(engine, DEC)
    found = decision(engine, c1, DEC)
    assert (found.to_tier, found.outcome) == ("gold", "pin_expired")  # no grace after a pin
    with Session(engine) as session:
        actions = [e.action for e in session.scalars(
            select(AuditEvent).where(AuditEvent.customer_id == c1).order_by(AuditEvent.id))]
    assert actions == ["tier_pin", "tier_unpin"]


def test_a_pin_to_a_lower_tier_is_honoured_too(engine, evaluated) -> None:  # type: ignore[no-untyped-def]
    pin(engine, evaluated["C1"], tier="standard", reason="under review")
    evaluate(engine, NOV)
    assert decision(engine, evaluated["C1"], NOV).to_tier == "standard"


@pytest.mark.parametrize("changes, reason", [
    ({"reason": "  "}, "reason_required"), ({"reason": None}, "reason_required"),
    ({"reason": "x" * 501}, "reason_too_long"),
    ({"expires": None}, "expires_required"), ({"expires": TODAY}, "expires_past"),
    ({"expires": TODAY - timedelta(days=1)}, "expires_past"),
    ({"expires": date(2027, 11, 26)}, "expires_far"),
    ({"tier": "bronze"}, "tier"),
])
def test_a_pin_needs_a_tier_a_reason_and_a_near_future_expiry(engine, evaluated, changes, reason) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(pins.PinInvalid) as caught:
        pin(engine, evaluated["C1"], **changes)
    assert caught.value.reason == reason
    assert current_tier(engine, evaluated["C1"]).pinned_tier is None


def test_the_longest_pin_is_twelve_months(engine, evaluated) -> None:  # type: ignore[no-untyped-def]
    assert pin(engine, evaluated["C1"], expires=date(2027, 11, 25)).pin_expires == \
        date(2027, 11, 25)


def test_only_branch_managers_pin_customers_of_their_subtree(engine, evaluated) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound):
        pin(engine, evaluated["C1"], username="bm_b02")  # another branch
    for username in ("rm1", "analyst", "admin"):
        with pytest.raises(Forbidden):
            pin(engine, evaluated["C1"], username=username)
    with pytest.raises(NotFound):
        pin(engine, 999_999)
    with pytest.raises(Conflict):  # not pinned
        as_user(engine, "bm_b01", pins.unpin, evaluated["C1"])


def test_a_customer_never_evaluated_cannot_be_pinned_yet(engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Conflict):
        pin(engine, bank.ids["C1"])


def test_the_reason_is_one_line_and_safe_in_the_explanation(app, engine, evaluated) -> None:  # type: ignore[no-untyped-def]
    reason = 'Board member\n"key" account \\ 重要客户\t<b>'
    assert pin(engine, evaluated["C1"], reason=reason).pin_reason == \
        'Board member "key" account \\ 重要客户 <b>'
    evaluate(engine, NOV)
    explanation = explained(engine, evaluated["C1"], NOV)
    assert explanation["pin"]["reason"] == 'Board member "key" account \\ 重要客户 <b>'


# -- the pin page ----------------------------------------------------------------------------

def test_a_branch_manager_pins_and_unpins_on_the_page(client, login, engine, evaluated) -> None:  # type: ignore[no-untyped-def]
    c1 = evaluated["C1"]
    login("bm_b01")
    page = client.get(f"/customers/{c1}/tier/pin", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'data-tier="gold"' in text and "First evaluation: Gold" in text
    token = csrf_token(client, f"/customers/{c1}/tier/pin")
    expires = (date.today() + timedelta(days=40)).isoformat()
    missing = client.post(f"/customers/{c1}/tier/pin", headers={"Accept-Language": "en"},
                          data={"csrf_token": token, "tier": "platinum", "reason": "",
                                "expires": expires})
    assert missing.status_code == 400 and "Give the reason" in missing.get_data(as_text=True)
    done = client.post(f"/customers/{c1}/tier/pin", follow_redirects=True,
                       data={"csrf_token": token, "tier": "platinum", "reason": "Key account",
                             "expires": expires})
    assert done.status_code == 200 and 'id="pin-now"' in done.get_data(as_text=True)
    assert current_tier(engine, c1).pinned_tier == "platinum"
    removed = client.post(f"/customers/{c1}/tier/unpin", data={"csrf_token": token},
                          follow_redirects=True)
    assert removed.status_code == 200 and 'id="pin-now"' not in removed.get_data(as_text=True)
    assert current_tier(engine, c1).pinned_tier is None


def test_the_pin_page_is_for_branch_managers_of_the_customer(client, login, engine, evaluated) -> None:  # type: ignore[no-untyped-def]
    login("bm_b02")
    assert client.get(f"/customers/{evaluated['C1']}/tier/pin").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login("rm1")
    assert client.get(f"/customers/{evaluated['C1']}/tier/pin").status_code == 403
