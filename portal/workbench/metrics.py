"""Each customer's AUM, liabilities in CNY and product count, recomputed set-based after
the feeds.

The same rule as the 360 view (portal.customers.services): AUM is the balance of open
deposit accounts plus the market value of open holdings; liabilities are the outstanding
balances of open loans and cards; every amount converted at its currency's latest rate on
or before the business date. Products are the distinct products of the open accounts and
holdings."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import case, delete, func, insert, literal, select, union_all
from sqlalchemy.orm import Session

from integration.db import Decimal4, times_rate, utcnow
from integration.fx import rates_as_of
from integration.models import Account, Customer, Holding
from portal.customers.services import DEPOSIT_TYPES, LIABILITY_TYPES
from portal.scope import join_effective_manager
from portal.workbench.follow import follow_customers
from portal.workbench.models import CustomerMetrics

ZERO = Decimal(0)


def _positions(as_of: date, dialect: str) -> Any:
    """(customer_id, product_code, aum, liabilities) per open account and holding, in CNY."""
    rates = rates_as_of(as_of)
    account_cny = times_rate(Account.balance, rates.c.to_cny, dialect)
    zero = literal(ZERO, Decimal4())
    accounts = (
        select(Account.customer_id.label("customer_id"),
               Account.product_code.label("product_code"),
               case((Account.type.in_(DEPOSIT_TYPES), account_cny), else_=zero).label("aum"),
               case((Account.type.in_(LIABILITY_TYPES), account_cny), else_=zero)
               .label("liabilities"))
        # Outer: a position without a rate yet adds no amount, but its product counts.
        .outerjoin(rates, rates.c.currency == Account.currency)
        .where(Account.status != "CLOSED"))
    holdings = (
        select(Holding.customer_id.label("customer_id"),
               Holding.product_code.label("product_code"),
               times_rate(Holding.market_value, rates.c.to_cny, dialect).label("aum"),
               zero.label("liabilities"))
        .outerjoin(rates, rates.c.currency == Holding.currency)
        .where(Holding.closed.is_(False)))
    return union_all(accounts, holdings).subquery("positions")


def refresh_metrics(session: Session, as_of: date) -> dict[str, Any]:
    """Recompute every customer's row in one statement (customers without positions get
    zeros, so the book lists them too), after the work of the customers the feeds moved has
    followed them (the rows replaced say where each customer was)."""
    followed = follow_customers(session)
    dialect = session.get_bind().dialect.name
    positions = _positions(as_of, dialect)
    totals = (select(positions.c.customer_id,
                     func.sum(positions.c.aum).label("aum"),
                     func.sum(positions.c.liabilities).label("liabilities"),
                     func.count(positions.c.product_code.distinct()).label("products"))
              .group_by(positions.c.customer_id).subquery("totals"))
    zero = literal(ZERO, Decimal4())
    rows, manager = join_effective_manager(
        select(Customer.id,
               func.coalesce(totals.c.aum, zero),
               func.coalesce(totals.c.liabilities, zero),
               func.coalesce(totals.c.products, literal(0)),
               literal(as_of), literal(utcnow()))
        .outerjoin(totals, totals.c.customer_id == Customer.id))
    session.execute(delete(CustomerMetrics))
    session.execute(insert(CustomerMetrics).from_select(
        ["customer_id", "aum", "liabilities", "products", "as_of", "refreshed_at",
         "manager_staff_id",
         "branch_code"], rows.add_columns(manager, Customer.branch_code)))
    count = session.scalar(select(func.count()).select_from(CustomerMetrics))
    return {"customers": count, "as_of": as_of.isoformat(), "followed": followed}
