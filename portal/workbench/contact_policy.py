"""How often each customer is to be contacted, by AUM band, and who is overdue.

The policy lives in ``contact_policies`` (admins edit it): customers with AUM at or above a
band's ``min_aum`` are to be contacted every ``interval_days``; the highest band a customer
reaches applies; customers below every band have no required contact. AUM is the customer's
refreshed figure (CustomerMetrics), so callers outer-join CustomerMetrics on Customer."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, literal, null, or_, select
from sqlalchemy.orm import Session

from integration.models import Customer
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


def start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def overdue_for_contact(policy: list[Band], as_of: date, last_contact: Any = None) -> Any:
    """SQL: the customer falls under a band and was not contacted within its interval
    before ``as_of`` (never contacted counts as overdue)."""
    last_contact = last_contact if last_contact is not None else last_contact_at()
    if not policy:
        return literal(False)
    conditions = []
    previous: Decimal | None = None
    for band in policy:  # highest first: each band is [min_aum, previous band's min_aum)
        in_band = CustomerMetrics.aum >= band.min_aum
        if previous is not None:
            in_band = and_(in_band, CustomerMetrics.aum < previous)
        due_after = start_of(as_of - timedelta(days=band.interval_days))
        conditions.append(and_(in_band, or_(last_contact.is_(None), last_contact < due_after)))
        previous = band.min_aum
    return or_(*conditions)
