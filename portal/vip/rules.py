"""Tier rules, versioned copy-on-write: an admin's change never edits a version, it writes a
new one with the full set of tiers, so every past decision keeps naming the rules it used.
The current version is the newest (the highest id).

A valid set of rules: tier codes unique (lower-case letters, digits, underscores); ranks
unique, the base tier at rank 0 with no minimum (average daily AUM 0 and no contribution or
product condition), the minimum average daily AUM strictly increasing with the rank; a
contribution minimum, when set, above 0; a product minimum, when set, at least 1; combine
'all' (every set condition) or 'any' (one is enough); window 1..12 months, grace 0..12.
A tier that customers hold or are pinned to cannot be dropped."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from integration.db import to_units
from portal.audit import Actor, record
from portal.errors import N_, Conflict, Invalid, NotFound
from portal.models import User
from portal.vip.models import CustomerTier, TierDefinition, TierRuleVersion

AUDIT_ACTION = "tier_rules"
CODE_PATTERN = re.compile(r"[a-z][a-z0-9_]{1,19}")
COMBINES = ("all", "any")
MAX_AMOUNT = Decimal(10) ** 12
MAX_PRODUCTS = 100
MAX_NAME = 60
MAX_NOTE = 500
MAX_TIERS = 12
WINDOW_RANGE = (1, 12)
GRACE_RANGE = (0, 12)


class RulesInvalid(Invalid):
    """A refused set of rules: ``reason`` names the rule broken, ``tier`` the tier."""

    def __init__(self, reason: str, message: str, tier: str | None = None,
                 **params: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.tier = tier
        self.params = params


@dataclass(frozen=True)
class TierSpec:
    code: str
    rank: int
    name_en: str
    name_zh: str
    min_adb: Decimal
    min_contribution: Decimal | None = None
    min_products: int | None = None
    combine: str = "all"

    @classmethod
    def of(cls, tier: TierDefinition) -> TierSpec:
        return cls(tier.code, tier.rank, tier.name_en, tier.name_zh, tier.min_adb,
                   tier.min_contribution, tier.min_products, tier.combine)

    @property
    def is_base(self) -> bool:
        return self.rank == 0

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "rank": self.rank, "name_en": self.name_en,
                "name_zh": self.name_zh, "min_adb": _text(self.min_adb),
                "min_contribution": _text(self.min_contribution),
                "min_products": self.min_products, "combine": self.combine}


@dataclass(frozen=True)
class RuleSet:
    """One version of the rules with its tiers, lowest rank first."""

    version: TierRuleVersion
    tiers: list[TierSpec]
    created_by: str | None = None

    @property
    def id(self) -> int:
        return self.version.id

    @property
    def base(self) -> TierSpec:
        return self.tiers[0]

    def tier(self, code: str | None) -> TierSpec | None:
        return next((t for t in self.tiers if t.code == code), None)

    def as_json(self) -> dict[str, Any]:
        v = self.version
        return {"version": v.id, "window_months": v.window_months,
                "grace_months": v.grace_months, "note": v.note,
                "created_at": v.created_at.isoformat() if v.created_at else None,
                "created_by": self.created_by,
                "tiers": [t.as_json() for t in self.tiers]}


@dataclass(frozen=True)
class Proposal:
    """A complete set of rules an admin wants as the next version."""

    tiers: list[TierSpec]
    window_months: int
    grace_months: int
    note: str | None = None


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.0001")))


# -- reading ------------------------------------------------------------------------------

def _rule_sets(session: Session, versions: Iterable[TierRuleVersion]) -> list[RuleSet]:
    versions = list(versions)
    if not versions:
        return []
    ids = [v.id for v in versions]
    tiers: dict[int, list[TierSpec]] = {i: [] for i in ids}
    for tier in session.scalars(select(TierDefinition)
                                .where(TierDefinition.version_id.in_(ids))
                                .order_by(TierDefinition.version_id, TierDefinition.rank)):
        tiers[tier.version_id].append(TierSpec.of(tier))
    creators = {i: name for i, name in session.execute(
        select(User.id, User.username).where(
            User.id.in_({v.created_by for v in versions if v.created_by is not None})))}
    return [RuleSet(v, tiers[v.id], creators.get(v.created_by)) for v in versions]


def current(session: Session) -> RuleSet:
    """The rules in force: the newest version."""
    version = session.scalar(select(TierRuleVersion).order_by(TierRuleVersion.id.desc())
                             .limit(1))
    if version is None:
        raise NotFound("no tier rules: run crm db upgrade")
    return _rule_sets(session, [version])[0]


def version(session: Session, version_id: int) -> RuleSet:
    found = session.get(TierRuleVersion, version_id)
    if found is None:
        raise NotFound(f"no tier rule version {version_id}")
    return _rule_sets(session, [found])[0]


def versions(session: Session, limit: int = 50) -> list[RuleSet]:
    """The newest versions first."""
    return _rule_sets(session, session.scalars(
        select(TierRuleVersion).order_by(TierRuleVersion.id.desc()).limit(limit)))


# -- validating and writing ------------------------------------------------------------------

def amount(raw: Any, field: str, tier: str | None = None, *, optional: bool = False
           ) -> Decimal | None:
    """A non-negative amount in CNY with at most 4 decimals (from a form or JSON)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if optional:
            return None
        raise RulesInvalid("amount_required", f"{field} is required", tier, field=field)
    if isinstance(raw, bool) or isinstance(raw, float):
        raise RulesInvalid("amount", f"{field} must be an amount as a string or integer",
                           tier, field=field)
    try:
        value = Decimal(str(raw).strip().replace(",", ""))
        to_units(value)
    except (InvalidOperation, ValueError):
        raise RulesInvalid("amount", f"{field} must be an amount with at most 4 decimals",
                           tier, field=field) from None
    if not value.is_finite() or value < 0 or value > MAX_AMOUNT:
        raise RulesInvalid("amount_range", f"{field} must be from 0 to {MAX_AMOUNT}", tier,
                           field=field)
    return value


def whole(raw: Any, field: str, tier: str | None = None, *, optional: bool = False
          ) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if optional:
            return None
        raise RulesInvalid("number_required", f"{field} is required", tier, field=field)
    if isinstance(raw, bool) or not isinstance(raw, (int, str)) or \
            (isinstance(raw, str) and not raw.strip().isdigit()):
        raise RulesInvalid("number", f"{field} must be a whole number", tier, field=field)
    return int(raw)


def validate(proposal: Proposal) -> Proposal:
    """The proposal with its names trimmed and tiers ordered by rank; RulesInvalid if it
    breaks a rule."""
    low, high = WINDOW_RANGE
    if not low <= proposal.window_months <= high:
        raise RulesInvalid("window", f"the window must be from {low} to {high} months")
    low, high = GRACE_RANGE
    if not low <= proposal.grace_months <= high:
        raise RulesInvalid("grace", f"the grace period must be from {low} to {high} months")
    note = (proposal.note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise RulesInvalid("note", f"the note may have at most {MAX_NOTE} characters")
    if not proposal.tiers:
        raise RulesInvalid("no_tiers", "at least the base tier is required")
    if len(proposal.tiers) > MAX_TIERS:
        raise RulesInvalid("too_many", f"at most {MAX_TIERS} tiers")
    tiers = []
    for tier in proposal.tiers:
        name_en, name_zh = tier.name_en.strip(), tier.name_zh.strip()
        if not CODE_PATTERN.fullmatch(tier.code):
            raise RulesInvalid("code", "a tier code is 2 to 20 lower-case letters, digits or "
                               "underscores, starting with a letter", tier.code)
        if not name_en or not name_zh or len(name_en) > MAX_NAME or len(name_zh) > MAX_NAME:
            raise RulesInvalid("name", f"tier {tier.code} needs an English and a Chinese name "
                               f"of at most {MAX_NAME} characters", tier.code)
        if tier.combine not in COMBINES:
            raise RulesInvalid("combine", f"combine must be 'all' or 'any' ({tier.code})",
                               tier.code)
        if tier.rank < 0:
            raise RulesInvalid("rank", f"ranks start at 0 ({tier.code})", tier.code)
        if tier.min_contribution is not None and tier.min_contribution <= 0:
            raise RulesInvalid("contribution", f"a minimum contribution must be above 0, or "
                               f"empty ({tier.code})", tier.code)
        if tier.min_products is not None and not 1 <= tier.min_products <= MAX_PRODUCTS:
            raise RulesInvalid("products", f"a minimum product count must be from 1 to "
                               f"{MAX_PRODUCTS}, or empty ({tier.code})", tier.code)
        tiers.append(replace(tier, name_en=name_en, name_zh=name_zh))
    if len({t.code for t in tiers}) != len(tiers):
        raise RulesInvalid("duplicate_code", "tier codes must be unique")
    if len({t.rank for t in tiers}) != len(tiers):
        raise RulesInvalid("duplicate_rank", "tier ranks must be unique")
    tiers.sort(key=lambda t: t.rank)
    base = tiers[0]
    if base.rank != 0 or base.min_adb != 0 or base.min_contribution is not None \
            or base.min_products is not None:
        raise RulesInvalid("base", "exactly one base tier, at rank 0, has no minimum "
                           "(average daily AUM 0 and no other condition)", base.code)
    tiers[0] = replace(base, combine="all")
    for lower, higher in zip(tiers, tiers[1:]):
        if higher.min_adb <= lower.min_adb:
            raise RulesInvalid("increasing", f"the minimum average daily AUM of "
                               f"{higher.code} must be above that of {lower.code}",
                               higher.code, lower=lower.code)
    return Proposal(tiers, proposal.window_months, proposal.grace_months, note)


def held_codes(session: Session) -> set[str]:
    """Tier codes customers hold or are pinned to (a new version must keep them)."""
    return set(session.scalars(union(
        select(CustomerTier.tier_code).distinct(),
        select(CustomerTier.pinned_tier).where(CustomerTier.pinned_tier.is_not(None))
        .distinct())))


def create_version(session: Session, actor: Actor, proposal: Proposal,
                   based_on: int | None = None) -> RuleSet:
    """Write the proposal as the next version (audited). ``based_on``: the version the
    admin edited; Conflict if another admin saved a newer one meanwhile."""
    proposal = validate(proposal)
    now = current(session)
    if based_on is not None and based_on != now.id:
        raise Conflict(N_("the rules changed meanwhile (version %(version)s); review them "
                          "again"), version=now.id)
    if proposal.tiers == now.tiers and proposal.window_months == now.version.window_months \
            and proposal.grace_months == now.version.grace_months:
        raise RulesInvalid("unchanged", "the rules are unchanged")
    dropped = held_codes(session) - {t.code for t in proposal.tiers}
    if dropped:
        raise Conflict(N_("customers hold tier %(tier)s; it cannot be retired"),
                       tier=sorted(dropped)[0])
    new = TierRuleVersion(window_months=proposal.window_months,
                          grace_months=proposal.grace_months, note=proposal.note,
                          created_by=actor.user.id if actor.user else None)
    session.add(new)
    session.flush()
    session.add_all(TierDefinition(version_id=new.id, code=t.code, rank=t.rank,
                                   name_en=t.name_en, name_zh=t.name_zh, min_adb=t.min_adb,
                                   min_contribution=t.min_contribution,
                                   min_products=t.min_products, combine=t.combine)
                    for t in proposal.tiers)
    session.flush()
    record(session, actor, AUDIT_ACTION, version=new.id, based_on=now.id,
           window_months=new.window_months, grace_months=new.grace_months,
           changes=changes(now, proposal))
    return RuleSet(new, proposal.tiers, actor.username)


def changes(before: RuleSet, after: Proposal) -> list[dict[str, Any]]:
    """What differs, field by field (for the audit trail and the version history)."""
    found: list[dict[str, Any]] = []
    for field, old, new in (("window_months", before.version.window_months,
                             after.window_months),
                            ("grace_months", before.version.grace_months, after.grace_months)):
        if old != new:
            found.append({"field": field, "from": old, "to": new})
    old_tiers = {t.code: t.as_json() for t in before.tiers}
    new_tiers = {t.code: t.as_json() for t in after.tiers}
    for code in sorted(old_tiers.keys() | new_tiers.keys()):
        old_tier, new_tier = old_tiers.get(code), new_tiers.get(code)
        if old_tier is None or new_tier is None:
            found.append({"tier": code, "field": "tier", "from": old_tier, "to": new_tier})
            continue
        found.extend({"tier": code, "field": field, "from": old_tier[field],
                      "to": new_tier[field]}
                     for field in new_tier if old_tier[field] != new_tier[field])
    return found


def merge(now: RuleSet, edit: Mapping[str, Any]) -> Proposal:
    """A proposal from a partial edit (the API): fields not given keep the current
    version's values; tiers are matched by code, and a new code adds a tier."""
    if not isinstance(edit, Mapping):
        raise RulesInvalid("body", "the body must be a JSON object")
    unknown = set(edit) - {"window_months", "grace_months", "note", "tiers", "based_on"}
    if unknown:
        raise RulesInvalid("field", f"unknown field {sorted(unknown)[0]!r}")
    window = whole(edit.get("window_months", now.version.window_months), "window_months")
    grace = whole(edit.get("grace_months", now.version.grace_months), "grace_months")
    note = edit.get("note")
    if note is not None and not isinstance(note, str):
        raise RulesInvalid("note", "note must be a string")
    tiers = {t.code: t for t in now.tiers}
    edits = edit.get("tiers", [])
    if not isinstance(edits, list) or not all(isinstance(e, Mapping) for e in edits):
        raise RulesInvalid("body", "tiers must be a list of objects")
    for change in edits:
        code = change.get("code")
        if not isinstance(code, str):
            raise RulesInvalid("code", "every tier needs its code")
        tiers[code] = _merge_tier(tiers.get(code), code, change)
    assert window is not None and grace is not None
    return Proposal(list(tiers.values()), window, grace, note)


TIER_FIELDS = ("rank", "name_en", "name_zh", "min_adb", "min_contribution", "min_products",
               "combine")


def _merge_tier(old: TierSpec | None, code: str, change: Mapping[str, Any]) -> TierSpec:
    unknown = set(change) - {"code", *TIER_FIELDS}
    if unknown:
        raise RulesInvalid("field", f"unknown tier field {sorted(unknown)[0]!r}", code)
    if old is None:
        missing = [f for f in ("rank", "name_en", "name_zh", "min_adb") if f not in change]
        if missing:
            raise RulesInvalid("new_tier", f"a new tier needs {', '.join(missing)}", code)
        old = TierSpec(code, 0, "", "", Decimal(0))
    names = {f: change.get(f, getattr(old, f)) for f in ("name_en", "name_zh", "combine")}
    if not all(isinstance(v, str) for v in names.values()):
        raise RulesInvalid("name", f"names and combine are strings ({code})", code)
    rank = whole(change.get("rank", old.rank), "rank", code)
    min_adb = amount(change.get("min_adb", old.min_adb), "min_adb", code)
    assert rank is not None and min_adb is not None
    return TierSpec(
        code=code, rank=rank, min_adb=min_adb,
        min_contribution=amount(change.get("min_contribution", old.min_contribution),
                                "min_contribution", code, optional=True),
        min_products=whole(change.get("min_products", old.min_products), "min_products",
                           code, optional=True),
        **names)

