"""Pins: a branch manager keeps a customer of their branch subtree on a tier, whatever the
figures say, with a reason and an expiry date (after today, at most 12 months ahead).

A pin is stored on the customer's ``CustomerTier`` row and honoured from the next
evaluation on (``portal.vip.evaluation``): while it holds, the decision is "pinned"; once it
has expired (or was removed) the figures apply again ("pin_expired"). Pinning and unpinning
are audited."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from integration.bank_calendar import add_months
from portal.audit import Actor, record
from portal.errors import N_, Conflict, Forbidden, Invalid
from portal.scope import Scope, customer_in_scope
from portal.vip import rules
from portal.vip.models import CustomerTier, TierDecision
from portal.vip.panel import customer_tier_panel

MAX_MONTHS = 12
MAX_REASON = 500
AUDIT_PIN = "tier_pin"
AUDIT_UNPIN = "tier_unpin"
AUDIT_VIEW = "view_tier"
_SPACE = re.compile(r"[\s\x00-\x1f\x7f]+")


class PinInvalid(Invalid):
    """A refused pin; ``reason`` names the rule (for the page's wording)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def may_pin(scope: Scope) -> bool:
    return scope.kind == "branches"


def _customer_tier(session: Session, scope: Scope, customer_id: int) -> tuple[Any, CustomerTier]:
    if not may_pin(scope):
        raise Forbidden(N_("only branch managers pin tiers"))
    customer = customer_in_scope(session, scope, customer_id)  # NotFound outside the scope
    tier = session.get(CustomerTier, customer.id)
    if tier is None:
        raise Conflict(N_("the customer has no tier yet: pin after the first evaluation"))
    return customer, tier


def clean_reason(reason: str | None) -> str:
    """One line of text: control characters and runs of white space become one space."""
    return _SPACE.sub(" ", reason or "").strip()


def pin(session: Session, scope: Scope, actor: Actor, customer_id: int, tier_code: str,
        reason: str | None, expires: date | None, today: date) -> CustomerTier:
    """Pin the customer to ``tier_code`` until ``expires`` (inclusive)."""
    customer, tier = _customer_tier(session, scope, customer_id)
    if rules.current(session).tier(tier_code) is None:
        raise PinInvalid("tier", f"no tier {tier_code!r} in the current rules")
    text = clean_reason(reason)
    if not text:
        raise PinInvalid("reason_required", "a reason is required")
    if len(text) > MAX_REASON:
        raise PinInvalid("reason_too_long", f"the reason may have at most {MAX_REASON} "
                         "characters")
    if expires is None:
        raise PinInvalid("expires_required", "an expiry date is required")
    if expires <= today:
        raise PinInvalid("expires_past", "the expiry date must be after today")
    if expires > add_months(today, MAX_MONTHS):
        raise PinInvalid("expires_far", f"a pin lasts at most {MAX_MONTHS} months")
    tier.pinned_tier, tier.pin_reason, tier.pin_expires = tier_code, text, expires
    tier.pinned_by = actor.user.id if actor.user else None
    session.flush()
    record(session, actor, AUDIT_PIN, customer_id=customer.id, branch_code=customer.branch_code,
           tier=tier_code, expires=expires.isoformat(), reason=text, current=tier.tier_code)
    return tier


def unpin(session: Session, scope: Scope, actor: Actor, customer_id: int) -> CustomerTier:
    """Remove the customer's pin: the next evaluation applies the figures."""
    customer, tier = _customer_tier(session, scope, customer_id)
    if tier.pinned_tier is None:
        raise Conflict(N_("the customer's tier is not pinned"))
    detail = {"tier": tier.pinned_tier, "expires": tier.pin_expires.isoformat()
              if tier.pin_expires else None}
    tier.pinned_tier = tier.pin_reason = tier.pin_expires = tier.pinned_by = None
    session.flush()
    record(session, actor, AUDIT_UNPIN, customer_id=customer.id,
           branch_code=customer.branch_code, **detail)
    return tier


@dataclass(frozen=True)
class TierView:
    customer_id: int
    customer_name: str
    branch_code: str | None
    current: CustomerTier | None
    history: list[TierDecision]


def view_tier(session: Session, scope: Scope, actor: Actor, customer_id: int,
              channel: str) -> TierView:
    """A customer's tier, pin and tier history, for whoever may see the customer (NotFound
    otherwise, as for the 360 view); audited like any view of a customer's details."""
    customer = customer_in_scope(session, scope, customer_id)
    panel = customer_tier_panel(session, customer.id)
    record(session, actor, AUDIT_VIEW, customer_id=customer.id,
           branch_code=customer.branch_code, channel=channel)
    return TierView(customer.id, customer.name, customer.branch_code, panel.current,
                    panel.history)
