"""Tier decisions in words, in the current locale.

A ``TierDecision`` row holds everything its explanation says; ``of(decision)`` gathers it,
with the conditions of the rule version the decision used, into the explanation (also the
API's), and ``describe(explanation)`` words it:

    {"code": "held", "month": "2026-10", "version": 2, "window": 3, "grace": 3,
     "adb": "420000.0000", "contribution": "35.0000", "products": 2,
     "from": "platinum", "to": "platinum", "qualified": "gold", "next": "platinum",
     "months_below": 2, "below_for": 2,
     "pin": {"tier": …, "expires": "2027-03-31", "reason": …},   (pinned only)
     "tiers": {"gold": {"min_adb": "50000.0000"},
               "platinum": {"min_adb": "500000.0000", "min_products": 2,
                            "combine": "any"}}}

``code`` is the decision's outcome: new, upgrade, unchanged, held, downgrade, pinned,
pin_expired; ``below_for`` the consecutive months below the tier held (this one included);
``next`` the tier above the qualified one; ``tiers`` the conditions of the tiers the decision
speaks of (a condition not set is left out, and so is the default combine 'all'). Tier
names are those of the rule version the decision used (``TierDefinition.name_en`` /
``name_zh`` by locale; versions never change once written)."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from flask import g, has_app_context
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from portal.customers.services import round_money
from portal.errors import NotFound
from portal.pages import money
from portal.vip import rules
from portal.vip.models import TierDecision

CODES = ("new", "upgrade", "unchanged", "held", "downgrade", "pinned", "pin_expired")


def _amount(raw: Any) -> str:
    try:
        return money(round_money(Decimal(str(raw))))
    except (InvalidOperation, ValueError, TypeError):
        return "—"


def _chinese() -> bool:
    locale = get_locale()
    return locale is not None and str(locale).startswith("zh")


def version_names(version: Any) -> dict[str, tuple[str, str]]:
    """code → (English, Chinese) name of a rule version's tiers, read once per request."""
    if not isinstance(version, int) or not has_app_context():
        return {}
    from portal.extensions import db
    from portal.vip.models import TierDefinition

    cache = g.setdefault("tier_version_names", {})
    if version not in cache:
        cache[version] = {code: (en, zh) for code, en, zh in db.session.execute(
            select(TierDefinition.code, TierDefinition.name_en, TierDefinition.name_zh)
            .where(TierDefinition.version_id == version))}
    return cache[version]  # type: ignore[no-any-return]


def version_rules(version: int, session: Session | None = None) -> rules.RuleSet | None:
    """A rule version with its tiers, read once per request (versions never change)."""
    cache: dict[int, rules.RuleSet | None] = (
        g.setdefault("tier_rule_sets", {}) if has_app_context() else {})
    if version not in cache:
        if session is None:
            from portal.extensions import db

            session = db.session
        try:
            cache[version] = rules.version(session, version)
        except NotFound:
            cache[version] = None
    return cache[version]


def _conditions(tier: rules.TierSpec) -> dict[str, Any]:
    """A tier's conditions, compact: conditions not set and the default 'all' left out."""
    found: dict[str, Any] = {"min_adb": rules._text(tier.min_adb)}
    if tier.min_contribution is not None:
        found["min_contribution"] = rules._text(tier.min_contribution)
    if tier.min_products is not None:
        found["min_products"] = tier.min_products
    if tier.combine != "all":
        found["combine"] = tier.combine
    return found


def of(decision: TierDecision) -> dict[str, Any]:
    """The decision's explanation: its figures, outcome and grace months, and the
    conditions of the tiers it speaks of (the qualified one, the next above it and the
    previous tier) in its rule version."""
    version = version_rules(decision.rule_version, object_session(decision))
    tiers = version.tiers if version is not None else []
    codes = [t.code for t in tiers]
    qualified = decision.qualified_tier
    above = (codes[codes.index(qualified) + 1]
             if qualified in codes and codes.index(qualified) + 1 < len(codes) else None)
    code = decision.outcome
    explanation: dict[str, Any] = {
        "code": code, "month": decision.month.strftime("%Y-%m"),
        "version": decision.rule_version,
        "window": version.version.window_months if version is not None else None,
        "grace": version.version.grace_months if version is not None else None,
        "adb": rules._text(decision.adb), "contribution": rules._text(decision.contribution),
        "products": decision.products, "from": decision.from_tier, "to": decision.to_tier,
        "qualified": qualified, "next": above,
        "months_below": decision.months_below if code == "held" else 0,
        "below_for": decision.months_below if code in ("held", "downgrade") else 0}
    if code == "pinned":
        explanation["pin"] = {
            "tier": decision.to_tier, "reason": decision.pin_reason,
            "expires": decision.pin_expires.isoformat() if decision.pin_expires else None}
    spoken = [qualified, above, decision.from_tier]
    explanation["tiers"] = {t.code: _conditions(t) for t in tiers if t.code in spoken}
    return explanation


def tier_name(explanation: Mapping[str, Any], code: str | None) -> str:
    """The tier's name in the current locale, as the decision's rule version named it."""
    if not code:
        return "—"
    names = version_names(explanation.get("version")).get(code)
    if names is None:
        return code
    return names[1] if _chinese() else names[0]


def conditions(explanation: Mapping[str, Any], code: str | None) -> str:
    """What a tier asks for, e.g. "average daily AUM ≥ 50,000.00 and at least 2 products"."""
    tier = (explanation.get("tiers") or {}).get(code or "")
    if not tier:
        return "—"
    parts = []
    if Decimal(str(tier.get("min_adb") or 0)) > 0:
        parts.append(_("average daily AUM ≥ %(amount)s", amount=_amount(tier["min_adb"])))
    if tier.get("min_contribution") is not None:
        parts.append(_("monthly contribution ≥ %(amount)s",
                       amount=_amount(tier["min_contribution"])))
    if tier.get("min_products") is not None:
        parts.append(_("at least %(count)s products", count=tier["min_products"]))
    if not parts:
        return _("no minimum")
    joiner = _(" and ") if tier.get("combine", "all") == "all" else _(" or ")
    return joiner.join(parts)


def figures(explanation: Mapping[str, Any]) -> str:
    return _("Figures: average daily AUM %(adb)s over %(window)s months, monthly "
             "contribution %(contribution)s, %(products)s products (rules version "
             "%(version)s, month %(month)s).",
             adb=_amount(explanation.get("adb")), window=explanation.get("window", "?"),
             contribution=_amount(explanation.get("contribution")),
             products=explanation.get("products", 0), version=explanation.get("version", "?"),
             month=explanation.get("month", "?"))


def why(explanation: Mapping[str, Any]) -> str:
    """The decision's reason, without the figures."""
    e = explanation
    code = e.get("code")

    def name(key: str) -> str:
        return tier_name(e, e.get(key))

    if code == "new":
        text = _("First evaluation: %(tier)s, whose conditions the figures meet (%(conditions)s).",
                 tier=name("to"), conditions=conditions(e, e.get("to")))
    elif code == "upgrade":
        text = _("Upgraded from %(old)s to %(new)s: the figures meet %(new)s (%(conditions)s).",
                 old=name("from"), new=name("to"), conditions=conditions(e, e.get("to")))
    elif code == "unchanged":
        text = _("Stays %(tier)s: the figures meet it (%(conditions)s).", tier=name("to"),
                 conditions=conditions(e, e.get("to")))
    elif code == "held":
        text = _("Held at %(tier)s: %(used)s of %(grace)s grace months used. The figures "
                 "qualify for %(qualified)s only; %(tier)s needs %(conditions)s.",
                 tier=name("from"), used=e.get("below_for", e.get("months_below", 0)),
                 grace=e.get("grace", 0), qualified=name("qualified"),
                 conditions=conditions(e, e.get("from")))
    elif code == "downgrade":
        text = _("Downgraded from %(old)s to %(new)s: below %(old)s (%(conditions)s) for "
                 "%(months)s consecutive evaluated months, the grace period of %(grace)s "
                 "months.", old=name("from"), new=name("to"),
                 conditions=conditions(e, e.get("from")), months=e.get("below_for", 1),
                 grace=e.get("grace", 0))
    elif code == "pinned":
        pin = e.get("pin") or {}
        text = _("Pinned at %(tier)s by a branch manager until %(expires)s: %(reason)s. The "
                 "figures alone give %(qualified)s.", tier=name("to"),
                 expires=pin.get("expires") or "—", reason=pin.get("reason") or "—",
                 qualified=name("qualified"))
    elif code == "pin_expired":
        text = _("The pin has ended; the figures apply: %(tier)s (%(conditions)s).",
                 tier=name("to"), conditions=conditions(e, e.get("to")))
    else:
        return _("No explanation recorded.")
    above = e.get("next")
    if code in ("new", "upgrade", "unchanged", "pin_expired") and above:
        text += " " + _("%(tier)s needs %(conditions)s.", tier=tier_name(e, above),
                        conditions=conditions(e, above))
    return text


def describe(explanation: Mapping[str, Any] | None) -> str:
    """The whole explanation of a decision in the current locale: why, then the figures."""
    if not explanation or explanation.get("code") not in CODES:
        return _("No explanation recorded.")
    return why(explanation) + " " + figures(explanation)
