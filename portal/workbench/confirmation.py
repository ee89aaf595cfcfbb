"""Confirming won opportunities against the feeds.

A won opportunity is *confirmed* when the feeds show the customer took the product after
the opportunity began — a product the customer already had does not confirm it by itself:

- an open account (status not CLOSED) of the product whose ``open_date`` is on or after
  the day the opportunity was created (``created_on``, the bank's date); accounts the feed
  sends without an open date confirm nothing, since nothing tells when they were opened;
- or more units of the product on the customer's open holdings than the customer held
  when the opportunity was created (``baseline_units``, stored then; 0 when none): a
  holding bought after the opportunity began — before or after it was marked won — or a
  position topped up. Units, not market value: a rise in price changes the value of what
  the customer already held and confirms nothing. The amount bought is not compared with
  the opportunity's amount, which is the RM's estimate.

The check is one UPDATE … WHERE EXISTS over every won, unconfirmed opportunity (the nightly
job, after the feeds) or over the one just marked won (right after the move). It sets
``confirmed_at`` and ``confirmed_by`` — what confirmed it, "account CBS 6222…" or
"holding CBS H1" — and notifies the owner (notification kind "opportunity_confirmed",
params opportunity_id, customer and product names, product_code, amount, evidence).
Confirmed opportunities are never looked at again, so running it twice changes nothing."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Iterable

from sqlalchemy import and_, exists, func, literal, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import Update

from integration.db import utcnow
from integration.models import Account, Customer, Holding, Product
from portal.customers.services import round_money
from portal.workbench.models import Opportunity
from portal.workbench.notifications import notify, users_by_staff

CHUNK = 1000  # Oracle's limit on IN lists


def _new_account() -> Any:
    return and_(Account.customer_id == Opportunity.customer_id,
                Account.product_code == Opportunity.product_code,
                Account.status != "CLOSED",
                Account.open_date.is_not(None),
                Account.open_date >= Opportunity.created_on)


def _holding_of_product() -> Any:
    return and_(Holding.customer_id == Opportunity.customer_id,
                Holding.product_code == Opportunity.product_code,
                Holding.closed.is_(False))


def evidence_condition() -> Any:
    """SQL (correlated to Opportunity): the feeds show the product was taken."""
    units_now = (select(func.sum(Holding.units)).where(_holding_of_product())
                 .correlate(Opportunity).scalar_subquery())
    return or_(exists().where(_new_account()).correlate(Opportunity),
               units_now > Opportunity.baseline_units)


def evidence_label() -> Any:
    """SQL (correlated to Opportunity): which account or holding shows it."""
    account = (select(func.min(literal("account ") + Account.source + literal(" ")
                               + Account.source_id))
               .where(_new_account()).correlate(Opportunity).scalar_subquery())
    holding = (select(func.max(literal("holding ") + Holding.source + literal(" ")
                               + Holding.source_id))
               .where(_holding_of_product()).correlate(Opportunity).scalar_subquery())
    return func.coalesce(account, holding)


def confirmation(stamp: datetime) -> Update:
    """The UPDATE … WHERE EXISTS that confirms every won opportunity the feeds show."""
    return (update(Opportunity)
            .where(Opportunity.stage == "won", Opportunity.confirmed_at.is_(None),
                   evidence_condition())
            .values(confirmed_at=stamp, confirmed_by=evidence_label()))


def confirm_wins(session: Session, business_date: date,
                 opportunity_ids: Iterable[int] | None = None) -> dict[str, Any]:
    """Confirm every won, unconfirmed opportunity the feeds now show (or only those in
    ``opportunity_ids``) and notify their owners; returns how many were confirmed."""
    stamp = utcnow()
    statement = confirmation(stamp)
    options = {"synchronize_session": False}
    if opportunity_ids is None:
        session.execute(statement, execution_options=options)
    else:
        ids = sorted(set(opportunity_ids))
        for start in range(0, len(ids), CHUNK):
            session.execute(statement.where(Opportunity.id.in_(ids[start:start + CHUNK])),
                            execution_options=options)
    # The rows this run confirmed carry its timestamp.
    confirmed = session.execute(
        select(Opportunity.id, Opportunity.owner_staff_id, Opportunity.customer_id,
               Customer.name.label("customer"), Opportunity.product_code,
               Product.name.label("product"), Opportunity.amount, Opportunity.confirmed_by)
        .join(Customer, Customer.id == Opportunity.customer_id)
        .join(Product, Product.code == Opportunity.product_code)
        .where(Opportunity.confirmed_at == stamp)).all()
    _notify_owners(session, confirmed)
    return {"confirmed": len(confirmed), "business_date": business_date.isoformat()}


def _notify_owners(session: Session, confirmed: list[Any]) -> None:
    """An "opportunity_confirmed" notification to the owner of each confirmed
    opportunity (the owners are looked up once)."""
    if not confirmed:
        return
    users = users_by_staff(session, {row.owner_staff_id for row in confirmed})
    for row in confirmed:
        if row.owner_staff_id in users:
            notify(session, [users[row.owner_staff_id]], "opportunity_confirmed",
                   {"opportunity_id": row.id, "customer": row.customer,
                    "product": row.product, "product_code": row.product_code,
                    "amount": str(round_money(row.amount)), "evidence": row.confirmed_by},
                   customer_id=row.customer_id)
