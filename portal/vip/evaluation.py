"""The monthly tier evaluation: every customer's tier for a month, set-based in SQL.

For month M (its first day), under the CURRENT rule version:

- **Figures** over the window (``window_months`` months ending with M): average daily AUM =
  Σ aum_day_sum / Σ days (truncated to 4 decimals), contribution = the average per month
  with data (Σ contribution / months), products = the distinct products the customer held
  at the end of M (its aggregate's count: the figures are the month's, however late the
  evaluation runs).
- **Qualified tier**: the highest tier whose conditions the figures meet (``combine`` 'all':
  every set condition; 'any': one of them); the base tier always qualifies.
- **Decision**, from the customer's decision of the previous evaluated month:
  a valid pin wins (``pinned``; a pin holds for M when it expires on or after the first day
  of the month after M, when the decision takes effect); when the previous decision was
  pinned and the pin is no longer valid (it expired or was removed), the figures apply at
  once (``pin_expired``); a customer without an earlier decision gets the qualified tier
  (``new``); a higher qualified tier applies at once (``upgrade``); the same tier is
  ``unchanged``; a lower one counts a month below: after ``grace_months`` consecutive
  evaluated months below (this one included), the customer moves down to the qualified tier
  (``downgrade``), before that they are ``held`` ("held at Platinum: 2 of 3 grace months
  used"). Meeting the tier again resets the count. A grace of 0 (or 1) downgrades at the
  first month below.
- **Re-evaluating** the latest evaluated month is allowed (after a rule change, "evaluate
  now"): its decisions are replaced, computed again from the previous month's decisions, so
  grace months are never counted twice. A month before the latest evaluated one is
  refused (its successors were decided from it), and so is a month not yet complete.

One INSERT … SELECT writes the month's ``TierDecision`` rows — the figures, the outcome, the
rule version and the grace months, with the pin of a pinned decision: everything its
explanation says (``portal.vip.explain`` words it from the row and its rule version) —;
one UPDATE of the rows that change and one INSERT … SELECT bring ``CustomerTier`` up to
date (clearing expired pins; ``since`` becomes the first day of the month after M when the
tier changes — after a re-evaluation that no longer changes the tier, the date the
replaced decision set stays). No loop over customers. Evaluations are serialised (a row
lock on the rule version; SQLite serialises writers anyway).

A decision's ``months_below`` is the consecutive months below the tier it speaks of: a
hold's count so far, or the count that led to a downgrade; only a hold's count goes on
into the next month."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    String,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from integration.bank_calendar import add_months, month_start
from integration.db import Decimal4, UTCDateTime, utcnow
from integration.models import Customer
from portal.audit import Actor, record
from portal.errors import N_, Conflict, Invalid
from portal.vip import rules
from portal.vip.aum import absent, money_divided, update_from, window_start
from portal.vip.models import (
    DECISION_OUTCOMES,
    CustomerMonthAum,
    CustomerTier,
    TierDecision,
    TierRuleVersion,
)

AUDIT_ACTION = "tier_evaluation"
TEXT = String(60)


@dataclass(frozen=True)
class EvaluationResult:
    month: date
    version: int
    replaced: bool
    counts: dict[str, int] = field(default_factory=dict)  # by outcome

    @property
    def customers(self) -> int:
        return sum(self.counts.values())

    def as_json(self) -> dict[str, Any]:
        return {"month": self.month.strftime("%Y-%m"), "version": self.version,
                "replaced": self.replaced, "customers": self.customers,
                "counts": {o: self.counts.get(o, 0) for o in DECISION_OUTCOMES}}


# -- months ----------------------------------------------------------------------------------

def default_month(business_date: date) -> date:
    """The last complete month before the business date."""
    return add_months(month_start(business_date), -1)


def parse_month(raw: str | None) -> date | None:
    """'2026-10' (or a date in that month) → 2026-10-01; Invalid otherwise."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    try:
        return month_start(date.fromisoformat(text if len(text) > 7 else text + "-01"))
    except ValueError:
        raise Invalid(N_("month must be a month as YYYY-MM")) from None


def latest_evaluated(session: Session) -> date | None:
    return session.scalar(select(func.max(TierDecision.month)))


def _lit(text: str) -> Any:
    return literal(text, TEXT)


# -- the statements ----------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """What one evaluation needs to know besides the data."""

    month: date
    rules: rules.RuleSet
    previous_month: date | None  # the latest evaluated month before ``month``
    decided_at: Any = None

    @property
    def effective(self) -> date:  # the decision takes effect on the next month's first day
        return add_months(self.month, 1)


def window_sums(month: date, window_months: int) -> Any:
    """SELECT per customer over the window of months ending with ``month``: Σ daily AUM,
    Σ days, Σ contribution, the months with data and the products at the end of ``month``
    — the aggregate the evaluation stands on (bench/tiers.py times it alone)."""
    aum = CustomerMonthAum
    return (select(aum.customer_id.label("customer_id"),
                   func.sum(aum.aum_day_sum).label("aum_days"),
                   func.sum(aum.days).label("days"),
                   func.sum(aum.contribution).label("contribution"),
                   func.count().label("months"),
                   func.max(case((aum.month == month, aum.products))).label("products"))
            .where(aum.month >= window_start(month, window_months), aum.month <= month)
            .group_by(aum.customer_id))


def _figures(plan: Plan, dialect: str) -> Any:
    """(customer_id, adb, contribution, products) for every customer."""
    sums = window_sums(plan.month, plan.rules.version.window_months).subquery("sums")
    zero = literal(0, Decimal4())
    return (select(Customer.id.label("customer_id"),
                   func.coalesce(money_divided(sums.c.aum_days, sums.c.days, dialect), zero)
                   .label("adb"),
                   func.coalesce(money_divided(sums.c.contribution, sums.c.months, dialect),
                                 zero).label("contribution"),
                   func.coalesce(sums.c.products, literal(0, Integer())).label("products"))
            .select_from(Customer)
            .outerjoin(sums, sums.c.customer_id == Customer.id)
            .subquery("figures"))


def _qualifies(tier: rules.TierSpec, figures: Any) -> Any:
    conditions = [figures.c.adb >= literal(tier.min_adb, Decimal4())]
    if tier.min_contribution is not None:
        conditions.append(figures.c.contribution >= literal(tier.min_contribution, Decimal4()))
    if tier.min_products is not None:
        conditions.append(figures.c.products >= literal(tier.min_products, Integer()))
    return and_(*conditions) if tier.combine == "all" else or_(*conditions)


def _by_code(column: Any, values: dict[str, Any], default: Any) -> Any:
    return case({code: value for code, value in values.items()}, value=column, else_=default)


def _stage(query: Any, name: str, dialect: str) -> Any:
    """A step of the evaluation, computed once per customer (SQLite and PostgreSQL would
    otherwise inline its expressions into every place the next step refers to them, and
    evaluate them a dozen times a row). PostgreSQL: OFFSET 0 fences the step off from the
    next, its rows streamed; written to a work table instead (MATERIALIZED), they cost 10%
    more. SQLite: a CTE it materialises."""
    if dialect == "postgresql":
        return query.offset(0).cte(name).prefix_with("NOT MATERIALIZED")
    stage = query.cte(name)
    return stage.prefix_with("MATERIALIZED") if dialect == "sqlite" else stage


def _decisions(plan: Plan, dialect: str) -> Any:
    """SELECT of the month's decisions, in TierDecision's column order."""
    tiers = plan.rules.tiers  # lowest rank first
    index = {t.code: literal(i, Integer()) for i, t in enumerate(tiers)}
    none = literal(-1, Integer())
    figures = _figures(plan, dialect)
    prior = (select(TierDecision.customer_id, TierDecision.to_tier, TierDecision.months_below,
                    TierDecision.outcome)
             .where(TierDecision.month == plan.previous_month).subquery("prior")
             if plan.previous_month is not None else None)
    # Pins are few: join only the pinned rows (not a million wide CustomerTier rows).
    pinned = (select(CustomerTier.customer_id, CustomerTier.pinned_tier,
                     CustomerTier.pin_expires, CustomerTier.pin_reason)
              .where(CustomerTier.pinned_tier.is_not(None)).subquery("pins"))
    ct = pinned.c
    pin_valid = and_(ct.pinned_tier.in_([t.code for t in tiers]),
                     ct.pin_expires >= plan.effective)
    pin_tier = case((pin_valid, ct.pinned_tier))
    qualified_index = case(*[(_qualifies(t, figures), literal(i, Integer()))
                             for i, t in reversed(list(enumerate(tiers))) if i > 0],
                           else_=literal(0, Integer()))
    columns = [figures.c.customer_id, figures.c.adb, figures.c.contribution,
               figures.c.products, qualified_index.label("q"), pin_tier.label("pin_tier"),
               _by_code(pin_tier, index, none).label("pin_index"),
               ct.pin_expires.label("pin_expires"), ct.pin_reason.label("pin_reason")]
    if prior is not None:
        # Months below count on only from a hold (a downgrade's count led to it).
        columns += [prior.c.to_tier.label("p_tier"),
                    _by_code(prior.c.to_tier, index, none).label("p_index"),
                    case((prior.c.outcome == "held", prior.c.months_below),
                         else_=literal(0, Integer())).label("p_below"),
                    prior.c.outcome.label("p_outcome")]
    else:
        columns += [literal(None, TEXT).label("p_tier"), none.label("p_index"),
                    literal(0, Integer()).label("p_below"),
                    literal(None, TEXT).label("p_outcome")]
    base = select(*columns).select_from(figures).outerjoin(
        pinned, ct.customer_id == figures.c.customer_id)
    if prior is not None:
        base = base.outerjoin(prior, prior.c.customer_id == figures.c.customer_id)
    b = _stage(base, "evaluated", dialect)

    grace = plan.rules.version.grace_months
    outcome = case(
        (b.c.pin_tier.is_not(None), _lit("pinned")),
        (b.c.p_tier.is_(None), _lit("new")),
        (b.c.p_outcome == "pinned", _lit("pin_expired")),
        (b.c.q > b.c.p_index, _lit("upgrade")),
        (b.c.q == b.c.p_index, _lit("unchanged")),
        (b.c.p_below + 1 >= grace, _lit("downgrade")),
        else_=_lit("held"))
    q_code = _by_code(b.c.q, {i: _lit(t.code) for i, t in enumerate(tiers)}, _lit(tiers[0].code))
    d = _stage(select(b, outcome.label("outcome"), q_code.label("q_code")), "decided", dialect)

    held = d.c.outcome == "held"
    pinned = d.c.outcome == "pinned"
    to_tier = case((pinned, d.c.pin_tier), (held, d.c.p_tier), else_=d.c.q_code)
    months_below = case((d.c.outcome.in_(("held", "downgrade")), d.c.p_below + 1),
                        else_=literal(0, Integer()))
    return select(
        d.c.customer_id, literal(plan.month, Date()), literal(plan.rules.id, Integer()),
        d.c.p_tier, to_tier, d.c.q_code, d.c.outcome, d.c.adb, d.c.contribution,
        d.c.products, months_below,
        case((pinned, d.c.pin_expires), else_=literal(None, Date())),
        case((pinned, d.c.pin_reason), else_=literal(None, String(500))),
        literal(plan.decided_at, UTCDateTime()))


DECISION_COLUMNS = ["customer_id", "month", "rule_version", "from_tier", "to_tier",
                    "qualified_tier", "outcome", "adb", "contribution", "products",
                    "months_below", "pin_expires", "pin_reason", "decided_at"]


def statements(plan: Plan, dialect: str) -> list[Any]:
    """The evaluation's statements, in order (also compiled for Oracle by the tests)."""
    decisions = insert(TierDecision.__table__).from_select(DECISION_COLUMNS,
                                                          _decisions(plan, dialect))
    td = TierDecision.__table__.c
    ct = CustomerTier.__table__.c
    effective = literal(plan.effective, Date())
    expired = ct.pin_expires < effective
    changed = or_(td.from_tier.is_(None), td.from_tier != td.to_tier)
    new = td.month == literal(plan.month, Date())  # (a re-evaluation deleted the old ones)
    # The grace months a customer has used: a hold's count (a downgrade starts afresh).
    used = case((td.outcome == "held", td.months_below), else_=literal(0, Integer()))
    # Only the rows that change: a new tier, a grace month counted or reset, a pin that
    # expired — a month where nearly everyone stays rewrites almost nothing.
    tiers_update = update_from(
        CustomerTier.__table__, TierDecision.__table__,
        and_(td.customer_id == ct.customer_id, new),
        {ct.tier_code: td.to_tier,
         ct.since: case((changed, effective), else_=ct.since),
         ct.months_below: used,
         ct.pinned_tier: case((expired, literal(None, TEXT)), else_=ct.pinned_tier),
         ct.pin_reason: case((expired, literal(None, String(500))), else_=ct.pin_reason),
         ct.pinned_by: case((expired, literal(None, Integer())), else_=ct.pinned_by),
         ct.pin_expires: case((expired, literal(None, Date())), else_=ct.pin_expires)},
        dialect,
        or_(ct.tier_code != td.to_tier, ct.months_below != used, expired))
    # Only a customer without an earlier decision can lack a row (evaluations create them,
    # nothing deletes them; a pin may have created one first): no anti-join of a million.
    tiers_insert = insert(CustomerTier.__table__).from_select(
        ["customer_id", "tier_code", "since", "months_below"],
        select(td.customer_id, td.to_tier, effective, used)
        .where(new, td.from_tier.is_(None),
               absent(ct.customer_id, td.customer_id, "tiered", dialect)))
    return [decisions, tiers_update, tiers_insert]


# -- the service ---------------------------------------------------------------------------

def _keep_notified(session: Session, month: date,
                   told: dict[tuple[str | None, str], list[int]]) -> None:
    now = utcnow()
    for (from_tier, to_tier), ids in told.items():
        same_change = (TierDecision.from_tier.is_(None) if from_tier is None
                       else TierDecision.from_tier == from_tier)
        for start in range(0, len(ids), 1000):
            session.execute(update(TierDecision).where(
                TierDecision.month == month, same_change, TierDecision.to_tier == to_tier,
                TierDecision.customer_id.in_(ids[start:start + 1000])).values(notified_at=now))


def evaluate(session: Session, month: date, *, business_date: date | None = None,
             actor: Actor | None = None) -> EvaluationResult:
    """Evaluate every customer for ``month`` under the current rules (or re-evaluate the
    latest evaluated month). ``business_date``: refuse months not yet complete."""
    month = month_start(month)
    if business_date is not None and month >= month_start(business_date):
        raise Invalid(N_("%(month)s is not complete yet (business date %(date)s)"),
                      month=f"{month:%Y-%m}", date=business_date.isoformat())
    rule_set = rules.current(session)
    # One evaluation at a time (a second one waits here, then sees the first's decisions);
    # SQLite serialises writers anyway.
    session.execute(select(TierRuleVersion.id).where(TierRuleVersion.id == rule_set.id)
                    .with_for_update())
    latest = latest_evaluated(session)
    if latest is not None and latest > month:
        raise Conflict(N_("%(month)s is evaluated already: an earlier month cannot be "
                          "evaluated again"), month=f"{latest:%Y-%m}")
    replaced = latest == month
    told: dict[tuple[str | None, str], list[int]] = {}
    if replaced:
        # RMs already told of a change the new decision repeats are not told again.
        for customer_id, from_tier, to_tier in session.execute(
                select(TierDecision.customer_id, TierDecision.from_tier, TierDecision.to_tier)
                .where(TierDecision.month == month, TierDecision.notified_at.is_not(None))):
            told.setdefault((from_tier, to_tier), []).append(customer_id)
        session.execute(delete(TierDecision).where(TierDecision.month == month))
    previous = session.scalar(select(func.max(TierDecision.month))
                              .where(TierDecision.month < month))
    plan = Plan(month, rule_set, previous, utcnow())
    dialect = session.get_bind().dialect.name
    decisions, *tiers = statements(plan, dialect)
    try:
        session.execute(decisions)
        if dialect == "postgresql":
            # A million rows the planner has not seen (and, the first time, a table that
            # was empty when last analysed): without fresh statistics it joins them row by
            # row, minutes instead of seconds. ANALYZE samples, whatever the table's size.
            session.execute(text("ANALYZE tier_decisions, customer_tiers"))
        for statement in tiers:
            session.execute(statement)
    except IntegrityError:
        raise Conflict(N_("%(month)s is being evaluated by someone else"),
                       month=f"{month:%Y-%m}") from None
    _keep_notified(session, month, told)
    counts = dict(session.execute(select(TierDecision.outcome, func.count())
                                  .where(TierDecision.month == month)
                                  .group_by(TierDecision.outcome)).all())
    result = EvaluationResult(month, plan.rules.id, replaced, counts)
    if actor is not None:
        record(session, actor, AUDIT_ACTION, **result.as_json())
    session.expire_all()  # CustomerTier rows changed under the identity map
    return result


@dataclass(frozen=True)
class MonthSummary:
    month: date
    versions: list[int]
    decided_at: Any
    tiers: dict[str, int]       # customers per tier decided
    outcomes: dict[str, int]    # decisions per outcome

    @property
    def customers(self) -> int:
        return sum(self.tiers.values())


def summary(session: Session, month: date) -> MonthSummary:
    """How an evaluated month came out: customers per tier and per outcome."""
    rows = session.execute(
        select(TierDecision.to_tier, TierDecision.outcome, TierDecision.rule_version,
               func.count(), func.max(TierDecision.decided_at))
        .where(TierDecision.month == month)
        .group_by(TierDecision.to_tier, TierDecision.outcome, TierDecision.rule_version)).all()
    tiers: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    for tier, outcome, _version, count, _at in rows:
        tiers[tier] = tiers.get(tier, 0) + count
        outcomes[outcome] = outcomes.get(outcome, 0) + count
    return MonthSummary(month, sorted({r[2] for r in rows}), max((r[4] for r in rows),
                                                                  default=None),
                        tiers, outcomes)


def evaluate_due(session: Session, business_date: date) -> dict[str, Any]:
    """The nightly job: once the business date is in a new month, evaluate the month
    before it — unless it (or a later month) has decisions, or it has no aggregates."""
    month = default_month(business_date)
    latest = latest_evaluated(session)
    if latest is not None and latest >= month:
        return {"month": month.strftime("%Y-%m"), "skipped": "evaluated already"}
    if session.scalar(select(CustomerMonthAum.customer_id)
                      .where(CustomerMonthAum.month == month).limit(1)) is None:
        return {"month": month.strftime("%Y-%m"), "skipped": "no aggregates for the month"}
    return evaluate(session, month, business_date=business_date).as_json()
