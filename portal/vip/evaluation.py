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

One INSERT … SELECT writes the month's ``TierDecision`` rows (with their explanation built
in SQL, for ``portal.vip.explain.describe``), one UPDATE and one INSERT … SELECT bring
``CustomerTier`` up to date (clearing expired pins; ``since`` becomes the first day of the
month after M when the tier changes — after a re-evaluation that no longer changes the
tier, the date the replaced decision set stays). No loop over customers. Evaluations are
serialised (a row lock on the rule version; SQLite serialises writers anyway)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    Integer,
    String,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    type_coerce,
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


def evaluated_months(session: Session, limit: int = 24) -> list[date]:
    return list(session.scalars(select(TierDecision.month).distinct()
                                .order_by(TierDecision.month.desc()).limit(limit)))


# -- SQL text for the explanation ------------------------------------------------------------

def _concat(*parts: Any) -> Any:
    result = parts[0]
    for part in parts[1:]:
        result = result.concat(part)
    return result


def _lit(text: str) -> Any:
    return literal(text, TEXT)


def _money_text(amount: Any, dialect: str) -> Any:
    """SQL: a Decimal4 as decimal text ("1234.5000"), the same on every backend."""
    if dialect == "sqlite":  # ten-thousandths
        units = type_coerce(amount, BigInteger())
        absolute = type_coerce(func.abs(units), BigInteger())
        return func.printf(_lit("%s%d.%04d"), case((units < 0, _lit("-")), else_=_lit("")),
                           absolute // literal(10000, BigInteger()),
                           absolute % literal(10000, BigInteger()), type_=TEXT)
    if dialect == "oracle":
        return func.to_char(amount, "FM999999999999999990.0000")
    return cast(amount, TEXT)


def _date_text(day: Any, dialect: str) -> Any:
    """SQL: a date as YYYY-MM-DD (PostgreSQL's cast would follow the server's DateStyle)."""
    if dialect in ("oracle", "postgresql"):
        return func.to_char(day, "YYYY-MM-DD")
    return cast(day, TEXT)


def _quoted(text: Any) -> Any:
    """SQL: ``text`` as a JSON string, for text that needs no escaping (codes, numbers)."""
    return _concat(_lit('"'), text, _lit('"'))


def _json_string(text: Any) -> Any:
    """SQL: free text as a JSON string (the pin service keeps control characters out)."""
    escaped = func.replace(func.replace(text, _lit("\\"), _lit("\\\\")), _lit('"'), _lit('\\"'))
    return _quoted(escaped)


def _nullable(expr: Any, text: Any) -> Any:
    return case((expr.is_(None), _lit("null")), else_=text)


def _as_json(text: Any, dialect: str) -> Any:
    if dialect == "postgresql":  # text is not assignable to json there
        return cast(text, JSON)
    return type_coerce(text, JSON)


def _tier_json(tier: rules.TierSpec) -> str:
    """A tier's conditions, compact (a million decisions a month carry them): conditions
    not set and the default 'all' are left out; names come from the rule version."""
    conditions: dict[str, Any] = {"min_adb": rules._text(tier.min_adb)}
    if tier.min_contribution is not None:
        conditions["min_contribution"] = rules._text(tier.min_contribution)
    if tier.min_products is not None:
        conditions["min_products"] = tier.min_products
    if tier.combine != "all":
        conditions["combine"] = tier.combine
    return json.dumps(tier.code) + ":" + json.dumps(conditions, separators=(",", ":"))


# -- the statements ----------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """What one evaluation needs to know besides the data."""

    month: date
    rules: rules.RuleSet
    previous_month: date | None  # the latest evaluated month before ``month``
    decided_at: Any = None
    # The highest decision id before this evaluation: the month's new decisions are those
    # above it (a range of the primary key, read in order, rather than a million lookups
    # through the month index). Evaluations are serialised, so no one else's rows are in it.
    after_id: int = 0

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
    """A step of the evaluation, computed once per customer: a CTE the database
    materialises (SQLite and PostgreSQL would otherwise inline its expressions into every
    place the next step refers to them, and evaluate them a dozen times a row)."""
    stage = query.cte(name)
    return stage.prefix_with("MATERIALIZED") if dialect in ("sqlite", "postgresql") else stage


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
        columns += [prior.c.to_tier.label("p_tier"),
                    _by_code(prior.c.to_tier, index, none).label("p_index"),
                    prior.c.months_below.label("p_below"), prior.c.outcome.label("p_outcome")]
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
    to_tier = case((d.c.outcome == "pinned", d.c.pin_tier), (held, d.c.p_tier),
                   else_=d.c.q_code)
    months_below = case((held, d.c.p_below + 1), else_=literal(0, Integer()))
    explanation = _explanation(plan, d, to_tier, months_below, dialect)
    return select(
        d.c.customer_id, literal(plan.month, Date()), literal(plan.rules.id, Integer()),
        d.c.p_tier, to_tier, d.c.q_code, d.c.outcome, d.c.adb, d.c.contribution,
        d.c.products, months_below, _as_json(explanation, dialect),
        literal(plan.decided_at, UTCDateTime()))


DECISION_COLUMNS = ["customer_id", "month", "rule_version", "from_tier", "to_tier",
                    "qualified_tier", "outcome", "adb", "contribution", "products",
                    "months_below", "explanation", "decided_at"]


def _text_of(*parts: Any) -> Any:
    """SQL concatenation of text constants (str) and expressions, adjacent constants
    joined first: a million rows a month, each concatenation counts."""
    merged: list[Any] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return _concat(*[_lit(p) if isinstance(p, str) else p for p in merged])


def _explanation(plan: Plan, d: Any, to_tier: Any, months_below: Any, dialect: str) -> Any:
    """SQL: the decision's explanation as JSON text: the outcome, the figures, the version,
    the grace used, and the conditions of the tiers it speaks of (the qualified tier, the
    next one above it, and the previous tier)."""
    tiers = plan.rules.tiers
    version = plan.rules.version
    header = json.dumps({"month": plan.month.strftime("%Y-%m"), "version": version.id,
                         "window": version.window_months, "grace": version.grace_months},
                        separators=(",", ":"))[1:-1]
    # Per qualified tier, constant text: the next tier up, and the conditions of both.
    qualified = {i: _lit(',"next":' + (json.dumps(tiers[i + 1].code) if i + 1 < len(tiers)
                                       else "null")
                         + ',"tiers":{' + ",".join(_tier_json(t) for t in tiers[i:i + 2]))
                 for i in range(len(tiers))}
    previous = case((or_(d.c.p_index < 0, d.c.p_index == d.c.q, d.c.p_index == d.c.q + 1),
                     _lit("")),
                    else_=_by_code(d.c.p_index, {i: _lit("," + _tier_json(t))
                                                 for i, t in enumerate(tiers)}, _lit("")))
    below_for = case((d.c.outcome.in_(("held", "downgrade")), d.c.p_below + 1),
                     else_=literal(0, Integer()))
    pin = case((d.c.outcome == "pinned", _text_of(
        ',"pin":{"tier":"', d.c.pin_tier, '","expires":',
        _nullable(d.c.pin_expires, _quoted(_date_text(d.c.pin_expires, dialect))),
        ',"reason":', _nullable(d.c.pin_reason, _json_string(d.c.pin_reason)), "}")),
               else_=_lit(""))
    return _text_of(
        '{"code":"', d.c.outcome, '",' + header + ',"adb":"', _money_text(d.c.adb, dialect),
        '","contribution":"', _money_text(d.c.contribution, dialect),
        '","products":', cast(d.c.products, TEXT),
        ',"from":', _nullable(d.c.p_tier, _quoted(d.c.p_tier)),
        ',"to":"', to_tier, '","qualified":"', d.c.q_code,
        '","months_below":', cast(months_below, TEXT),
        ',"below_for":', cast(below_for, TEXT), pin,
        _by_code(d.c.q, qualified, _lit("")), previous, "}}")


def statements(plan: Plan, dialect: str) -> list[Any]:
    """The evaluation's statements, in order (also compiled for Oracle by the tests)."""
    decisions = insert(TierDecision.__table__).from_select(DECISION_COLUMNS,
                                                          _decisions(plan, dialect))
    td = TierDecision.__table__.c
    ct = CustomerTier.__table__.c
    effective = literal(plan.effective, Date())
    expired = ct.pin_expires < effective
    changed = or_(td.from_tier.is_(None), td.from_tier != td.to_tier)
    new = td.id > literal(plan.after_id, Integer())
    tiers_update = update_from(
        CustomerTier.__table__, TierDecision.__table__,
        and_(td.customer_id == ct.customer_id, new),
        {ct.tier_code: td.to_tier,
         ct.since: case((changed, effective), else_=ct.since),
         ct.evaluated_month: literal(plan.month, Date()),
         ct.rule_version: literal(plan.rules.id, Integer()),
         ct.months_below: td.months_below,
         ct.explanation: td.explanation,
         ct.pinned_tier: case((expired, literal(None, TEXT)), else_=ct.pinned_tier),
         ct.pin_reason: case((expired, literal(None, String(500))), else_=ct.pin_reason),
         ct.pinned_by: case((expired, literal(None, Integer())), else_=ct.pinned_by),
         ct.pin_expires: case((expired, literal(None, Date())), else_=ct.pin_expires)},
        dialect)
    tiers_insert = insert(CustomerTier.__table__).from_select(
        ["customer_id", "tier_code", "since", "evaluated_month", "rule_version",
         "months_below", "explanation"],
        select(td.customer_id, td.to_tier, effective, literal(plan.month, Date()),
               literal(plan.rules.id, Integer()), td.months_below, td.explanation)
        .where(new, absent(ct.customer_id, td.customer_id, "tiered", dialect)))
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
    plan = Plan(month, rule_set, previous, utcnow(),
                session.scalar(select(func.max(TierDecision.id))) or 0)
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
                                  .where(TierDecision.id > plan.after_id)
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
