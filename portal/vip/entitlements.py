"""Entitlements: what each tier is promised, with a yearly quota and a service level (SLA)
for requests of it, configured by admins; and what a customer may still ask for this year.

Entitlements belong to a tier code, not to a rule version, so they carry over when the tier
rules change; the administration lists the tiers of the current rule version (the highest
``TierRuleVersion.id``). A quota of None is unlimited; a quota of 0 keeps the entitlement on
the books but allows no request this year. A customer without a ``CustomerTier`` row is on
the base tier (rank 0, "standard" by default). Quotas count per calendar year of the bank
(Beijing time): the requests of that entitlement for that customer in that year that were
not rejected."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integration.bank_calendar import bank_date
from integration.db import utcnow
from portal.audit import Actor, record
from portal.errors import N_, Conflict, Forbidden, Invalid, NotFound
from portal.vip.models import (
    CustomerTier,
    ServiceRequest,
    TierDefinition,
    TierEntitlement,
    TierRuleVersion,
)

BASE_TIER = "standard"  # when no rule version names a rank-0 tier
CODE_PATTERN = re.compile(r"[a-z_]{3,30}")
MAX_SLA_HOURS = 2160  # 90 days
AUDIT_ACTION = "entitlements"


class EntitlementInvalid(Invalid):
    """Invalid configuration; ``reason`` names the rule, so pages can word it per locale."""

    def __init__(self, reason: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.params = params


class EntitlementExists(Conflict):
    def __init__(self, tier_code: str, code: str) -> None:
        super().__init__(f"tier {tier_code!r} already has the entitlement {code!r}")
        self.reason = "exists"
        self.params = {"tier": tier_code, "code": code}


# -- tiers of the current rule version ------------------------------------------------

def current_version(session: Session) -> int | None:
    return session.scalar(select(func.max(TierRuleVersion.id)))


def current_tiers(session: Session) -> list[TierDefinition]:
    """The tiers of the current rule version, base tier first."""
    version = current_version(session)
    if version is None:
        return []
    return list(session.scalars(select(TierDefinition)
                                .where(TierDefinition.version_id == version)
                                .order_by(TierDefinition.rank)))


def tier_names(tiers: Iterable[TierDefinition], locale: str) -> dict[str, str]:
    """Tier code → its name in the locale ("zh…" Chinese, anything else English)."""
    chinese = locale.lower().startswith("zh")
    return {t.code: (t.name_zh if chinese else t.name_en) for t in tiers}


def base_tier(tiers: list[TierDefinition]) -> str:
    return tiers[0].code if tiers and tiers[0].rank == 0 else BASE_TIER


def customer_tier(session: Session, customer_id: int,
                  tiers: list[TierDefinition] | None = None) -> str:
    """The customer's current tier code (the base tier when never evaluated)."""
    code = session.scalar(select(CustomerTier.tier_code)
                          .where(CustomerTier.customer_id == customer_id))
    if code is not None:
        return code
    return base_tier(tiers if tiers is not None else current_tiers(session))


def quota_year(moment: datetime) -> int:
    """The calendar year of the bank a moment falls in."""
    return bank_date(moment).year


# -- administration (admins) ---------------------------------------------------------

@dataclass(frozen=True)
class EntitlementSpec:
    tier_code: str
    code: str
    yearly_quota: int | None  # None: unlimited
    sla_hours: int
    active: bool = True


def _require_admin(actor: Actor) -> int:
    """The admin's user id; Forbidden for anyone else."""
    if actor.user is None or actor.user.role != "admin":
        raise Forbidden(N_("entitlements are configured by administrators"))
    return actor.user.id


def _check_terms(yearly_quota: Any, sla_hours: Any) -> None:
    if yearly_quota is not None and (type(yearly_quota) is not int or yearly_quota < 0):
        raise EntitlementInvalid("quota", "the yearly quota must be a whole number of at "
                                          "least 0, or empty for unlimited")
    if type(sla_hours) is not int or not 1 <= sla_hours <= MAX_SLA_HOURS:
        raise EntitlementInvalid("sla", f"the SLA must be a whole number of hours from 1 to "
                                        f"{MAX_SLA_HOURS}", maximum=MAX_SLA_HOURS)


def validate(spec: EntitlementSpec, tier_codes: Iterable[str]) -> EntitlementSpec:
    """The spec with its code trimmed; EntitlementInvalid naming the first broken rule."""
    known = list(tier_codes)
    if spec.tier_code not in known:
        raise EntitlementInvalid("tier", f"unknown tier {spec.tier_code!r}; the tiers are "
                                         f"{', '.join(known)}", tier=spec.tier_code)
    code = (spec.code or "").strip() if isinstance(spec.code, str) else spec.code
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
        raise EntitlementInvalid("code", "the entitlement code must be 3 to 30 lower-case "
                                         "letters a-z or underscores")
    _check_terms(spec.yearly_quota, spec.sla_hours)
    if type(spec.active) is not bool:
        raise EntitlementInvalid("active", "active must be true or false")
    return EntitlementSpec(spec.tier_code, code, spec.yearly_quota, spec.sla_hours,
                           spec.active)


def configured(session: Session) -> list[TierEntitlement]:
    """Every entitlement (active or not) of the current tiers, by tier rank then code."""
    version = current_version(session)
    if version is None:
        return []
    return list(session.scalars(
        select(TierEntitlement)
        .join(TierDefinition, (TierDefinition.code == TierEntitlement.tier_code)
              & (TierDefinition.version_id == version))
        .order_by(TierDefinition.rank, TierEntitlement.code)))


def _terms(entitlement: TierEntitlement) -> dict[str, Any]:
    return {"yearly_quota": entitlement.yearly_quota, "sla_hours": entitlement.sla_hours,
            "active": entitlement.active}


def _audit(session: Session, actor: Actor, change: str, entitlement: TierEntitlement,
           before: dict[str, Any] | None = None) -> None:
    record(session, actor, AUDIT_ACTION, change=change, tier=entitlement.tier_code,
           code=entitlement.code, before=before, after=_terms(entitlement))


def _get(session: Session, entitlement_id: int) -> TierEntitlement:
    entitlement = session.get(TierEntitlement, entitlement_id, with_for_update=True)
    if entitlement is None:
        raise NotFound(N_("no such entitlement"))
    return entitlement


def add_entitlement(session: Session, actor: Actor, spec: EntitlementSpec) -> TierEntitlement:
    """A new entitlement of a current tier (audited); EntitlementExists if the tier has it."""
    admin = _require_admin(actor)
    spec = validate(spec, [t.code for t in current_tiers(session)])
    entitlement = TierEntitlement(tier_code=spec.tier_code, code=spec.code,
                                  yearly_quota=spec.yearly_quota, sla_hours=spec.sla_hours,
                                  active=spec.active, updated_by=admin, updated_at=utcnow())
    try:
        with session.begin_nested():  # the unique constraint decides, not a prior look-up
            session.add(entitlement)
    except IntegrityError:
        raise EntitlementExists(spec.tier_code, spec.code) from None
    _audit(session, actor, "add", entitlement)
    return entitlement


def update_entitlement(session: Session, actor: Actor, entitlement_id: int, *,
                       yearly_quota: int | None, sla_hours: int,
                       active: bool | None = None) -> TierEntitlement:
    """New quota and SLA (and, if given, active) for an entitlement (audited)."""
    admin = _require_admin(actor)
    _check_terms(yearly_quota, sla_hours)
    if active is not None and type(active) is not bool:
        raise EntitlementInvalid("active", "active must be true or false")
    entitlement = _get(session, entitlement_id)
    before = _terms(entitlement)
    entitlement.yearly_quota, entitlement.sla_hours = yearly_quota, sla_hours
    if active is not None:
        entitlement.active = active
    if _terms(entitlement) != before:
        entitlement.updated_by, entitlement.updated_at = admin, utcnow()
        session.flush()
        _audit(session, actor, "update", entitlement, before)
    return entitlement


def set_active(session: Session, actor: Actor, entitlement_id: int,
               active: bool) -> TierEntitlement:
    """Deactivate (no new requests; the history stays) or reactivate (audited)."""
    admin = _require_admin(actor)
    entitlement = _get(session, entitlement_id)
    if entitlement.active != active:
        before = _terms(entitlement)
        entitlement.active = active
        entitlement.updated_by, entitlement.updated_at = admin, utcnow()
        session.flush()
        _audit(session, actor, "reactivate" if active else "deactivate", entitlement, before)
    return entitlement


def put_entitlements(session: Session, actor: Actor,
                     specs: list[EntitlementSpec]) -> list[TierEntitlement]:
    """Create or update each entitlement named by tier and code, all or nothing (the
    caller's transaction rolls back on the first error); others stay as they are."""
    _require_admin(actor)
    known = [t.code for t in current_tiers(session)]
    checked = [validate(spec, known) for spec in specs]
    keys = [(s.tier_code, s.code) for s in checked]
    if len(keys) != len(set(keys)):
        raise EntitlementInvalid("duplicate", "each tier and code may be listed only once")
    existing = {(e.tier_code, e.code): e for e in session.scalars(
        select(TierEntitlement).where(TierEntitlement.tier_code.in_({k[0] for k in keys}))
        .with_for_update())} if keys else {}
    result = []
    for spec in checked:
        found = existing.get((spec.tier_code, spec.code))
        if found is None:
            result.append(add_entitlement(session, actor, spec))
        else:
            result.append(update_entitlement(session, actor, found.id,
                                             yearly_quota=spec.yearly_quota,
                                             sla_hours=spec.sla_hours, active=spec.active))
    return result


# -- what a customer may ask for -----------------------------------------------------

@dataclass(frozen=True)
class CustomerEntitlement:
    code: str
    tier_code: str
    yearly_quota: int | None
    used: int  # this year's requests that were not rejected
    sla_hours: int
    active: bool

    @property
    def remaining(self) -> int | None:
        """None: unlimited."""
        return None if self.yearly_quota is None else max(self.yearly_quota - self.used, 0)

    @property
    def available(self) -> bool:
        return self.active and (self.remaining is None or self.remaining > 0)


def used_this_year() -> Any:
    """SQL condition: the requests that count against a quota (all but rejected ones)."""
    return ServiceRequest.status != "rejected"


def customer_entitlements(session: Session, customer_id: int, year: int,
                          tier_code: str | None = None,
                          include_inactive: bool = False) -> list[CustomerEntitlement]:
    """The entitlements of the customer's tier with this year's use, in one query (the
    customer is in the caller's scope)."""
    tier_code = tier_code or customer_tier(session, customer_id)
    query = customer_entitlements_query(customer_id, year, tier_code, include_inactive)
    return [CustomerEntitlement(e.code, e.tier_code, e.yearly_quota, int(n), e.sla_hours,
                                e.active) for e, n in session.execute(query)]


def customer_entitlements_query(customer_id: int, year: int, tier_code: str,
                                include_inactive: bool = False) -> Any:
    """SQL: the tier's entitlements and how many of each the customer used that year."""
    used = (select(ServiceRequest.entitlement_code.label("code"),
                   func.count().label("used"))
            .where(ServiceRequest.customer_id == customer_id,
                   ServiceRequest.quota_year == year, used_this_year())
            .group_by(ServiceRequest.entitlement_code).subquery())
    query = (select(TierEntitlement, func.coalesce(used.c.used, 0))
             .outerjoin(used, used.c.code == TierEntitlement.code)
             .where(TierEntitlement.tier_code == tier_code)
             .order_by(TierEntitlement.code))
    if not include_inactive:
        query = query.where(TierEntitlement.active.is_(True))
    return query
