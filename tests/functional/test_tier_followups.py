"""What follows an evaluation: retention tasks (the 10 % margin's boundary, falling against
rising AUM, pins, closed customers, idempotence) and one tier-change notification per RM
per month (summaries, idempotence)."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from integration.jobs import nightly_jobs, run_nightly
from portal.models import User
from portal.vip.followups import run_followups
from portal.vip.models import TierDecision
from portal.workbench.models import Notification, Task
from tests.feeds import BDATE
from tests.functional.vip_report_data import (  # noqa: F401 - fixtures
    MONTH,
    PREVIOUS,
    Customers,
    customers,
    decide,
    month_aum,
    set_tier,
)

NOVEMBER = date(2026, 11, 1)


def tasks(engine) -> dict[int, Task]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return {t.customer_id: t for t in session.scalars(
            select(Task).where(Task.kind == "retention"))}


def run(engine) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        return run_followups(session, BDATE)


# -- retention -------------------------------------------------------------------------------

@pytest.fixture
def near(engine, customers: Customers) -> Customers:  # type: ignore[no-untyped-def]
    """Tiers and October decisions around the thresholds of rule version 1 (gold 50,000,
    platinum 500,000, diamond 2,000,000); AUM today from the feeds."""
    c = customers
    cases = {  # customer: (tier, decision's ADB, October's ADB, September's ADB)
        "C2": ("gold", "54999.99", "52000", "56000"),      # near, month falling
        "C6": ("gold", "55000.00", "60000", "65000"),      # exactly 10 % above: not near
        "C1": ("gold", "54000", "54000", "50000"),         # near, rising (today 167,600)
        "C5": ("platinum", "540000", "950000", "900000"),  # month rising, today 900,000 below
        "C7": ("diamond", "1900000", "1900000", "2000000"),  # held below its threshold
        "C8": ("gold", "51000", "51000", "60000"),         # CLOSED
    }
    with Session(engine) as session, session.begin():
        for source, (tier, adb, october, september) in cases.items():
            set_tier(session, c[source], tier)
            decide(session, c[source], tier, tier, "held" if source == "C7" else "unchanged",
                   adb)
            month_aum(session, c[source], MONTH, october)
            month_aum(session, c[source], PREVIOUS, september)
    return customers


def test_retention_tasks_for_customers_near_their_threshold_and_falling(engine, near) -> None:  # type: ignore[no-untyped-def]
    summary = run(engine)
    found = tasks(engine)
    assert set(found) == {near["C2"], near["C5"], near["C7"]}
    assert summary["retention_tasks"] == 3 and summary["month"] == "2026-10"
    li = found[near["C2"]]
    assert (li.assignee_staff_id, li.branch_code, li.status, li.priority) == \
        ("RM0002", "S012", "open", "normal")
    assert li.dedupe_key == f"retention:{near['C2']}:2026-10"
    assert li.due_date == BDATE + timedelta(days=14)
    assert li.created_by is None and li.title
    assert li.reason == {"rule": "retention", "tier": "gold", "tier_en": "Gold",
                         "tier_zh": "金卡", "month": "2026-10",
                         "adb": "54999.9900", "threshold": "50000.0000", "margin_percent": 10,
                         "aum": "50000.0000", "month_adb": "52000.0000",
                         "previous_adb": "56000.0000"}
    # 赵六's October averaged 950,000; today's 900,000 is the fall.
    assert found[near["C5"]].reason["aum"] == "900000.0000"
    assert found[near["C5"]].assignee_staff_id == "RM0001"
    # 孙八 is already below the diamond threshold, held by the grace period: most urgent.
    assert found[near["C7"]].priority == "high"


def test_retention_is_idempotent(engine, near) -> None:  # type: ignore[no-untyped-def]
    run(engine)
    again = run(engine)
    assert again["retention_tasks"] == 0 and len(tasks(engine)) == 3


@pytest.mark.parametrize("expires, task", [(BDATE, False), (BDATE - timedelta(days=1), True),
                                           (None, False)])
def test_a_pin_in_force_holds_off_retention(engine, near, expires, task) -> None:  # type: ignore[no-untyped-def]
    from portal.vip.models import CustomerTier

    with Session(engine) as session, session.begin():
        tier = session.get(CustomerTier, near["C2"])
        tier.pinned_tier, tier.pin_reason, tier.pin_expires = "gold", "family office", expires
    run(engine)
    assert (near["C2"] in tasks(engine)) is task


def test_the_base_tier_needs_no_retention(engine, customers) -> None:  # type: ignore[no-untyped-def]
    from portal.vip.models import TierDefinition

    with Session(engine) as session, session.begin():
        # A base tier with a threshold (a bank may set one): still no retention for it.
        session.execute(update(TierDefinition).where(TierDefinition.code == "standard")
                        .values(min_adb=1000))
        set_tier(session, customers["C3"], "standard")
        decide(session, customers["C3"], "standard", "standard", "unchanged", "1050")
        month_aum(session, customers["C3"], MONTH, "1050")
        month_aum(session, customers["C3"], PREVIOUS, "9000")
    run(engine)
    assert tasks(engine) == {}


def test_one_open_retention_task_at_a_time(engine, near) -> None:  # type: ignore[no-untyped-def]
    run(engine)
    with Session(engine) as session, session.begin():
        # November is evaluated: 李四 is still near and falling.
        decide(session, near["C2"], "gold", "gold", "unchanged", "54000", month=NOVEMBER)
        month_aum(session, near["C2"], NOVEMBER, "50000")
    assert run(engine)["retention_tasks"] == 0  # October's task is still open
    with Session(engine) as session, session.begin():
        session.execute(update(Task).where(Task.customer_id == near["C2"])
                        .values(status="done"))
    assert run(engine)["retention_tasks"] == 1
    with Session(engine) as session:
        keys = set(session.scalars(select(Task.dedupe_key)
                                   .where(Task.customer_id == near["C2"])))
    assert keys == {f"retention:{near['C2']}:2026-10", f"retention:{near['C2']}:2026-11"}


def test_nothing_to_follow_before_the_first_evaluation(engine, customers) -> None:  # type: ignore[no-untyped-def]
    assert run(engine) == {"skipped": "no evaluation yet"}


# -- notifications ---------------------------------------------------------------------------

@pytest.fixture
def changes(engine, customers: Customers, users) -> Customers:  # type: ignore[no-untyped-def]
    c = customers
    with Session(engine) as session, session.begin():
        decide(session, c["C1"], "standard", "gold", "upgrade", "160000")
        decide(session, c["C5"], "gold", "platinum", "upgrade", "880000")
        decide(session, c["C4"], "standard", "standard", "unchanged", "0")
        decide(session, c["C8"], "gold", "standard", "downgrade", "0")
        decide(session, c["C6"], "platinum", "gold", "downgrade", "60000")
        decide(session, c["C2"], "gold", "gold", "unchanged", "52000")
        decide(session, c["C7"], "diamond", "diamond", "held", "1900000")
        decide(session, c["C3"], None, "standard", "new", "8000")
    return customers


def bell(engine, username: str) -> list[Notification]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return list(session.scalars(
            select(Notification).join(User, User.id == Notification.user_id)
            .where(User.username == username).order_by(Notification.id)))


def test_one_notification_per_rm_summarising_the_month(engine, changes) -> None:  # type: ignore[no-untyped-def]
    summary = run(engine)
    assert summary["tier_changes_notified"] == 4 and summary["notifications"] == 2
    (rm1,) = bell(engine, "rm1")
    assert rm1.kind == "tier_changed" and rm1.customer_id is None
    # 周九 (C8) is CLOSED: the downgrade is marked, but no news to an RM.
    assert rm1.params == {"month": "2026-10", "upgrades": 2, "downgrades": 0, "count": 2}
    # RM0002 has one change: the notification is about 钱七.
    (rm2,) = bell(engine, "rm2")
    assert rm2.customer_id == changes["C6"]
    assert rm2.params == {"month": "2026-10", "upgrades": 0, "downgrades": 1, "count": 1,
                          "customer": "钱七", "customer_id": changes["C6"],
                          "outcome": "downgrade", "from": "platinum", "from_en": "Platinum",
                          "from_zh": "白金", "to": "gold", "to_en": "Gold", "to_zh": "金卡"}
    assert bell(engine, "rm3") == []  # a hold and a first evaluation are no change


def test_notifications_are_sent_once(engine, changes) -> None:  # type: ignore[no-untyped-def]
    run(engine)
    with Session(engine) as session:
        told = {d.customer_id for d in session.scalars(
            select(TierDecision).where(TierDecision.notified_at.is_not(None)))}
    assert told == {changes[c] for c in ("C1", "C5", "C8", "C6")}
    again = run(engine)
    assert again["tier_changes_notified"] == 0 and again["notifications"] == 0
    assert len(bell(engine, "rm1")) == 1 and len(bell(engine, "rm2")) == 1


def test_a_change_decided_later_in_the_month_is_told_on_its_own(engine, changes) -> None:  # type: ignore[no-untyped-def]
    run(engine)
    with Session(engine) as session, session.begin():
        session.execute(update(TierDecision).where(TierDecision.customer_id == changes["C2"])
                        .values(to_tier="standard", outcome="downgrade"))
    assert run(engine)["notifications"] == 1
    latest = bell(engine, "rm2")[-1]
    assert latest.customer_id == changes["C2"] and latest.params["to_en"] == "Standard"


def test_no_one_to_tell_without_an_active_user(engine, changes) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        session.execute(update(User).where(User.username == "rm2").values(active=False))
    summary = run(engine)
    assert summary["tier_changes_notified"] == 4 and summary["notifications"] == 1
    assert run(engine)["tier_changes_notified"] == 0


def test_a_pin_that_moves_the_tier_and_its_expiry_are_told_too(engine, customers, users) -> None:  # type: ignore[no-untyped-def]
    c = customers
    with Session(engine) as session, session.begin():
        decide(session, c["C2"], "gold", "platinum", "pinned", "52000")       # pinned up
        decide(session, c["C1"], "platinum", "gold", "pin_expired", "60000")  # pin ended
        decide(session, c["C5"], "gold", "gold", "pinned", "52000")           # no change
    summary = run(engine)
    assert summary["tier_changes_notified"] == 2
    (rm2,) = bell(engine, "rm2")
    assert (rm2.customer_id, rm2.params["outcome"], rm2.params["upgrades"],
            rm2.params["to_en"]) == (c["C2"], "pinned", 1, "Platinum")
    (rm1,) = bell(engine, "rm1")
    assert (rm1.customer_id, rm1.params["outcome"], rm1.params["downgrades"]) == \
        (c["C1"], "pin_expired", 1)


def test_retention_reads_in_both_languages(app, engine, near) -> None:  # type: ignore[no-untyped-def]
    from portal.workbench.reasons import describe

    run(engine)
    found = tasks(engine)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        near_text = describe(found[near["C2"]].reason)
        held_text = describe(found[near["C7"]].reason)
    assert "54,999.99" in near_text and "within 10% above" in near_text
    assert "Gold" in near_text and "50,000.00" in near_text and "falling" in near_text
    assert "below" in held_text and "Diamond" in held_text and "grace" in held_text
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        chinese = describe(found[near["C2"]].reason)
    assert "金卡" in chinese and "Gold" not in chinese and "54,999.99" in chinese


def test_registered_as_nightly_jobs_after_the_evaluation(engine, changes) -> None:  # type: ignore[no-untyped-def]
    jobs = {job.name: job.order for job in nightly_jobs()}
    assert jobs["customer_metrics"] < jobs["tier_followups"] < jobs["value_pyramid"]
    evaluation = [order for name, order in jobs.items()
                  if "tier" in name and ("evaluat" in name or "aum" in name)
                  and name not in ("tier_followups",)]
    assert all(order < jobs["tier_followups"] for order in evaluation)
    results = run_nightly(engine, BDATE, only={"tier_followups", "value_pyramid"})
    assert results["tier_followups"]["notifications"] == 2
    assert "error" not in results["value_pyramid"]


def test_the_set_based_statements_compile_for_oracle() -> None:
    from sqlalchemy.dialects import oracle

    from integration.db import utcnow
    from portal.vip.followups import retention_candidates
    from portal.vip.pyramid import DEFAULT_RULES, layer_rows

    dialect = oracle.dialect()
    retention = str(retention_candidates(MONTH, BDATE, "oracle").compile(dialect=dialect))
    assert "JSON_OBJECT(KEY 'rule' VALUE" in retention
    assert "GROUP BY tasks.customer_id" in retention and "handled.customer_id IS NULL" in retention
    layers = str(layer_rows(MONTH, 100, DEFAULT_RULES, "oracle", utcnow())
                 .compile(dialect=dialect))
    assert "rank() OVER (ORDER BY" in layers and "trunc(" in layers
