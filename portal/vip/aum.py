"""Average daily AUM and contribution, kept as one row per customer per month.

``CustomerMonthAum`` holds, for each customer and month, the sum over the month's days of the
day's AUM in CNY (``aum_day_sum``), how many days that sum covers, the last day added and
its AUM, the month's contribution and the products held on the last day added. The average daily AUM (ADB) over a window of months
is Σ aum_day_sum / Σ days: exact whatever the months' lengths, and a million customers over
years stay a million rows a month.

Conventions (documented for the people who read the figures):

- **A day's AUM** is ``CustomerMetrics.aum`` for the business date (open deposit accounts
  plus open holdings, in CNY), refreshed by the nightly job before this one.
- **Days without a feed** (weekends, holidays, a missed night) between the last day added
  and D count at the last known AUM: the balance of a day stays until the next feed says
  otherwise, as banks count average balances. The first D of a new month completes the
  previous month's rows (the last feed of October on Friday the 30th: Saturday the 31st
  counts at Friday's AUM) and starts the month's own rows, carrying the previous month's
  last AUM into the days of the month before D; a customer without a previous month starts
  at D.
- **Adding D is idempotent**: a D already added, or older than a row's last day (or older
  than the newest month kept), adds nothing.
- **Contribution** of a month = fees charged net of refunds (FEE transactions booked in the
  period the day covers: a fee is a debit, a refund a credit; in CNY) + an interest margin
  estimate — the bank's net interest margin on the balances, as banks compute a
  customer's contribution without transfer pricing per product: deposit balances ×
  ``DEPOSIT_MARGIN`` / 365 and loan balances × ``LOAN_MARGIN`` / 365 (config/settings.py)
  per day, on the balances of the day added, for every day it covers (D and the unfed days
  before it in the month). Cards are not loans here.
- **Products**: the distinct products of the customer's open accounts and holdings on the
  last day added (``CustomerMetrics.products``); the backfill counts today's on every
  month.
- **Backfill**: the feeds bring one balance per account, so past daily deposit balances are
  derived from the transaction history: the balance at the end of day d = the current
  balance − Σ transactions booked after d. Holdings count at their current valuation and
  loans at their current balance on every past day; amounts at the business date's FX
  rates. See ``backfill``.

Every statement is set-based: one UPDATE and one INSERT … SELECT per day over all
customers, never a loop over customers."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Mapping

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    Numeric,
    and_,
    case,
    cast,
    delete,
    exists,
    extract,
    false,
    func,
    insert,
    literal,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import Update

from integration.bank_calendar import add_months, month_end, month_start
from integration.db import Decimal4, times_rate
from integration.fx import rates_as_of
from integration.models import Account, Customer, Holding, Transaction
from portal.customers.services import DEPOSIT_TYPES
from portal.vip.models import CustomerMonthAum
from portal.workbench.models import CustomerMetrics

LOAN_TYPES = ("LOAN",)
MAX_BACKFILL_MONTHS = 24
DAYS_PER_YEAR = 365
# Dialects whose UPDATE may join another table (UPDATE … FROM); others get correlated
# subqueries, which every SQL database runs.
UPDATE_FROM_DIALECTS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Margins:
    """Annual interest margins as fractions (0.015 is 1.5%)."""

    deposit: Decimal = Decimal("0.015")
    loan: Decimal = Decimal("0.02")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Margins:
        return cls(Decimal(config.get("DEPOSIT_MARGIN", cls.deposit)),
                   Decimal(config.get("LOAN_MARGIN", cls.loan)))


# -- dates -----------------------------------------------------------------------------

# -- SQL helpers shared with the evaluation ---------------------------------------------

def money_times(amount: Any, count: Any, dialect: str) -> Any:
    """SQL: a Decimal4 amount × a whole number, as a Decimal4 (exact on every backend)."""
    if dialect == "sqlite":
        return type_coerce(type_coerce(amount, BigInteger()) * count, Decimal4())
    return type_coerce(type_coerce(amount, Numeric(20, 4)) * count, Decimal4())


def money_divided(amount: Any, count: Any, dialect: str) -> Any:
    """SQL: a Decimal4 amount ÷ a whole number, truncated to 4 decimal places."""
    if dialect == "sqlite":  # ten-thousandths: integer division truncates the same way
        return type_coerce(type_coerce(amount, BigInteger()) // type_coerce(count, Integer()),
                           Decimal4())
    quotient = type_coerce(amount, Numeric(20, 4)) / type_coerce(count, Numeric(20, 4))
    return type_coerce(func.trunc(quotient, 4), Decimal4())


def day_of_month(column: Any) -> Any:
    return cast(extract("day", column), Integer())


def update_from(table: Any, source: Any, on: Any, values: dict[Any, Any], dialect: str,
                *where: Any) -> Update:
    """UPDATE ``table`` SET ``values`` from the ``source`` row matching ``on``: a join
    (UPDATE … FROM) where the database has one, correlated subqueries elsewhere (Oracle)."""
    if dialect in UPDATE_FROM_DIALECTS:
        return update(table).where(on, *where).values(values)
    # The conditions may speak of the source too: they go into the correlated EXISTS.
    matched = select(literal(1)).select_from(source).where(on, *where).exists()
    return update(table).where(matched).values(
        {column: select(value).select_from(source).where(on).scalar_subquery()
         for column, value in values.items()})


def absent(key: Any, outer_key: Any, name: str, dialect: str, *where: Any) -> Any:
    """SQL: no row of ``key``'s table (the one being inserted into) matches ``outer_key``.
    On PostgreSQL, against a materialised snapshot of the keys: probing the table itself,
    a planner that believes it empty (a fresh install) scans its growing index once per
    inserted row, which is quadratic."""
    if dialect == "postgresql":
        keys = (select(key.label("existing_id")).where(*where).cte(name)
                .prefix_with("MATERIALIZED"))
        return ~exists().where(keys.c.existing_id == outer_key)
    return ~exists().where(key == outer_key, *where)


def _margin(deposits: Any, loans: Any, days: Any, margins: Margins, dialect: str) -> Any:
    """SQL: the interest margin earned on ``deposits`` and ``loans`` (CNY) over ``days``
    days, rounded to ten-thousandths of a yuan."""
    dep_num, dep_den = margins.deposit.as_integer_ratio()
    loan_num, loan_den = margins.loan.as_integer_ratio()
    denominator = dep_den * loan_den * DAYS_PER_YEAR
    if dialect == "sqlite":  # integer ten-thousandths: scale and round in integers
        numerator = (type_coerce(deposits, BigInteger()) * literal(dep_num * loan_den, BigInteger())
                     + type_coerce(loans, BigInteger()) * literal(loan_num * dep_den, BigInteger()))
        return type_coerce((numerator * days + literal(denominator // 2, BigInteger()))
                           // literal(denominator, BigInteger()), Decimal4())
    numerator = (type_coerce(deposits, Numeric(20, 4)) * literal(dep_num * loan_den, Integer())
                 + type_coerce(loans, Numeric(20, 4)) * literal(loan_num * dep_den, Integer()))
    return type_coerce(numerator * days / literal(denominator, Numeric(20, 0)), Decimal4())


def _zero() -> Any:
    return literal(Decimal(0), Decimal4())


def _positions(rates: Any, dialect: str) -> Any:
    """(customer_id, deposits, loans) in CNY over open accounts."""
    cny = times_rate(Account.balance, rates.c.to_cny, dialect)
    return (select(Account.customer_id.label("customer_id"),
                   func.sum(case((Account.type.in_(DEPOSIT_TYPES), cny), else_=_zero()))
                   .label("deposits"),
                   func.sum(case((Account.type.in_(LOAN_TYPES), cny), else_=_zero()))
                   .label("loans"))
            .join(rates, rates.c.currency == Account.currency)
            .where(Account.status != "CLOSED")
            .group_by(Account.customer_id).subquery("positions"))


def _fee_charged(rates: Any, dialect: str) -> Any:
    """SQL: what a FEE transaction earned the bank, in CNY: a fee is a debit (negative), a
    refund of one a credit, which gives the fee back."""
    return type_coerce(-times_rate(Transaction.amount, rates.c.to_cny, dialect), Decimal4())


def _products() -> Any:
    """(customer_id, products): distinct products of the open accounts and holdings."""
    held = union_all(
        select(Account.customer_id.label("customer_id"),
               Account.product_code.label("product_code")).where(Account.status != "CLOSED"),
        select(Holding.customer_id, Holding.product_code).where(Holding.closed == false())
    ).subquery("held")
    return (select(held.c.customer_id,
                   func.count(held.c.product_code.distinct()).label("products"))
            .group_by(held.c.customer_id).subquery("products"))


def _fees(rates: Any, after: date, until: date, dialect: str) -> Any:
    """(customer_id, fees): FEE transactions booked in (after, until], net, in CNY."""
    cny = _fee_charged(rates, dialect)
    return (select(Account.customer_id.label("customer_id"), func.sum(cny).label("fees"))
            .select_from(Transaction)
            .join(Account, Account.id == Transaction.account_id)
            .join(rates, rates.c.currency == Transaction.currency)
            .where(Transaction.type == "FEE", Transaction.closed == false(),
                   Transaction.booking_date > after, Transaction.booking_date <= until)
            .group_by(Account.customer_id).subquery("fees"))


def _day_figures(business_date: date, fees_after: date, dialect: str,
                 fees_until: date | None = None) -> Any:
    """(customer_id, aum, products, deposits, loans, fees) of every customer with metrics for
    the business date; fees booked in (fees_after, fees_until or the business date]."""
    rates = rates_as_of(business_date)
    positions = _positions(rates, dialect)
    fees = _fees(rates, fees_after, fees_until or business_date, dialect)
    return (select(CustomerMetrics.customer_id.label("customer_id"),
                   CustomerMetrics.aum.label("aum"),
                   CustomerMetrics.products.label("products"),
                   func.coalesce(positions.c.deposits, _zero()).label("deposits"),
                   func.coalesce(positions.c.loans, _zero()).label("loans"),
                   func.coalesce(fees.c.fees, _zero()).label("fees"))
            .outerjoin(positions, positions.c.customer_id == CustomerMetrics.customer_id)
            .outerjoin(fees, fees.c.customer_id == CustomerMetrics.customer_id)
            .where(CustomerMetrics.as_of == business_date)
            .subquery("day"))


# -- the nightly addition ----------------------------------------------------------------

def add_day(session: Session, business_date: date,
            margins: Margins = Margins()) -> dict[str, Any]:
    """Add the business date's AUM (from CustomerMetrics) to every customer's row of its
    month: an UPDATE of the rows that exist, an INSERT … SELECT of the others."""
    dialect = session.get_bind().dialect.name
    month = month_start(business_date)
    newest = session.scalar(select(func.max(CustomerMonthAum.month)))
    if newest is not None and newest > month:
        return {"date": business_date.isoformat(), "updated": 0, "inserted": 0,
                "skipped": "older than the newest month kept"}
    row = CustomerMonthAum.__table__.c
    # Fees of the period since the previous night's run (every customer's row moves
    # together: the metrics cover every customer).
    last_run = session.scalar(select(func.max(row.last_date))
                              .where(row.month == month, row.last_date < business_date))
    day = _day_figures(business_date, last_run or month - timedelta(days=1), dialect)
    gap = literal(business_date.day, Integer()) - day_of_month(row.last_date)  # days covered
    updated = session.execute(update_from(
        CustomerMonthAum.__table__, day, day.c.customer_id == row.customer_id,
        {row.aum_day_sum: row.aum_day_sum + money_times(row.last_aum, gap - 1, dialect)
         + day.c.aum,
         row.days: row.days + gap,
         row.last_date: literal(business_date, Date()),
         row.last_aum: day.c.aum,
         row.products: day.c.products,
         row.contribution: row.contribution + day.c.fees
         + _margin(day.c.deposits, day.c.loans, gap, margins, dialect)},
        dialect, row.month == month, row.last_date < business_date)).rowcount

    completed = _complete_previous_month(session, business_date, margins, dialect)
    before = _count(session, row.month == month)
    new = _day_figures(business_date, month - timedelta(days=1), dialect)
    earlier = CustomerMonthAum.__table__.alias("previous_month")
    previous_month = earlier.c
    carried = case((previous_month.customer_id.is_not(None),
                    literal(business_date.day - 1, Integer())), else_=literal(0, Integer()))
    session.execute(insert(CustomerMonthAum.__table__).from_select(
        ["customer_id", "month", "aum_day_sum", "days", "last_date", "last_aum", "contribution",
         "products"],
        select(new.c.customer_id, literal(month, Date()),
               func.coalesce(money_times(previous_month.last_aum, carried, dialect), _zero())
               + new.c.aum,
               carried + 1, literal(business_date, Date()), new.c.aum,
               new.c.fees + _margin(new.c.deposits, new.c.loans, carried + 1, margins, dialect),
               new.c.products)
        .select_from(new).outerjoin(earlier,
                   and_(previous_month.customer_id == new.c.customer_id,
                        previous_month.month == add_months(month, -1)))
        .where(absent(row.customer_id, new.c.customer_id, "kept", dialect,
                      row.month >= month))))
    # (INSERT … SELECT has no reliable row count on every driver)
    inserted = _count(session, row.month == month) - before
    result = {"date": business_date.isoformat(), "updated": updated, "inserted": inserted}
    if completed:
        result["previous_month_completed"] = completed
    return result


def _complete_previous_month(session: Session, business_date: date, margins: Margins,
                             dialect: str) -> int:
    """The first day added in a month completes the previous month's rows: the days after
    their last day count at its AUM, with the margin on the business date's balances (as
    the carried days at the start of the new month) and the fees booked on those days.
    Idempotent: a completed row's last day is the month's last."""
    previous = add_months(month_start(business_date), -1)
    last = month_end(previous)
    row = CustomerMonthAum.__table__.c
    last_run = session.scalar(select(func.max(row.last_date))
                              .where(row.month == previous, row.last_date < last))
    if last_run is None:
        return 0
    day = _day_figures(business_date, last_run, dialect, fees_until=last)
    gap = literal(last.day, Integer()) - day_of_month(row.last_date)
    return session.execute(update_from(
        CustomerMonthAum.__table__, day, day.c.customer_id == row.customer_id,
        {row.aum_day_sum: row.aum_day_sum + money_times(row.last_aum, gap, dialect),
         row.days: row.days + gap,
         row.last_date: literal(last, Date()),
         row.contribution: row.contribution + day.c.fees
         + _margin(day.c.deposits, day.c.loans, gap, margins, dialect)},
        dialect, row.month == previous, row.last_date < last)).rowcount


def _count(session: Session, *where: Any) -> int:
    return session.scalar(select(func.count()).select_from(CustomerMonthAum).where(*where)) or 0


# -- backfill from the transaction history --------------------------------------------------

def backfill(session: Session, business_date: date, months: int,
             margins: Margins = Margins()) -> dict[str, Any]:
    """Rebuild the rows of the ``months`` complete months before the business date's month
    and of that month up to the business date, for every customer, from today's balances
    and the transaction history (replacing the rows of those months).

    For a month [a, b] of n days, Σ_d balance(d) = n × B − Σ_t amount_t × #{d in [a, b]:
    d < booked_t}: a transaction booked after b counts n days, one booked on day k of the
    month counts k − 1 days, so one GROUP BY over the transactions gives every month's sum
    without a row per day."""
    if not 1 <= months <= MAX_BACKFILL_MONTHS:
        raise ValueError(f"months must be from 1 to {MAX_BACKFILL_MONTHS}")
    dialect = session.get_bind().dialect.name
    current = month_start(business_date)
    spans = [(add_months(current, -k), month_end(add_months(current, -k)) if k else business_date)
             for k in range(months, -1, -1)]
    periods = union_all(*[
        select(literal(start, Date()).label("month"), literal(end, Date()).label("last_date"),
               literal((end - start).days + 1, Integer()).label("days"))
        for start, end in spans]).subquery("periods")
    rates = rates_as_of(business_date)
    positions = _positions(rates, dialect)
    holdings = (select(Holding.customer_id.label("customer_id"),
                       func.sum(times_rate(Holding.market_value, rates.c.to_cny, dialect))
                       .label("value"))
                .join(rates, rates.c.currency == Holding.currency)
                .where(Holding.closed == false())
                .group_by(Holding.customer_id).subquery("holdings"))

    amount_cny = times_rate(Transaction.amount, rates.c.to_cny, dialect)
    later = Transaction.booking_date > periods.c.last_date
    counted_days = case((later, periods.c.days),
                        else_=day_of_month(Transaction.booking_date) - 1)
    moved = (select(Account.customer_id.label("customer_id"), periods.c.month.label("month"),
                    func.sum(money_times(amount_cny, counted_days, dialect)).label("weighted"),
                    func.sum(case((later, amount_cny), else_=_zero())).label("moved_after"))
             .select_from(Transaction)
             .join(Account, Account.id == Transaction.account_id)
             .join(rates, rates.c.currency == Account.currency)
             .join(periods, Transaction.booking_date > periods.c.month)
             .where(Account.type.in_(DEPOSIT_TYPES), Account.status != "CLOSED",
                    Transaction.closed == false(), Transaction.booking_date > spans[0][0])
             .group_by(Account.customer_id, periods.c.month).subquery("moved"))
    fee_cny = _fee_charged(rates, dialect)
    fees = (select(Account.customer_id.label("customer_id"), periods.c.month.label("month"),
                   func.sum(fee_cny).label("fees"))
            .select_from(Transaction)
            .join(Account, Account.id == Transaction.account_id)
            .join(rates, rates.c.currency == Transaction.currency)
            .join(periods, and_(Transaction.booking_date >= periods.c.month,
                                Transaction.booking_date <= periods.c.last_date))
            .where(Transaction.type == "FEE", Transaction.closed == false())
            .group_by(Account.customer_id, periods.c.month).subquery("month_fees"))

    products = _products()
    balance = func.coalesce(positions.c.deposits, _zero())
    held = func.coalesce(holdings.c.value, _zero())
    deposit_days = (money_times(balance, periods.c.days, dialect)
                    - func.coalesce(moved.c.weighted, _zero()))
    rows = (select(Customer.id, periods.c.month,
                   deposit_days + money_times(held, periods.c.days, dialect),
                   periods.c.days, periods.c.last_date,
                   balance - func.coalesce(moved.c.moved_after, _zero()) + held,
                   func.coalesce(fees.c.fees, _zero())
                   + _margin(deposit_days,
                             money_times(func.coalesce(positions.c.loans, _zero()),
                                         periods.c.days, dialect),
                             literal(1, Integer()), margins, dialect),
                   func.coalesce(products.c.products, literal(0, Integer())))
            .select_from(Customer).join(periods, periods.c.days > 0)  # every period
            .outerjoin(positions, positions.c.customer_id == Customer.id)
            .outerjoin(holdings, holdings.c.customer_id == Customer.id)
            .outerjoin(products, products.c.customer_id == Customer.id)
            .outerjoin(moved, and_(moved.c.customer_id == Customer.id,
                                   moved.c.month == periods.c.month))
            .outerjoin(fees, and_(fees.c.customer_id == Customer.id,
                                  fees.c.month == periods.c.month)))
    session.execute(delete(CustomerMonthAum)
                    .where(CustomerMonthAum.month.in_([start for start, _ in spans])))
    session.execute(insert(CustomerMonthAum.__table__).from_select(
        ["customer_id", "month", "aum_day_sum", "days", "last_date", "last_aum", "contribution",
         "products"], rows))
    inserted = _count(session, CustomerMonthAum.month.in_([start for start, _ in spans]))
    return {"date": business_date.isoformat(), "months": [s.isoformat() for s, _ in spans],
            "rows": inserted}


def window_start(month: date, window_months: int) -> date:
    """The first month of a window of ``window_months`` months ending with ``month``."""
    return add_months(month_start(month), -(window_months - 1))
