"""How often each customer is to be contacted, by AUM band, and who is overdue.

The policy lives in ``contact_policies`` (admins edit it): customers with AUM at or above a
band's ``min_aum`` are to be contacted every ``interval_days``; the highest band a customer
reaches applies; customers below every band have no required contact. AUM is the customer's
refreshed figure (CustomerMetrics), so callers outer-join CustomerMetrics on Customer.
Admins change the policy through the functions at the end, each change audited."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Sequence

from sqlalchemy import and_, case, func, literal, null, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integration.bank_calendar import day_start
from integration.db import utcnow
from integration.models import Customer
from portal.audit import Actor, record
from portal.errors import N_, Conflict, Forbidden, Invalid, NotFound
from portal.models import User
from portal.workbench.models import Contact, ContactPolicy, CustomerMetrics


@dataclass(frozen=True)
class Band:
    min_aum: Decimal
    interval_days: int


def bands(session: Session) -> list[Band]:
    """The policy, highest band first."""
    return [Band(p.min_aum, p.interval_days) for p in session.scalars(
        select(ContactPolicy).order_by(ContactPolicy.min_aum.desc()))]


def interval_for(policy: list[Band], aum: Decimal | None) -> int | None:
    """Days between contacts for a customer with this AUM (None: no required contact)."""
    for band in policy:  # highest first
        if aum is not None and aum >= band.min_aum:
            return band.interval_days
    return None


def last_contact_at() -> Any:
    """SQL: the customer's latest contact (correlated to Customer; NULL if never)."""
    return (select(func.max(Contact.contacted_at)).where(Contact.customer_id == Customer.id)
            .correlate(Customer).scalar_subquery())


def required_interval(policy: list[Band]) -> Any:
    """SQL: days between contacts for the row's CustomerMetrics.aum (NULL: none)."""
    if not policy:
        return null()
    return case(*[(CustomerMetrics.aum >= band.min_aum, literal(band.interval_days))
                  for band in policy], else_=null())


def overdue_for_contact(policy: list[Band], as_of: date, last_contact: Any = None) -> Any:
    """SQL: the customer falls under a band and was not contacted within its interval
    before ``as_of`` (never contacted counts as overdue): a customer last contacted on day
    D (the bank's) is due on D + interval and overdue from the day after."""
    last_contact = last_contact if last_contact is not None else last_contact_at()
    if not policy:
        return literal(False)
    conditions = []
    previous: Decimal | None = None
    for band in policy:  # highest first: each band is [min_aum, previous band's min_aum)
        in_band = CustomerMetrics.aum >= band.min_aum
        if previous is not None:
            in_band = and_(in_band, CustomerMetrics.aum < previous)
        due_after = day_start(as_of - timedelta(days=band.interval_days))
        conditions.append(and_(in_band, or_(last_contact.is_(None), last_contact < due_after)))
        previous = band.min_aum
    return or_(*conditions)


# -- administration (admins only; every change audited) ---------------------------------

MAX_INTERVAL_DAYS = 3650
MAX_MIN_AUM = Decimal("1000000000000")  # RMB 1 trillion: far above any customer
AUDIT_ACTION = "contact_policy"


class PolicyInvalid(Invalid):
    """Invalid policy input; ``reason`` names the rule, so pages can word it per locale."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class DuplicateBand(Conflict):
    def __init__(self, min_aum: Decimal) -> None:
        super().__init__(f"a band with minimum AUM {min_aum:.2f} already exists")
        self.reason = "duplicate"


@dataclass(frozen=True)
class PolicyRow:
    """A band as the policy pages and the API show it."""

    id: int
    min_aum: Decimal
    interval_days: int
    updated_by: str | None  # username
    updated_at: datetime


def policy_rows(session: Session) -> list[PolicyRow]:
    """The bands with who changed each last, highest band first."""
    rows = session.execute(
        select(ContactPolicy, User.username)
        .outerjoin(User, User.id == ContactPolicy.updated_by)
        .order_by(ContactPolicy.min_aum.desc()))
    return [PolicyRow(p.id, p.min_aum, p.interval_days, username, p.updated_at)
            for p, username in rows]


def check_min_aum(value: Decimal) -> Decimal:
    """A band's threshold: RMB, at least 0, at most 2 decimal places."""
    if not value.is_finite() or value < 0:
        raise PolicyInvalid("min_aum", "the minimum AUM must be a number of at least 0")
    if value > MAX_MIN_AUM:
        raise PolicyInvalid("min_aum", f"the minimum AUM may be at most {MAX_MIN_AUM}")
    if value != value.quantize(Decimal("0.01")):
        raise PolicyInvalid("min_aum", "the minimum AUM may have at most 2 decimal places")
    return value.quantize(Decimal("0.01"))


def check_interval(days: int) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not \
            1 <= days <= MAX_INTERVAL_DAYS:
        raise PolicyInvalid("interval_days",
                            f"the interval must be a whole number of days from 1 to "
                            f"{MAX_INTERVAL_DAYS}")
    return days


def require_admin(actor: Actor) -> User:
    if actor.user is None or actor.user.role != "admin":
        raise Forbidden(N_("only administrators change the contact policy"))
    return actor.user


def _band_detail(min_aum: Decimal, interval_days: int) -> dict[str, Any]:
    return {"min_aum": f"{min_aum:.2f}", "interval_days": interval_days}


def add_band(session: Session, actor: Actor, min_aum: Decimal, interval_days: int
             ) -> ContactPolicy:
    """A new band; Conflict when one with the same minimum AUM exists."""
    user = require_admin(actor)
    min_aum, interval_days = check_min_aum(min_aum), check_interval(interval_days)
    band = ContactPolicy(min_aum=min_aum, interval_days=interval_days, updated_by=user.id,
                         updated_at=utcnow())
    try:
        with session.begin_nested():  # the unique constraint decides, not a prior read
            session.add(band)
            session.flush()
    except IntegrityError:
        raise DuplicateBand(min_aum) from None
    record(session, actor, AUDIT_ACTION, change="add", **_band_detail(min_aum, interval_days))
    return band


def _band(session: Session, band_id: int) -> ContactPolicy:
    band = session.get(ContactPolicy, band_id)
    if band is None:
        raise NotFound(N_("no such band"))
    return band


def change_interval(session: Session, actor: Actor, band_id: int, interval_days: int
                    ) -> ContactPolicy:
    """Change how often the band's customers are to be contacted."""
    user = require_admin(actor)
    interval_days = check_interval(interval_days)
    band = _band(session, band_id)
    before = band.interval_days
    band.interval_days, band.updated_by, band.updated_at = interval_days, user.id, utcnow()
    session.flush()
    record(session, actor, AUDIT_ACTION, change="interval",
           **_band_detail(band.min_aum, interval_days), previous_interval_days=before)
    return band


def remove_band(session: Session, actor: Actor, band_id: int) -> None:
    require_admin(actor)
    band = _band(session, band_id)
    detail = _band_detail(band.min_aum, band.interval_days)
    session.delete(band)
    session.flush()
    record(session, actor, AUDIT_ACTION, change="remove", **detail)


def replace_bands(session: Session, actor: Actor, wanted: Sequence[Band]) -> list[Band]:
    """The policy becomes exactly ``wanted`` (bands kept where their minimum AUM is
    unchanged); one audit event lists the policy before and after."""
    user = require_admin(actor)
    checked = [Band(check_min_aum(b.min_aum), check_interval(b.interval_days)) for b in wanted]
    if len({b.min_aum for b in checked}) != len(checked):
        raise PolicyInvalid("duplicate", "each minimum AUM may appear only once")
    before = bands(session)
    intervals = {b.min_aum: b.interval_days for b in checked}
    now = utcnow()
    existing = list(session.scalars(select(ContactPolicy)))
    for band in existing:
        if band.min_aum not in intervals:
            session.delete(band)
        elif band.interval_days != intervals[band.min_aum]:
            band.interval_days, band.updated_by, band.updated_at = \
                intervals[band.min_aum], user.id, now
    session.flush()
    kept = {band.min_aum for band in existing}
    session.add_all([ContactPolicy(min_aum=b.min_aum, interval_days=b.interval_days,
                                   updated_by=user.id, updated_at=now)
                     for b in checked if b.min_aum not in kept])
    session.flush()
    after = bands(session)
    record(session, actor, AUDIT_ACTION, change="replace",
           before=[_band_detail(b.min_aum, b.interval_days) for b in before],
           after=[_band_detail(b.min_aum, b.interval_days) for b in after])
    return after
