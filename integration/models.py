"""The unified customer model: reference data, golden customers, their products and feeds."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from integration.db import Base, Decimal4, UTCDateTime, utcnow

Money = Decimal4  # amounts, rates and units arrive with up to 4 fraction digits
# Surrogate keys use Identity(): an identity column on PostgreSQL and Oracle, the rowid on
# SQLite (which autoincrements only an INTEGER primary key, hence the variant).
BigId = BigInteger().with_variant(Integer(), "sqlite")

SOURCE_LEN = 16
KEY_LEN = 64


class Branch(Base):
    __tablename__ = "branches"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("branches.code"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(SOURCE_LEN))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("feed_batches.id"))

    parent: Mapped[Branch | None] = relationship(remote_side=[code])


class Product(Base):
    __tablename__ = "products"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(20), index=True)
    risk_level: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    min_amount: Mapped[Decimal | None] = mapped_column(Money)
    term_days: Mapped[int | None] = mapped_column(Integer)
    expected_return: Mapped[Decimal | None] = mapped_column(Money)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(SOURCE_LEN))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("feed_batches.id"))

    __table_args__ = (
        CheckConstraint("risk_level IN ('R1','R2','R3','R4','R5')", name="risk_level"),
    )


class FxRate(Base):
    __tablename__ = "fx_rates"

    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    to_cny: Mapped[Decimal] = mapped_column(Money)
    source: Mapped[str] = mapped_column(String(SOURCE_LEN))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("feed_batches.id"))


# Marks a column holding a customer's id without a foreign key: derived per-customer tables
# written a million rows at a time by set-based SQL from customers itself (the per-row
# check would double their cost; customers are closed, never deleted).
CUSTOMER_KEY = {"key_of": "customers.id"}


class Customer(Base):
    """The golden record: one row per person, whatever systems know them."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    gender: Mapped[str | None] = mapped_column(String(1))
    birth_date: Mapped[date | None] = mapped_column(Date)
    id_type: Mapped[str | None] = mapped_column(String(20))
    id_number: Mapped[str | None] = mapped_column(String(64))
    id_expiry: Mapped[date | None] = mapped_column(Date)
    # "TYPE:number" when the document is trustworthy enough to merge sources on.
    identity_key: Mapped[str | None] = mapped_column(String(90), unique=True)
    mobile: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(400))
    occupation: Mapped[str | None] = mapped_column(String(100))
    annual_income: Mapped[Decimal | None] = mapped_column(Money)
    branch_code: Mapped[str | None] = mapped_column(ForeignKey("branches.code"))
    manager_staff_id: Mapped[str | None] = mapped_column(String(32))
    open_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="ACTIVE")
    kyc_review_due: Mapped[date | None] = mapped_column(Date)
    # {field: [source, batch_id, business_date]} for every field the feeds set.
    provenance: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Data-quality findings, e.g. a resident ID whose checksum does not verify.
    dq_warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    sources: Mapped[list[CustomerSource]] = relationship(back_populates="customer")
    accounts: Mapped[list[Account]] = relationship(back_populates="customer")

    __table_args__ = (
        CheckConstraint("status IN ('ACTIVE','DORMANT','CLOSED')", name="status"),
        Index("ix_customers_name", "name"),
        Index("ix_customers_mobile", "mobile"),
        Index("ix_customers_id_number", "id_number"),
        Index("ix_customers_branch_manager", "branch_code", "manager_staff_id"),
        Index("ix_customers_manager", "manager_staff_id"),
    )


class CustomerSource(Base):
    """A (source, source id) cross-reference to the golden record."""

    __tablename__ = "customer_sources"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    source: Mapped[str] = mapped_column(String(SOURCE_LEN))
    source_id: Mapped[str] = mapped_column(String(KEY_LEN))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("feed_batches.id"))
    business_date: Mapped[date] = mapped_column(Date)

    customer: Mapped[Customer] = relationship(back_populates="sources")

    __table_args__ = (
        UniqueConstraint("source", "source_id"),
        # Search by any source's customer number.
        Index("ix_customer_sources_source_id", "source_id"),
    )


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    source: Mapped[str] = mapped_column(String(SOURCE_LEN))
    source_id: Mapped[str] = mapped_column(String(KEY_LEN))  # the account number
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    product_code: Mapped[str] = mapped_column(ForeignKey("products.code"))
    type: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[Decimal] = mapped_column(Money)
    balance_date: Mapped[date] = mapped_column(Date)
    open_date: Mapped[date | None] = mapped_column(Date)
    maturity_date: Mapped[date | None] = mapped_column(Date)
    interest_rate: Mapped[Decimal | None] = mapped_column(Money)
    credit_limit: Mapped[Decimal | None] = mapped_column(Money)
    overdue_days: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="ACTIVE")
    branch_code: Mapped[str | None] = mapped_column(ForeignKey("branches.code"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("feed_batches.id"))

    customer: Mapped[Customer] = relationship(back_populates="accounts")

    __table_args__ = (
        UniqueConstraint("source", "source_id"),
        Index("ix_accounts_source_id", "source_id"),
        Index("ix_accounts_maturity_date", "maturity_date"),
    )


class Holding(Base):
    __tablename__ = "holdings"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    source: Mapped[str] = mapped_column(String(SOURCE_LEN))
    source_id: Mapped[str] = mapped_column(String(KEY_LEN))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    product_code: Mapped[str] = mapped_column(ForeignKey("products.code"))
    units: Mapped[Decimal] = mapped_column(Money)
    market_value: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    cost: Mapped[Decimal | None] = mapped_column(Money)
    valuation_date: Mapped[date | None] = mapped_column(Date)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("feed_batches.id"))

    __table_args__ = (UniqueConstraint("source", "source_id"),)


class Transaction(Base):
    __tablename__ = "transactions"

    id: Mapped[int] = mapped_column(BigId, Identity(), primary_key=True)
    source: Mapped[str] = mapped_column(String(SOURCE_LEN))
    source_id: Mapped[str] = mapped_column(String(KEY_LEN))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    booking_date: Mapped[date] = mapped_column(Date)
    value_date: Mapped[date | None] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    type: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(8))
    counterparty_name: Mapped[str | None] = mapped_column(String(200))
    counterparty_account: Mapped[str | None] = mapped_column(String(64))
    counterparty_bank: Mapped[str | None] = mapped_column(String(100))
    narrative: Mapped[str | None] = mapped_column(String(500))
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("feed_batches.id"))

    __table_args__ = (
        UniqueConstraint("source", "source_id"),
        # The 360 view's recent transactions and monthly flows.
        Index("ix_transactions_account_booking", "account_id", "booking_date"),
    )


class FeedBatch(Base):
    """One row per file the pipeline was given, whatever became of it."""

    __tablename__ = "feed_batches"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    file_name: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    file_size: Mapped[int] = mapped_column(BigInteger)
    adapter: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(SOURCE_LEN))
    sequence: Mapped[int | None] = mapped_column(Integer)
    business_date: Mapped[date | None] = mapped_column(Date)
    delivery_key: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(10), default="running")
    records_read: Mapped[int] = mapped_column(Integer, default=0)
    records_applied: Mapped[int] = mapped_column(Integer, default=0)
    records_quarantined: Mapped[int] = mapped_column(Integer, default=0)
    records_rejected: Mapped[int] = mapped_column(Integer, default=0)
    released: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(Text)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint(
            "status IN ('running','applied','partial','duplicate','rejected')", name="status"
        ),
        Index("ix_feed_batches_source_sequence", "source", "sequence"),
    )


class FeedDelivery(Base):
    """A delivery that was applied; its key makes re-delivery a duplicate, even in a race."""

    __tablename__ = "feed_deliveries"

    source: Mapped[str] = mapped_column(String(SOURCE_LEN), primary_key=True)
    delivery_key: Mapped[str] = mapped_column(String(500), primary_key=True)
    sequence: Mapped[int | None] = mapped_column(Integer)
    batch_id: Mapped[int] = mapped_column(ForeignKey("feed_batches.id"))


class QuarantinedRecord(Base):
    """A record that could not be applied, with why and, if known, what it waits for."""

    __tablename__ = "quarantined_records"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("feed_batches.id"), index=True)
    source: Mapped[str] = mapped_column(String(SOURCE_LEN))
    business_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    record_key: Mapped[str] = mapped_column(String(KEY_LEN + 40))
    # INVALID: breaks the format; MISSING_REF: refers to something not (yet) known.
    reason_code: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(String(1000))
    waiting_kind: Mapped[str | None] = mapped_column(String(16))
    waiting_key: Mapped[str | None] = mapped_column(String(KEY_LEN + 40))
    # The record's typed values (JSON) when valid, else its raw XML.
    payload: Mapped[str] = mapped_column(Text)
    payload_format: Mapped[str] = mapped_column(String(4))
    op: Mapped[str] = mapped_column(String(8), default="upsert")
    status: Mapped[str] = mapped_column(String(10), default="waiting")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_batch_id: Mapped[int | None] = mapped_column(ForeignKey("feed_batches.id"))
    resolved_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint(
            "status IN ('waiting','applied','discarded','superseded')", name="status"
        ),
        CheckConstraint("reason_code IN ('INVALID','MISSING_REF')", name="reason_code"),
        Index("ix_quarantined_records_waiting", "status", "waiting_kind", "waiting_key"),
    )


class StagedTransaction(Base):
    """Scratch rows of the batch being imported; emptied before the batch commits."""

    __tablename__ = "staged_transactions"

    batch_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(SOURCE_LEN))
    source_id: Mapped[str] = mapped_column(String(KEY_LEN))
    account: Mapped[str] = mapped_column(String(KEY_LEN))
    booking_date: Mapped[date] = mapped_column(Date)
    value_date: Mapped[date | None] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    type: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(8))
    counterparty_name: Mapped[str | None] = mapped_column(String(200))
    counterparty_account: Mapped[str | None] = mapped_column(String(64))
    counterparty_bank: Mapped[str | None] = mapped_column(String(100))
    narrative: Mapped[str | None] = mapped_column(String(500))
    op: Mapped[str] = mapped_column(String(8))


class JobLock(Base):
    """A named lease, so only one scheduler process runs a job at a time."""

    __tablename__ = "job_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
