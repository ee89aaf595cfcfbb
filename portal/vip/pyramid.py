"""The customer value pyramid: current value against growth potential.

For the evaluated month M (the latest month of the monthly tier evaluation), every customer
who is not CLOSED and has a monthly aggregate (``CustomerMonthAum``) for M is placed in
exactly one layer by one INSERT … SELECT (``classify``); the reports count and list the
stored layers within the reader's scope. The cut-offs are the fields of ``PyramidRules``.

Current value
    The month's contribution (fees and interest margin, ``CustomerMonthAum.contribution``).
    Customers are ranked by it, the larger average daily AUM (ADB) of the month first among
    equal contributions, with SQL ``RANK()`` (equal figures share a rank, so a tie never
    splits across a cut-off). Of the N customers ranked:

    - **platinum**: rank ≤ ⌈N × ``platinum_percent`` / 100⌉ (default the top 5 %);
    - **gold**: rank ≤ ⌈N × (``platinum_percent`` + ``gold_percent``) / 100⌉ (default the
      next 15 %);

    both only for a customer with some value (a contribution or an ADB above zero).

Growth potential (everyone else), either signal:

    - *growing AUM*: the month's ADB is at least (100 + ``growth_percent``) % of the ADB of
      the month ``trend_months`` − 1 before M (default: M against M − 2, 110 %), or the
      customer had no aggregate then and has AUM now;
    - *share of wallet*: the month's income inflows — TRANSFER_IN credits in CNY at the
      month end's rates, the salary and transfers a customer receives — reach
      ``inflow_percent`` (default 20 %) of the month's ADB and at least ``min_inflow``
      (default RMB 5,000): money passes through the bank without staying, so most of the
      customer's wealth is held elsewhere.

    - **iron**: low current value, growth potential: the customers to develop;
    - **lead**: low current value, neither signal.

The classification is recomputed after each evaluation (``refresh_pyramid``, a nightly job
after the evaluation that does nothing while the stored layers are newer than the month's
decisions)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    and_,
    case,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased

from integration.bank_calendar import add_months
from integration.db import Decimal4, UTCDateTime, times_rate, utcnow
from integration.fx import rates_as_of
from integration.models import Account, Customer, Transaction
from portal.scope import Scope, restrict_listing
from portal.vip.models import VALUE_LAYERS, CustomerMonthAum, CustomerValueLayer, TierDecision
from portal.vip.reports import month_adb, require_reports

ZERO = Decimal(0)
INCOME_TYPES = ("TRANSFER_IN",)


@dataclass(frozen=True)
class PyramidRules:
    platinum_percent: int = 5
    gold_percent: int = 15
    growth_percent: int = 10
    trend_months: int = 3
    inflow_percent: int = 20
    min_inflow: Decimal = Decimal(5000)

    def __post_init__(self) -> None:
        if not (0 <= self.platinum_percent and 0 <= self.gold_percent
                and self.platinum_percent + self.gold_percent <= 100):
            raise ValueError("platinum and gold percentages must be 0 or more, 100 at most")
        if not 2 <= self.trend_months <= 12:
            raise ValueError("trend_months must be between 2 and 12")
        if self.growth_percent < 0 or self.inflow_percent < 0 or self.min_inflow < 0:
            raise ValueError("growth, inflow and minimum inflow must be 0 or more")


DEFAULT_RULES = PyramidRules()


def _percent(value: Any, percent: int) -> Any:
    """SQL: ``value`` × a whole number, with the number an integer bind (not an amount)."""
    return value * literal(percent, Integer())


def population(session: Session, month: date) -> int:
    """How many customers the month ranks: not CLOSED, with an aggregate for the month."""
    return session.scalar(
        select(func.count()).select_from(CustomerMonthAum)
        .join(Customer, Customer.id == CustomerMonthAum.customer_id)
        .where(CustomerMonthAum.month == month, CustomerMonthAum.days > 0,
               Customer.status != "CLOSED")) or 0


def layer_rows(month: date, ranked_customers: int, rules: PyramidRules, dialect: str,
               stamp: datetime) -> Any:
    """SELECT every ranked customer's CustomerValueLayer row for ``month``."""
    current = aliased(CustomerMonthAum, name="cur")
    start = aliased(CustomerMonthAum, name="start")
    next_month = add_months(month, 1)
    platinum_cut = math.ceil(ranked_customers * rules.platinum_percent / 100)
    gold_cut = math.ceil(ranked_customers * (rules.platinum_percent + rules.gold_percent) / 100)

    rates = rates_as_of(next_month - timedelta(days=1))
    inflows = (
        select(Account.customer_id.label("customer_id"),
               func.sum(times_rate(Transaction.amount, rates.c.to_cny, dialect))
               .label("inflow"))
        .select_from(Transaction)
        .join(Account, Account.id == Transaction.account_id)
        .join(rates, rates.c.currency == Transaction.currency)
        .where(Transaction.type.in_(INCOME_TYPES), Transaction.amount > 0,
               Transaction.closed.is_(False), Transaction.booking_date >= month,
               Transaction.booking_date < next_month)
        .group_by(Account.customer_id).subquery("inflows"))
    adb = month_adb(current, dialect)
    ranked = (
        select(current.customer_id.label("customer_id"),
               current.contribution.label("value"), adb.label("adb"),
               month_adb(start, dialect).label("start_adb"),
               func.coalesce(inflows.c.inflow, literal(ZERO, Decimal4())).label("inflow"),
               func.rank().over(order_by=(current.contribution.desc(), adb.desc()))
               .label("value_rank"))
        .select_from(current)
        .join(Customer, Customer.id == current.customer_id)
        .outerjoin(start, and_(start.customer_id == current.customer_id,
                               start.month == add_months(month, 1 - rules.trend_months),
                               start.days > 0))
        .outerjoin(inflows, inflows.c.customer_id == current.customer_id)
        .where(current.month == month, current.days > 0, Customer.status != "CLOSED")
        .subquery("ranked"))
    r = ranked.c
    has_value = or_(r.value > 0, r.adb > 0)
    growing = and_(r.adb > 0, or_(r.start_adb.is_(None),
                                  _percent(r.adb, 100)
                                  >= _percent(r.start_adb, 100 + rules.growth_percent)))
    wallet = and_(r.inflow >= rules.min_inflow, r.inflow > 0,
                  _percent(r.inflow, 100) >= _percent(r.adb, rules.inflow_percent))
    layer = case((and_(has_value, r.value_rank <= platinum_cut), literal("platinum")),
                 (and_(has_value, r.value_rank <= gold_cut), literal("gold")),
                 (or_(growing, wallet), literal("iron")), else_=literal("lead"))
    return select(r.customer_id, literal(month, Date()), layer, r.value, r.adb, r.start_adb,
                  r.inflow, r.value_rank, case((growing, true()), else_=false()),
                  case((wallet, true()), else_=false()), literal(stamp, UTCDateTime()))


LAYER_COLUMNS = ["customer_id", "month", "layer", "value", "adb", "start_adb", "inflow",
                 "value_rank", "growing", "wallet_signal", "computed_at"]


def classify(session: Session, month: date, rules: PyramidRules = DEFAULT_RULES,
             stamp: datetime | None = None) -> dict[str, Any]:
    """Replace every customer's layer with their layer for ``month``; a summary."""
    dialect = session.get_bind().dialect.name
    ranked_customers = population(session, month)
    session.execute(delete(CustomerValueLayer))
    session.execute(insert(CustomerValueLayer).from_select(
        LAYER_COLUMNS, layer_rows(month, ranked_customers, rules, dialect, stamp or utcnow())))
    counts = {layer: count for layer, count in session.execute(
        select(CustomerValueLayer.layer, func.count()).group_by(CustomerValueLayer.layer))}
    return {"month": month.strftime("%Y-%m"), "customers": ranked_customers,
            "layers": {code: counts.get(code, 0) for code in VALUE_LAYERS},
            "rules": {k: str(v) for k, v in asdict(rules).items()}}


def latest_evaluated_month(session: Session) -> date | None:
    return session.scalar(select(func.max(TierDecision.month)))


def refresh_pyramid(session: Session, business_date: date) -> dict[str, Any]:
    """The nightly job: classify the latest evaluated month unless the stored layers are
    already that month's and newer than its decisions (idempotent, cheap when nothing
    changed)."""
    month = latest_evaluated_month(session)
    if month is None:
        return {"skipped": "no evaluation yet"}
    stored_month, computed = session.execute(
        select(func.max(CustomerValueLayer.month),
               func.min(CustomerValueLayer.computed_at))).one()
    decided = session.scalar(select(func.max(TierDecision.decided_at))
                             .where(TierDecision.month == month))
    if stored_month == month and computed is not None and decided is not None \
            and computed >= decided:
        return {"month": month.strftime("%Y-%m"), "skipped": "up to date"}
    return classify(session, month)


# -- the report ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Layer:
    code: str
    customers: int
    value: Decimal  # the layer's contribution in the month
    adb: Decimal  # the layer's average daily AUM in the month


@dataclass(frozen=True)
class Pyramid:
    month: date | None  # None: not classified yet
    layers: list[Layer]  # platinum (the top) first
    customers: int
    value: Decimal
    adb: Decimal
    computed_at: datetime | None
    rules: PyramidRules = DEFAULT_RULES

    @property
    def largest(self) -> int:
        return max((layer.customers for layer in self.layers), default=0)


def pyramid(session: Session, scope: Scope) -> Pyramid:
    """Customers, value and ADB per layer over the customers in scope."""
    require_reports(scope)
    month, computed = session.execute(select(func.max(CustomerValueLayer.month),
                                             func.max(CustomerValueLayer.computed_at))).one()
    query = (select(CustomerValueLayer.layer, func.count(), func.sum(CustomerValueLayer.value),
                    func.sum(CustomerValueLayer.adb))
             .group_by(CustomerValueLayer.layer))
    if scope.kind != "all":
        query = restrict_listing(
            query.join(Customer, Customer.id == CustomerValueLayer.customer_id), scope)
    found = {code: (count, value or ZERO, adb or ZERO)
             for code, count, value, adb in session.execute(query)}
    layers = [Layer(code, *found.get(code, (0, ZERO, ZERO))) for code in VALUE_LAYERS]
    return Pyramid(month, layers, sum(layer.customers for layer in layers),
                   sum((layer.value for layer in layers), ZERO),
                   sum((layer.adb for layer in layers), ZERO), computed)
