"""The VIP panel of the customer 360 page: the current tier, why, any pin, and the tier
history with the rule version each decision used. A fixed number of queries."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import User
from portal.vip import explain
from portal.vip.models import CustomerTier, TierDecision, TierDefinition

HISTORY_MONTHS = 12


@dataclass(frozen=True)
class TierName:
    en: str
    zh: str

    def in_locale(self, locale: str) -> str:
        return self.zh if locale.lower().startswith("zh") else self.en


@dataclass(frozen=True)
class TierPanel:
    current: CustomerTier | None
    history: list[TierDecision]  # newest first, at most HISTORY_MONTHS
    # (rule version, tier code) → the names that version gave the tier.
    names: dict[tuple[int, str], TierName] = field(default_factory=dict)
    thresholds: dict[tuple[int, str], Decimal] = field(default_factory=dict)
    pinned_by: str | None = None  # who pinned the tier (display name or username)

    @property
    def latest(self) -> TierDecision | None:
        return self.history[0] if self.history else None

    @property
    def version(self) -> int | None:
        """The rule version of the latest decision (the one behind the current tier)."""
        return self.latest.rule_version if self.latest is not None else None

    @property
    def threshold(self) -> Decimal | None:
        """The current tier's minimum average daily AUM in the version that decided it."""
        if self.current is None or self.version is None:
            return None
        return self.thresholds.get((self.version, self.current.tier_code))

    def pin_in_force(self, today: date) -> bool:
        current = self.current
        return bool(current is not None and current.pinned_tier
                    and (current.pin_expires is None or current.pin_expires >= today))

    def name(self, code: str | None, locale: str, version: int | None = None) -> str:
        """A tier's name in ``locale`` as ``version`` (default: the latest known) named it;
        an unknown code is shown as it is."""
        if not code:
            return "—"
        found = self.names.get((version, code)) if version is not None else None
        if found is None:
            versions = sorted((v for v, c in self.names if c == code), reverse=True)
            found = self.names[(versions[0], code)] if versions else None
        return found.in_locale(locale) if found is not None else code

    def why(self, decision: TierDecision | None) -> str:
        """A decision's explanation in the reader's language ("" without one)."""
        return explain.describe(explain.of(decision)) if decision is not None else ""


def customer_tier_panel(session: Session, customer_id: int) -> TierPanel:
    """The customer is in the caller's scope (the 360 view checked it)."""
    current = session.get(CustomerTier, customer_id)
    history = list(session.scalars(
        select(TierDecision).where(TierDecision.customer_id == customer_id)
        .order_by(TierDecision.month.desc()).limit(HISTORY_MONTHS)))
    versions = {d.rule_version for d in history}
    codes = {code for d in history for code in (d.from_tier, d.to_tier, d.qualified_tier)
             if code} | ({current.tier_code, current.pinned_tier} - {None}
                         if current is not None else set())
    names: dict[tuple[int, str], TierName] = {}
    thresholds: dict[tuple[int, str], Decimal] = {}
    if codes:
        # Every version's names of these codes: a tier a later version dropped still has one.
        for d in session.scalars(select(TierDefinition)
                                 .where(TierDefinition.code.in_(sorted(codes)))):
            names[(d.version_id, d.code)] = TierName(d.name_en, d.name_zh)
            if d.version_id in versions:
                thresholds[(d.version_id, d.code)] = d.min_adb
    pinned_by = None
    if current is not None and current.pinned_by is not None:
        user = session.get(User, current.pinned_by)
        pinned_by = (user.display_name or user.username) if user is not None else None
    return TierPanel(current, history, names, thresholds, pinned_by)
