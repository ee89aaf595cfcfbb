"""What follows a monthly tier evaluation: retention tasks and telling RMs of tier changes.

A nightly job (``run_followups``, registered after the evaluation) works on the latest
evaluated month M and is idempotent: running it again adds nothing.

Retention
    A customer gets a ``retention`` task for their effective RM when, in M,

    - their current tier is above the base tier (rank > 0 in the rule version M's decision
      used) and not held by a branch manager's pin that is still in force;
    - their ADB of the decision (``TierDecision.adb``, the evaluation's window average) is
      below that tier's threshold (in the same version) × (100 +
      ``RETENTION_MARGIN_PERCENT``) / 100, i.e.
      within 10 % above it (a customer exactly 10 % above is not) — or already below it
      while the grace period holds the tier, the most urgent case (priority high);
    - their AUM is falling: M's own average daily AUM is below the month before's, or
      today's AUM (``CustomerMetrics``, refreshed each night) is below M's average daily
      AUM — so a drop later in the month still raises the task;
    - they are not CLOSED, have an RM, and have no open retention task already.

    One task per customer per month at most (``dedupe_key`` ``retention:<customer>:<YYYY-MM>``,
    unique), written by one INSERT … SELECT that leaves out the customers already handled;
    its ``reason`` holds the figures and the tier's names in both languages.

Tier changes
    The month's decisions that changed a customer's tier and are not yet told — upgrades,
    downgrades, and pins set or expired that moved the tier — are marked ``notified_at``
    and each RM (the customer's effective RM now) gets one ``tier_changed`` notification
    for the month: about the customer when there is one change, otherwise a summary with
    the number of moves up and down (by the tiers' ranks). Decisions of customers without
    an RM (or whose RM has no active user) and of CLOSED customers are marked too: there
    is no one to tell, or nothing to tell."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    String,
    and_,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from integration.bank_calendar import add_months
from integration.db import UTCDateTime, utcnow
from integration.models import Customer
from portal.scope import effective_manager
from portal.vip.models import (
    CustomerMonthAum,
    CustomerTier,
    TierDecision,
    TierDefinition,
)
from portal.vip.reports import month_adb, month_text, tier_catalogue
from portal.workbench import notifications
from portal.workbench.models import CustomerMetrics, Task
from portal.workbench.task_rules import _decimal_text, _id_text, _text, json_object

RETENTION_MARGIN_PERCENT = 10
RETENTION_DUE_DAYS = 14
RETENTION_TITLE = "Tier retention"  # stored (exports); pages show the kind's label
NOTIFIED_OUTCOMES = ("upgrade", "downgrade", "pinned", "pin_expired")


def latest_month(session: Session) -> date | None:
    return session.scalar(select(func.max(TierDecision.month)))


def _times(value: Any, number: int) -> Any:
    """SQL: ``value`` × a whole number bound as an integer (never as an amount)."""
    return value * literal(number, Integer())


def retention_candidates(month: date, business_date: date, dialect: str) -> Any:
    """SELECT the new retention tasks of ``month``: (customer_id, manager, branch_code,
    due_date, priority, reason, dedupe_key)."""
    this = aliased(CustomerMonthAum, name="this_month")
    before = aliased(CustomerMonthAum, name="month_before")
    threshold = TierDefinition.min_adb
    adb = TierDecision.adb
    month_falling = and_(before.days > 0,
                         this.aum_day_sum * before.days < before.aum_day_sum * this.days)
    today_falling = CustomerMetrics.aum * this.days < this.aum_day_sum
    pin_in_force = and_(CustomerTier.pinned_tier.is_not(None),
                        or_(CustomerTier.pin_expires.is_(None),
                            CustomerTier.pin_expires >= business_date))
    # Customers with an open retention task or this month's already: one derived table,
    # read once (a correlated NOT EXISTS against the table being written could be planned
    # as a nested loop rescanning it for every candidate while it grows).
    handled = (select(Task.customer_id.label("customer_id"))
               .where(Task.kind == "retention", Task.customer_id.is_not(None),
                      or_(Task.status == "open",
                          Task.dedupe_key.like(f"retention:%:{month_text(month)}")))
               .group_by(Task.customer_id).subquery("handled"))
    key = _text("retention:") + _id_text(Customer.id) + _text(f":{month_text(month)}")
    manager = effective_manager()
    return (
        select(Customer.id.label("customer_id"), manager.label("manager"),
               Customer.branch_code.label("branch_code"),
               literal(business_date + timedelta(days=RETENTION_DUE_DAYS), Date())
               .label("due_date"),
               case((adb < threshold, _text("high")), else_=_text("normal")).label("priority"),
               json_object(("rule", _text("retention")), ("tier", CustomerTier.tier_code),
                           ("tier_en", TierDefinition.name_en),
                           ("tier_zh", TierDefinition.name_zh),
                           ("month", _text(month_text(month))),
                           ("adb", _decimal_text(adb, dialect)),
                           ("threshold", _decimal_text(threshold, dialect)),
                           ("margin_percent", literal(RETENTION_MARGIN_PERCENT, Integer())),
                           ("aum", _decimal_text(CustomerMetrics.aum, dialect)),
                           ("month_adb", _decimal_text(month_adb(this, dialect), dialect)),
                           ("previous_adb", _decimal_text(
                               case((before.days > 0, month_adb(before, dialect))),
                               dialect))).label("reason"),
               key.label("dedupe_key"))
        .select_from(CustomerTier)
        .join(Customer, Customer.id == CustomerTier.customer_id)
        .join(TierDecision, and_(TierDecision.customer_id == CustomerTier.customer_id,
                                 TierDecision.month == month))
        .join(TierDefinition, and_(TierDefinition.version_id == TierDecision.rule_version,
                                   TierDefinition.code == CustomerTier.tier_code))
        .join(this, and_(this.customer_id == CustomerTier.customer_id, this.month == month,
                         this.days > 0))
        .outerjoin(before, and_(before.customer_id == CustomerTier.customer_id,
                                before.month == add_months(month, -1)))
        .outerjoin(CustomerMetrics, CustomerMetrics.customer_id == CustomerTier.customer_id)
        .outerjoin(handled, handled.c.customer_id == CustomerTier.customer_id)
        .where(handled.c.customer_id.is_(None), TierDefinition.rank > 0,
               _times(adb, 100) < _times(threshold, 100 + RETENTION_MARGIN_PERCENT),
               or_(month_falling, and_(CustomerMetrics.customer_id.is_not(None),
                                       today_falling)),
               ~pin_in_force, Customer.status != "CLOSED", manager.is_not(None)))


def add_retention_tasks(session: Session, month: date, business_date: date,
                        stamp: datetime | None = None) -> int:
    """Write the month's new retention tasks (set-based); how many."""
    dialect = session.get_bind().dialect.name
    found = retention_candidates(month, business_date, dialect).subquery("found")
    rows = select(found.c.customer_id, found.c.manager, found.c.branch_code,
                  _text("retention"), literal(RETENTION_TITLE, String()), found.c.reason,
                  found.c.due_date, found.c.priority, _text("open"), found.c.dedupe_key,
                  literal(stamp or utcnow(), UTCDateTime()))
    return session.execute(insert(Task).from_select(
        ["customer_id", "assignee_staff_id", "branch_code", "kind", "title", "reason",
         "due_date", "priority", "status", "dedupe_key", "created_at"], rows)
        .execution_options(preserve_rowcount=True)).rowcount


def notify_tier_changes(session: Session, month: date,
                        stamp: datetime | None = None) -> dict[str, int]:
    """Mark the month's untold tier changes and tell each RM once."""
    stamp = stamp or utcnow()
    moved = or_(TierDecision.from_tier.is_(None), TierDecision.from_tier != TierDecision.to_tier)
    marked = session.execute(
        update(TierDecision)
        .where(TierDecision.month == month, TierDecision.outcome.in_(NOTIFIED_OUTCOMES),
               TierDecision.from_tier.is_not(None), moved,
               TierDecision.notified_at.is_(None))
        .values(notified_at=stamp)
        .execution_options(synchronize_session=False)).rowcount
    if not marked:
        return {"decisions": 0, "notifications": 0}
    # Up or down by the tiers' ranks in the decision's rule version (a tier since retired
    # from the rules counts as the lowest).
    old, new = aliased(TierDefinition, name="old_tier"), aliased(TierDefinition, name="new_tier")
    up = case((func.coalesce(new.rank, -1) > func.coalesce(old.rank, -1), 1), else_=0)
    changed = (select(TierDecision.customer_id, up.label("up"),
                      effective_manager().label("manager"))
               .join(Customer, Customer.id == TierDecision.customer_id)
               .outerjoin(old, and_(old.version_id == TierDecision.rule_version,
                                    old.code == TierDecision.from_tier))
               .outerjoin(new, and_(new.version_id == TierDecision.rule_version,
                                    new.code == TierDecision.to_tier))
               .where(TierDecision.month == month, TierDecision.notified_at == stamp,
                      Customer.status != "CLOSED")
               .subquery("changed"))
    per_rm = {manager: (upgrades, downgrades, customer_id)
              for manager, upgrades, downgrades, customer_id in session.execute(
                  select(changed.c.manager,
                         func.sum(changed.c.up), func.sum(1 - changed.c.up),
                         func.min(changed.c.customer_id))
                  .where(changed.c.manager.is_not(None))
                  .group_by(changed.c.manager))}
    users = notifications.users_by_staff(session, per_rm)
    singles = _single_changes(session, month, [customer for staff, (up, down, customer)
                                               in per_rm.items()
                                               if staff in users and up + down == 1])
    names = {t.code: t for t in tier_catalogue(
        session, {code for d in singles.values() for code in (d[1], d[2])})}
    sent = 0
    for staff, user_id in sorted(users.items()):
        upgrades, downgrades, customer_id = per_rm[staff]
        params: dict[str, Any] = {"month": month_text(month), "upgrades": int(upgrades),
                                  "downgrades": int(downgrades),
                                  "count": int(upgrades + downgrades)}
        about = None
        if upgrades + downgrades == 1 and customer_id in singles:
            name, from_tier, to_tier, outcome = singles[customer_id]
            about = customer_id
            params.update(customer=name, customer_id=customer_id, outcome=outcome,
                          **_tier_params("from", from_tier, names),
                          **_tier_params("to", to_tier, names))
        sent += notifications.notify(session, [user_id], "tier_changed", params,
                                     customer_id=about)
    return {"decisions": marked, "notifications": sent}


def _single_changes(session: Session, month: date,
                    customer_ids: list[int]) -> dict[int, tuple[str, str | None, str, str]]:
    """customer id → (name, from tier, to tier, outcome) of the month's decision."""
    found: dict[int, tuple[str, str | None, str, str]] = {}
    for start in range(0, len(customer_ids), 1000):
        chunk = customer_ids[start:start + 1000]
        for customer_id, name, from_tier, to_tier, outcome in session.execute(
                select(Customer.id, Customer.name, TierDecision.from_tier,
                       TierDecision.to_tier, TierDecision.outcome)
                .join(TierDecision, TierDecision.customer_id == Customer.id)
                .where(TierDecision.month == month, Customer.id.in_(chunk))):
            found[customer_id] = (name, from_tier, to_tier, outcome)
    return found


def _tier_params(prefix: str, code: str | None, names: dict[str, Any]) -> dict[str, Any]:
    """The tier's code and its names in both languages (the reader's is chosen when the
    notification is shown)."""
    tier = names.get(code) if code else None
    return {prefix: code, f"{prefix}_en": tier.name_en if tier else code,
            f"{prefix}_zh": tier.name_zh if tier else code}


def run_followups(session: Session, business_date: date) -> dict[str, Any]:
    """The nightly job: retention tasks and tier-change notifications of the latest
    evaluated month."""
    month = latest_month(session)
    if month is None:
        return {"skipped": "no evaluation yet"}
    stamp = utcnow()
    tasks = add_retention_tasks(session, month, business_date, stamp)
    told = notify_tier_changes(session, month, stamp)
    return {"month": month_text(month), "retention_tasks": tasks,
            "tier_changes_notified": told["decisions"], "notifications": told["notifications"]}
