"""CRM-owned data of the RM workbench: tasks, contacts, the contact policy, opportunities,
notifications, saved views of the book, and each customer's balances in CNY.

Workbench records carry the staff id they belong to and the branch they concern, so scope
(portal.scope.restrict_work) is one indexed condition: an RM's own records, a branch
manager's subtree."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from integration.bank_calendar import bank_today
from integration.db import Base, Decimal4, UTCDateTime, utcnow
from integration.models import CUSTOMER_KEY

STAFF_LEN = 32
TASK_KINDS = ("manual", "follow_up", "handover", "td_maturity", "birthday", "kyc_review",
              "id_expiry", "large_flow", "dormancy", "retention")
TASK_STATUSES = ("open", "done", "cancelled")
PRIORITIES = ("high", "normal", "low")
RECURRENCES = ("weekly", "monthly", "quarterly", "yearly")
CONTACT_CHANNELS = ("visit", "call", "meeting", "message")
CONTACT_PURPOSES = ("relationship", "service", "sales", "review", "kyc", "complaint", "other")
STAGES = ("lead", "contacted", "needs_analysis", "proposal", "won", "lost")
OPEN_STAGES = STAGES[:4]
LOST_REASONS = ("price", "competitor", "not_suitable", "no_need", "no_response", "other")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    assignee_staff_id: Mapped[str] = mapped_column(String(STAFF_LEN))
    # The customer's branch (or the assignee's, for a task about no customer): scope.
    branch_code: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(20), default="manual")
    title: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(String(2000))
    # Why a generated task exists: its rule and the figures it saw, rendered per locale.
    reason: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    due_date: Mapped[date] = mapped_column(Date)
    priority: Mapped[str] = mapped_column(String(6), default="normal")
    status: Mapped[str] = mapped_column(String(10), default="open")
    outcome: Mapped[str | None] = mapped_column(String(500))
    recurrence: Mapped[str | None] = mapped_column(String(10))
    # Generated tasks: one per (rule, subject, occasion); the unique key makes the nightly
    # job idempotent however often it runs.
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: the job
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(_in("kind", TASK_KINDS), name="kind"),
        CheckConstraint(_in("status", TASK_STATUSES), name="status"),
        CheckConstraint(_in("priority", PRIORITIES), name="priority"),
        CheckConstraint("recurrence IS NULL OR " + _in("recurrence", RECURRENCES),
                        name="recurrence"),
        Index("ix_tasks_assignee_status_due", "assignee_staff_id", "status", "due_date"),
        Index("ix_tasks_branch_status_due", "branch_code", "status", "due_date"),
        Index("ix_tasks_customer_status_due", "customer_id", "status", "due_date"),
    )


class Contact(Base):
    """A visit, call, meeting or message with a customer."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    # Who logged it: their staff id (None for staff without one, e.g. a branch manager;
    # user_id always says who).
    staff_id: Mapped[str | None] = mapped_column(String(STAFF_LEN))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    branch_code: Mapped[str | None] = mapped_column(String(32))
    contacted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(10))
    purpose: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(1000))
    next_step: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint(_in("channel", CONTACT_CHANNELS), name="channel"),
        CheckConstraint(_in("purpose", CONTACT_PURPOSES), name="purpose"),
        Index("ix_contacts_customer_at", "customer_id", "contacted_at"),
        Index("ix_contacts_staff_at", "staff_id", "contacted_at"),
        Index("ix_contacts_branch_at", "branch_code", "contacted_at"),
    )


class ContactPolicy(Base):
    """Customers with AUM at or above ``min_aum`` are to be contacted every
    ``interval_days``; the highest band a customer reaches applies."""

    __tablename__ = "contact_policies"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    min_aum: Mapped[Decimal] = mapped_column(Decimal4, unique=True)
    interval_days: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("interval_days > 0", name="interval_days"),
        CheckConstraint("min_aum >= 0", name="min_aum"),
    )


class Opportunity(Base):
    __tablename__ = "opportunities"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    owner_staff_id: Mapped[str] = mapped_column(String(STAFF_LEN))
    branch_code: Mapped[str | None] = mapped_column(String(32))
    product_code: Mapped[str] = mapped_column(ForeignKey("products.code"))
    amount: Mapped[Decimal] = mapped_column(Decimal4)  # CNY
    stage: Mapped[str] = mapped_column(String(16), default="lead")
    expected_close: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(1000))
    lost_reason: Mapped[str | None] = mapped_column(String(20))
    lost_note: Mapped[str | None] = mapped_column(String(500))
    won_on: Mapped[date | None] = mapped_column(Date)
    lost_on: Mapped[date | None] = mapped_column(Date)  # the board shows recent losses
    # What confirmation against the feeds compares with (portal.workbench.confirmation):
    # the bank's date it was created on, and the units of the product the customer held
    # then (0 when none).
    created_on: Mapped[date] = mapped_column(Date, default=bank_today)
    baseline_units: Mapped[Decimal] = mapped_column(Decimal4, default=Decimal(0))
    # Set when the feeds show the product on the customer's accounts or holdings.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_by: Mapped[str | None] = mapped_column(String(120))  # e.g. "account CBS 6222…"
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint(_in("stage", STAGES), name="stage"),
        CheckConstraint("lost_reason IS NULL OR " + _in("lost_reason", LOST_REASONS),
                        name="lost_reason"),
        CheckConstraint("amount > 0", name="amount"),
        Index("ix_opportunities_owner_stage", "owner_staff_id", "stage"),
        Index("ix_opportunities_branch_stage", "branch_code", "stage"),
        Index("ix_opportunities_customer", "customer_id"),
        # The nightly confirmation looks for won opportunities not yet confirmed.
        Index("ix_opportunities_stage_confirmed", "stage", "confirmed_at"),
    )


class OpportunityStageChange(Base):
    __tablename__ = "opportunity_stage_changes"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    lost_reason: Mapped[str | None] = mapped_column(String(20))  # kept when it is reopened
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(Base):
    """A message in a user's bell: what happened (kind + params, rendered per locale) and
    what it is about (a customer, a task)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(30))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_notifications_user_read", "user_id", "read_at", "created_at"),
    )


class SavedView(Base):
    """A user's named filters and sort of the book of business."""

    __tablename__ = "saved_views"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(60))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "name"),)


class CustomerMetrics(Base):
    """Each customer's AUM and liabilities in CNY as of the last refresh, recomputed
    set-based after the feeds (portal.workbench.metrics), so the book sorts and filters
    100,000 customers without summing their accounts per request, with the number of
    distinct products they hold; and the effective
    manager and branch the customer had then, so the next refresh sees whom the feeds
    moved (portal.workbench.follow)."""

    __tablename__ = "customer_metrics"

    # No foreign key: every row is computed from customers by the same statement, and
    # the check per row would double the cost of writing a million (bench/tiers.py).
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True, info=CUSTOMER_KEY)
    aum: Mapped[Decimal] = mapped_column(Decimal4)
    liabilities: Mapped[Decimal] = mapped_column(Decimal4)
    # Distinct products among the open accounts and holdings (tiers may ask for a number).
    products: Mapped[int] = mapped_column(Integer, default=0)
    as_of: Mapped[date] = mapped_column(Date)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    manager_staff_id: Mapped[str | None] = mapped_column(String(STAFF_LEN))
    branch_code: Mapped[str | None] = mapped_column(String(32))
