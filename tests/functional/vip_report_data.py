"""Test data of the tier reports: the functional ``bank`` (loaded through the real feed
pipeline) plus four customers of a second feed, with their balances refreshed by the
real nightly metrics job; tier decisions, current tiers and monthly aggregates are then
written directly, as the monthly evaluation would have.

Customers (branch, RM, AUM in CNY after the metrics refresh):
C1 张三 S011 RM0001 167,600 · C2 李四 S012 RM0002 50,000 · C3 王五 S021 RM0003 8,000 ·
C4 <script> S011 RM0001 0 · C5 赵六 S011 RM0001 900,000 · C6 钱七 S012 RM0002 70,000 ·
C7 孙八 S021 RM0003 2,500,000 · C8 周九 S011 RM0001 CLOSED 0."""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from integration import models as m
from integration.pipeline import import_file
from portal.vip.models import CustomerMonthAum, CustomerTier, TierDecision
from portal.workbench.metrics import refresh_metrics
from tests.feeds import BDATE, write

MONTH = date(2026, 10, 1)      # the evaluated month
PREVIOUS = date(2026, 9, 1)
TREND_START = date(2026, 8, 1)  # the value pyramid's trend window start (3 months)


def more_customers(feed):  # type: ignore[no-untyped-def]
    feed.customer("C5", "赵六", branch="S011", manager="RM0001", mobile="13700002222")
    feed.customer("C6", "钱七", branch="S012", manager="RM0002")
    feed.customer("C7", "孙八", branch="S021", manager="RM0003")
    feed.customer("C8", "周九", branch="S011", manager="RM0001", status="CLOSED")
    feed.account("A5", "C5", product="SAV", type="SAVINGS", currency="CNY",
                 balance="900000.00", branch="S011")
    feed.account("A6", "C6", product="SAV", type="SAVINGS", currency="CNY",
                 balance="70000.00", branch="S012")
    feed.account("A7", "C7", product="SAV", type="SAVINGS", currency="CNY",
                 balance="2500000.00", branch="S021")
    # 王五's salary in the evaluated month: large against an AUM of 8,000.
    feed.transaction("SAL-C3", "A3", booking_date=date(2026, 10, 15), amount="6000.00",
                     currency="CNY", type="TRANSFER_IN", channel="AUTO")


@dataclass
class Customers:
    ids: dict[str, int]  # C1 … C8 → golden customer id

    def __getitem__(self, source_id: str) -> int:
        return self.ids[source_id]


@pytest.fixture
def customers(engine: Engine, bank: Any, tmp_path: Any) -> Customers:
    path = write(tmp_path / "more.xml", more_customers, sequence=2)
    result = import_file(engine, path, max_bytes=10**8, chunk=50)
    assert result.status == "applied", result.reason
    with Session(engine) as session, session.begin():
        refresh_metrics(session, BDATE)
    with engine.connect() as conn:
        rows = conn.execute(select(m.CustomerSource.source_id, m.CustomerSource.customer_id))
        return Customers(ids={source_id: cid for source_id, cid in rows})


def set_tier(session: Session, customer_id: int, tier: str, since: date = MONTH,
             months_below: int = 0, **pin: Any) -> CustomerTier:
    row = CustomerTier(customer_id=customer_id, tier_code=tier, since=since,
                       months_below=months_below, **pin)
    session.add(row)
    return row


def decide(session: Session, customer_id: int, from_tier: str | None, to_tier: str,
           outcome: str, adb: str, month: date = MONTH, version: int = 1,
           contribution: str = "0", qualified: str | None = None,
           months_below: int = 0, **pin: Any) -> TierDecision:
    row = TierDecision(customer_id=customer_id, month=month, rule_version=version,
                       from_tier=from_tier, to_tier=to_tier, qualified_tier=qualified or to_tier,
                       outcome=outcome, adb=Decimal(adb), contribution=Decimal(contribution),
                       products=1, months_below=months_below, **pin)
    session.add(row)
    return row


def month_aum(session: Session, customer_id: int, month: date, adb: str,
              contribution: str = "0") -> CustomerMonthAum:
    """A month whose average daily AUM is ``adb`` (every day of the month covered)."""
    days = calendar.monthrange(month.year, month.month)[1]
    row = CustomerMonthAum(customer_id=customer_id, month=month,
                           aum_day_sum=Decimal(adb) * days, days=days,
                           last_date=date(month.year, month.month, days),
                           last_aum=Decimal(adb), contribution=Decimal(contribution))
    session.add(row)
    return row
