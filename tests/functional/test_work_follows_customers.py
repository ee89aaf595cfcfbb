"""When the feeds name another RM or branch for a customer, the customer's open work and
records follow them at the next nightly refresh (portal.workbench.follow)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.pipeline import import_file
from portal import audit
from portal.assignments import reassign
from portal.models import User
from portal.scope import restrict_work, scope_for
from portal.vip.models import ServiceRequest
from portal.workbench.metrics import refresh_metrics
from portal.workbench.models import Contact, Notification, Opportunity, Task
from tests.feeds import BDATE, write

NEXT_DAY = BDATE + timedelta(days=1)


@pytest.fixture
def session(app, users) -> Iterator[Session]:  # type: ignore[no-untyped-def]
    from portal.extensions import db

    with app.app_context():
        session = db.sessions()
        refresh_metrics(session, BDATE)  # the snapshot: who held each customer last night
        session.commit()
        yield session
        session.rollback()
        session.close()


def user(session: Session, username: str) -> User:
    return session.scalars(select(User).where(User.username == username)).one()


def feed_moves(engine, tmp_path, customer: str, name: str, *, manager: str, branch: str,
               sequence: int = 2) -> None:
    """The next night's CBS feed names another manager or branch for the customer."""
    def build(feed):  # type: ignore[no-untyped-def]
        feed.customer(customer, name, branch=branch, manager=manager)

    path = write(tmp_path / f"move-{sequence}.xml", build, business_date=NEXT_DAY,
                 sequence=sequence)
    result = import_file(engine, path, max_bytes=10**7)
    assert result.status == "applied", result.reason


def work_of(session: Session, customer_id: int, staff: str = "RM0001") -> dict[str, int]:
    """One record of each kind about the customer, held by ``staff``: open and closed."""
    rm = user(session, "rm1")
    rows = {
        "open_task": Task(customer_id=customer_id, assignee_staff_id=staff, branch_code="S011",
                          title="Renew the TD", due_date=NEXT_DAY, status="open"),
        "done_task": Task(customer_id=customer_id, assignee_staff_id=staff, branch_code="S011",
                          title="Welcome call", due_date=BDATE, status="done"),
        "advisers_task": Task(customer_id=customer_id, assignee_staff_id="AD0001",
                              branch_code="S011", title="Plan review", due_date=NEXT_DAY),
        "open_opportunity": Opportunity(
            customer_id=customer_id, owner_staff_id=staff, branch_code="S011",
            product_code="FUND1", amount=Decimal(100000), stage="proposal",
            expected_close=date(2026, 12, 31)),
        "won_opportunity": Opportunity(
            customer_id=customer_id, owner_staff_id=staff, branch_code="S011",
            product_code="FUND1", amount=Decimal(50000), stage="won",
            expected_close=date(2026, 11, 1), won_on=date(2026, 11, 1)),
        "open_request": ServiceRequest(
            customer_id=customer_id, entitlement_code="airport_lounge", tier_code="platinum",
            staff_id=staff, branch_code="S011", status="in_progress", quota_year=2026,
            requested_by=rm.id, due_at=datetime(2026, 11, 25, tzinfo=timezone.utc)),
        "done_request": ServiceRequest(
            customer_id=customer_id, entitlement_code="birthday_gift", tier_code="platinum",
            staff_id=staff, branch_code="S011", status="fulfilled", quota_year=2026,
            requested_by=rm.id, due_at=datetime(2026, 11, 2, tzinfo=timezone.utc)),
        "contact": Contact(customer_id=customer_id, staff_id=staff, user_id=rm.id,
                           branch_code="S011", channel="call", purpose="service",
                           outcome="Talked about the TD",
                           contacted_at=datetime(2026, 11, 10, 2, tzinfo=timezone.utc)),
    }
    session.add_all(rows.values())
    session.commit()
    return {name: row.id for name, row in rows.items()}


def holder(session: Session, ids: dict[str, int]) -> dict[str, tuple[str | None, str | None]]:
    """Each record's (staff id, branch)."""
    session.expire_all()
    found = {}
    for name, record_id in ids.items():
        model = {"task": Task, "opportunity": Opportunity, "request": ServiceRequest,
                 "contact": Contact}[name.split("_")[-1]]
        row = session.get(model, record_id)
        staff = getattr(row, {"task": "assignee_staff_id", "opportunity": "owner_staff_id",
                              "request": "staff_id", "contact": "staff_id"}
                        [name.split("_")[-1]])
        found[name] = (staff, row.branch_code)
    return found


def test_a_new_manager_in_the_feed_takes_the_open_work_and_both_rms_are_told(
        session, bank, engine, tmp_path):
    c1 = bank.ids["C1"]
    ids = work_of(session, c1)
    feed_moves(engine, tmp_path, "C1", "张三", manager="RM0002", branch="S011")

    result = refresh_metrics(session, NEXT_DAY)
    session.commit()

    assert result["followed"]["customers_moved"] == 1
    assert (result["followed"]["tasks"], result["followed"]["opportunities"],
            result["followed"]["service_requests"]) == (1, 1, 1)
    assert holder(session, ids) == {
        "open_task": ("RM0002", "S011"), "done_task": ("RM0001", "S011"),
        "advisers_task": ("AD0001", "S011"),  # someone else's work stays theirs
        "open_opportunity": ("RM0002", "S011"), "won_opportunity": ("RM0001", "S011"),
        "open_request": ("RM0002", "S011"), "done_request": ("RM0001", "S011"),
        "contact": ("RM0001", "S011")}  # who logged a contact never changes
    told = {u: [(n.kind, n.params.get("count"), n.customer_id) for n in session.scalars(
        select(Notification).where(Notification.user_id == user(session, u).id))]
        for u in ("rm1", "rm2")}
    assert told == {"rm2": [("book_joined", 1, c1)], "rm1": [("book_left", 1, None)]}

    # The previous RM no longer sees the customer's open work; the new one does.
    def visible(username: str) -> set[int]:
        scope = scope_for(session, user(session, username))
        return set(session.scalars(restrict_work(select(Task.id), scope,
                                                 Task.assignee_staff_id, Task.branch_code)))
    assert ids["open_task"] in visible("rm2") and ids["open_task"] not in visible("rm1")

    # The next night finds nothing more to move and tells no one again.
    again = refresh_metrics(session, NEXT_DAY)
    session.commit()
    assert again["followed"]["customers_moved"] == 0
    assert session.scalar(select(Notification.id).where(
        Notification.kind.in_(("book_joined", "book_left"))).offset(2)) is None


def test_a_new_branch_in_the_feed_moves_the_records_to_the_new_branch_manager(
        session, bank, engine, tmp_path):
    c1 = bank.ids["C1"]
    ids = work_of(session, c1)
    feed_moves(engine, tmp_path, "C1", "张三", manager="RM0001", branch="S021")

    result = refresh_metrics(session, NEXT_DAY)
    session.commit()

    assert result["followed"]["customers_moved"] == 0
    assert result["followed"]["branch_records"] == len(ids)
    assert {branch for _staff, branch in holder(session, ids).values()} == {"S021"}
    old, new = (scope_for(session, user(session, name)) for name in ("bm_b01", "bm_b02"))
    contacts = select(Contact.id)
    assert not list(session.scalars(restrict_work(contacts, old, Contact.staff_id,
                                                  Contact.branch_code)))
    assert list(session.scalars(restrict_work(contacts, new, Contact.staff_id,
                                              Contact.branch_code))) == [ids["contact"]]


def test_a_reassignment_in_the_crm_is_not_repeated_by_the_next_refresh(session, bank):
    c1 = bank.ids["C1"]
    ids = work_of(session, c1)
    manager = user(session, "bm_b01")
    result = reassign(session, audit.Actor.of(manager, "10.0.0.1"), scope_for(session, manager),
                      [c1], "RM0002", "rm1 on leave")
    session.commit()
    assert result.service_requests_moved == 1
    assert holder(session, ids)["open_request"] == ("RM0002", "S011")
    notes = session.query(Notification).count()

    followed = refresh_metrics(session, NEXT_DAY)["followed"]
    session.commit()

    assert followed["customers_moved"] == 0
    assert session.query(Notification).count() == notes


def test_the_statements_compile_for_oracle():
    from sqlalchemy import update
    from sqlalchemy.dialects import oracle

    from portal.workbench import follow

    moved = follow._moved_rm()
    statements = [
        select(moved),
        follow._hand_over(moved, Task, Task.customer_id, Task.assignee_staff_id,
                          Task.status == "open"),
        update(Contact).where(follow._moved_branch(Contact.customer_id))
        .values(branch_code=follow._branch_of(Contact.customer_id))]
    for statement in statements:
        sql = str(statement.compile(dialect=oracle.dialect()))
        assert "IS DISTINCT FROM" not in sql and "UPDATE" in sql or "SELECT" in sql
