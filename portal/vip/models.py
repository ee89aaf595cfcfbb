"""CRM-owned data of the VIP service.

Tier rules are versioned copy-on-write: an admin's change writes a new ``TierRuleVersion``
with the full set of ``TierDefinition`` rows, so every past decision names the version it
used. Average daily AUM comes from ``CustomerMonthAum`` (one row per customer per month,
never one per day)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from integration.db import Base, Decimal4, UTCDateTime, utcnow
from integration.models import CUSTOMER_KEY

TIER_LEN = 20
SERVICE_STATUSES = ("open", "in_progress", "fulfilled", "rejected")
DECISION_OUTCOMES = ("new", "upgrade", "downgrade", "held", "unchanged", "pinned",
                     "pin_expired")


class TierRuleVersion(Base):
    """One version of the tier rules (and the evaluation settings that go with them)."""

    __tablename__ = "tier_rule_versions"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)  # the version
    window_months: Mapped[int] = mapped_column(Integer, default=3)
    grace_months: Mapped[int] = mapped_column(Integer, default=3)
    note: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("window_months BETWEEN 1 AND 12", name="window_months"),
        CheckConstraint("grace_months BETWEEN 0 AND 12", name="grace_months"),
    )


class TierDefinition(Base):
    """A tier within a rule version. A customer qualifies when average daily AUM reaches
    ``min_adb`` and, where set, monthly contribution and product count reach theirs
    (``combine`` 'all'), or when any one set condition is met (``combine`` 'any')."""

    __tablename__ = "tier_definitions"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("tier_rule_versions.id"))
    code: Mapped[str] = mapped_column(String(TIER_LEN))
    rank: Mapped[int] = mapped_column(Integer)  # 0 = the base tier, higher is better
    name_en: Mapped[str] = mapped_column(String(60))
    name_zh: Mapped[str] = mapped_column(String(60))
    min_adb: Mapped[Decimal] = mapped_column(Decimal4)
    min_contribution: Mapped[Decimal | None] = mapped_column(Decimal4)
    min_products: Mapped[int | None] = mapped_column(Integer)
    combine: Mapped[str] = mapped_column(String(3), default="all")

    __table_args__ = (
        UniqueConstraint("version_id", "code"),
        UniqueConstraint("version_id", "rank"),
        CheckConstraint("combine IN ('all', 'any')", name="combine"),
        CheckConstraint("min_adb >= 0", name="min_adb"),
    )


class CustomerMonthAum(Base):
    """A customer's AUM summed over the days of one month (``aum_day_sum`` / ``days`` is
    the month's average daily AUM), the last day added and its AUM (to fill days without a
    feed), the month's contribution (fees and interest margin) and the number of distinct
    products held on the last day added."""

    __tablename__ = "customer_month_aum"

    # No foreign key: every row is computed from customers by the same statement, and
    # the check per row would double the cost of writing a million (bench/tiers.py).
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True, info=CUSTOMER_KEY)
    month: Mapped[date] = mapped_column(Date, primary_key=True)  # first day of the month
    aum_day_sum: Mapped[Decimal] = mapped_column(Decimal4)
    days: Mapped[int] = mapped_column(Integer)
    last_date: Mapped[date] = mapped_column(Date)
    last_aum: Mapped[Decimal] = mapped_column(Decimal4)
    contribution: Mapped[Decimal] = mapped_column(Decimal4, default=Decimal(0))
    products: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_customer_month_aum_month", "month"),)


class CustomerTier(Base):
    """Each customer's current tier, the state of a pending downgrade, and any pin. The
    decision behind it (month, rule version, figures, why) is the customer's latest
    ``TierDecision``: an evaluation rewrites only the rows that change."""

    __tablename__ = "customer_tiers"

    # No foreign key: every row is computed from customers by the same statement, and
    # the check per row would double the cost of writing a million (bench/tiers.py).
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True, info=CUSTOMER_KEY)
    tier_code: Mapped[str] = mapped_column(String(TIER_LEN))
    since: Mapped[date] = mapped_column(Date)
    months_below: Mapped[int] = mapped_column(Integer, default=0)  # grace months used
    pinned_tier: Mapped[str | None] = mapped_column(String(TIER_LEN))
    pin_reason: Mapped[str | None] = mapped_column(String(500))
    pin_expires: Mapped[date | None] = mapped_column(Date)
    pinned_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (
        Index("ix_customer_tiers_tier", "tier_code"),
        # The few pinned customers, found without reading a million rows (Oracle leaves
        # rows whose keys are all NULL out of an index by itself).
        Index("ix_customer_tiers_pinned", "pinned_tier",
              postgresql_where=text("pinned_tier IS NOT NULL"),
              sqlite_where=text("pinned_tier IS NOT NULL")),
    )


class TierDecision(Base):
    """One evaluation of one customer: the figures, the rule version, the outcome and the
    grace months — its explanation, worded by ``portal.vip.explain`` with the conditions of
    the rule version (versions never change once written)."""

    __tablename__ = "tier_decisions"

    # No foreign key: every row is computed from customers by the same statement, and
    # the check per row would double the cost of writing a million (bench/tiers.py).
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True, info=CUSTOMER_KEY)
    month: Mapped[date] = mapped_column(Date, primary_key=True)  # evaluated (its first day)
    rule_version: Mapped[int] = mapped_column(Integer)  # a TierRuleVersion (as above)
    from_tier: Mapped[str | None] = mapped_column(String(TIER_LEN))
    to_tier: Mapped[str] = mapped_column(String(TIER_LEN))
    qualified_tier: Mapped[str] = mapped_column(String(TIER_LEN))  # what the figures gave
    outcome: Mapped[str] = mapped_column(String(12))
    adb: Mapped[Decimal] = mapped_column(Decimal4)
    contribution: Mapped[Decimal] = mapped_column(Decimal4)
    products: Mapped[int] = mapped_column(Integer)
    # Consecutive months below the tier held: a hold's count, or what led to a downgrade.
    months_below: Mapped[int] = mapped_column(Integer, default=0)
    # A pinned decision's pin, as it stood (pins change; the decision keeps what it used).
    pin_expires: Mapped[date | None] = mapped_column(Date)
    pin_reason: Mapped[str | None] = mapped_column(String(500))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set once the RM was told of an upgrade or downgrade (the follow-up job is idempotent).
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Two indexes, the fewest for both ways in: a customer's history (the key) and a
    # month's decisions (the month; deduplicated, so cheap to grow by a million rows).
    __table_args__ = (
        Index("ix_tier_decisions_month", "month"),
        CheckConstraint("outcome IN ('new', 'upgrade', 'downgrade', 'held', 'unchanged', "
                        "'pinned', 'pin_expired')", name="outcome"),
    )


class TierEntitlement(Base):
    """What a tier is promised: an entitlement with a yearly quota (None: unlimited) and
    the service level for requests of it."""

    __tablename__ = "tier_entitlements"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    tier_code: Mapped[str] = mapped_column(String(TIER_LEN))
    code: Mapped[str] = mapped_column(String(30))
    yearly_quota: Mapped[int | None] = mapped_column(Integer)
    sla_hours: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("tier_code", "code"),
        CheckConstraint("yearly_quota IS NULL OR yearly_quota >= 0", name="yearly_quota"),
        CheckConstraint("sla_hours > 0", name="sla_hours"),
    )


class ServiceRequest(Base):
    __tablename__ = "service_requests"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    entitlement_code: Mapped[str] = mapped_column(String(30))
    tier_code: Mapped[str] = mapped_column(String(TIER_LEN))  # the tier when requested
    staff_id: Mapped[str] = mapped_column(String(32))  # the RM responsible
    branch_code: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12), default="open")
    note: Mapped[str | None] = mapped_column(String(1000))
    resolution: Mapped[str | None] = mapped_column(String(500))
    quota_year: Mapped[int] = mapped_column(Integer)
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)  # requested_at + the tier's SLA
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("status IN ('open', 'in_progress', 'fulfilled', 'rejected')",
                        name="status"),
        Index("ix_service_requests_customer_code_year", "customer_id", "entitlement_code",
              "quota_year"),
        Index("ix_service_requests_staff_status", "staff_id", "status"),
        Index("ix_service_requests_branch_status", "branch_code", "status"),
    )


VALUE_LAYERS = ("platinum", "gold", "iron", "lead")


class CustomerValueLayer(Base):
    """Each customer's layer of the customer value pyramid for the latest evaluated month,
    with the figures that placed them there (portal.vip.pyramid recomputes every row
    set-based after an evaluation; the reports only count and list them)."""

    __tablename__ = "customer_value_layers"

    # No foreign key: every row is computed from customers by the same statement, and
    # the check per row would double the cost of writing a million (bench/tiers.py).
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True, info=CUSTOMER_KEY)
    month: Mapped[date] = mapped_column(Date)  # the evaluated month (its first day)
    layer: Mapped[str] = mapped_column(String(8))
    value: Mapped[Decimal] = mapped_column(Decimal4)  # the month's contribution
    adb: Mapped[Decimal] = mapped_column(Decimal4)  # the month's average daily AUM
    start_adb: Mapped[Decimal | None] = mapped_column(Decimal4)  # at the trend window's start
    inflow: Mapped[Decimal] = mapped_column(Decimal4)  # the month's income inflows, CNY
    value_rank: Mapped[int] = mapped_column(Integer)  # 1 = the bank's most valuable
    growing: Mapped[bool] = mapped_column(Boolean)
    wallet_signal: Mapped[bool] = mapped_column(Boolean)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("layer IN ('platinum', 'gold', 'iron', 'lead')", name="layer"),
        # A layer's customers, most valuable first (the drill-down's page).
        Index("ix_customer_value_layers_layer", "layer", "value"),
    )
