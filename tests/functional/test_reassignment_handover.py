"""What a reassignment sets in motion: the previous RM's open work goes to the new RM, who
gets a hand-over task per customer (the last contacts summarised) and one notification;
the previous RMs are told. All in the reassignment's transaction, all or nothing."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Iterator

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.orm import Session

from integration.models import Customer
from portal import audit
from integration.bank_calendar import BANK_TZ
from portal.assignments import Reassignment, reassign
from portal.errors import NotFound
from portal.models import AssignmentHistory, AuditEvent, CustomerAssignment, User
from portal.scope import scope_for
from portal.workbench.models import Contact, Notification, Opportunity, Task
from tests.feeds import BDATE, write


@pytest.fixture
def session(app, users) -> Iterator[Session]:  # type: ignore[no-untyped-def]
    from portal.extensions import db

    with app.app_context():
        session = db.sessions()
        yield session
        session.rollback()
        session.close()


def user(session: Session, username: str) -> User:
    return session.scalars(select(User).where(User.username == username)).one()


def move(session: Session, ids: list[int], to: str, reason: str = "rm1 on leave",
         manager: str = "bm_b01", commit: bool = True) -> Reassignment:
    actor = user(session, manager)
    result = reassign(session, audit.Actor.of(actor, "10.1.1.1"), scope_for(session, actor),
                      ids, to, reason)
    if commit:
        session.commit()
    return result


AT = datetime(2026, 11, 1, 2, 0, tzinfo=timezone.utc)  # 10:00 in Beijing


def contact(session: Session, customer_id: int, days_ago: int, outcome: str,
            channel: str = "call", purpose: str = "service", next_step: str | None = None,
            staff: str = "RM0001", username: str = "rm1") -> None:
    session.add(Contact(customer_id=customer_id, staff_id=staff,
                        user_id=user(session, username).id, branch_code="S011",
                        contacted_at=AT - timedelta(days=days_ago), channel=channel,
                        purpose=purpose, outcome=outcome, next_step=next_step))
    session.flush()


def task(session: Session, customer_id: int, title: str, staff: str = "RM0001",
         status: str = "open", kind: str = "manual") -> int:
    row = Task(customer_id=customer_id, assignee_staff_id=staff, branch_code="S011", kind=kind,
               title=title, due_date=BDATE + timedelta(days=3), priority="high", status=status)
    session.add(row)
    session.flush()
    return row.id


def opportunity(session: Session, customer_id: int, stage: str, staff: str = "RM0001",
                product: str = "FUND1", amount: str = "200000") -> int:
    row = Opportunity(customer_id=customer_id, owner_staff_id=staff, branch_code="S011",
                      product_code=product, amount=Decimal(amount), stage=stage,
                      expected_close=date(2026, 12, 15),
                      won_on=date(2026, 11, 1) if stage == "won" else None,
                      lost_reason="price" if stage == "lost" else None)
    session.add(row)
    session.flush()
    return row.id


def handover_tasks(session: Session) -> list[Task]:
    return list(session.scalars(select(Task).where(Task.kind == "handover")
                                .order_by(Task.customer_id)))


def notes_of(session: Session, username: str) -> list[tuple[str, dict[str, Any], Any, Any]]:
    return [(n.kind, n.params, n.customer_id, n.task_id) for n in session.scalars(
        select(Notification).where(Notification.user_id == user(session, username).id)
        .order_by(Notification.id))]


def snapshot(session: Session) -> dict[str, Any]:
    """Every row a reassignment may touch, to compare before and after a failure."""
    session.expire_all()
    return {
        "tasks": sorted(session.execute(select(Task.id, Task.assignee_staff_id, Task.kind,
                                               Task.status)).all()),
        "opportunities": sorted(session.execute(
            select(Opportunity.id, Opportunity.owner_staff_id, Opportunity.stage)).all()),
        "notifications": session.scalar(select(func.count()).select_from(Notification)),
        "assignments": sorted(session.execute(
            select(CustomerAssignment.customer_id, CustomerAssignment.staff_id)).all()),
        "history": session.scalar(select(func.count()).select_from(AssignmentHistory)),
        "audit": session.scalar(select(func.count()).select_from(AuditEvent)
                                .where(AuditEvent.action == "reassign")),
    }


# --- one customer ----------------------------------------------------------------------

def test_the_new_rm_gets_a_handover_task_with_the_last_three_contacts(session, bank):
    c1, c4 = bank.ids["C1"], bank.ids["C4"]
    # Written out of order: the note orders by date, newest first.
    contact(session, c1, 40, "Opened the account", channel="visit", purpose="relationship")
    contact(session, c1, 2, "Asked about the fund", next_step="Send the fund's factsheet")
    contact(session, c1, 60, "Oldest: not in the note", channel="message")
    contact(session, c1, 10, "Discussed the loan", channel="meeting", purpose="sales",
            next_step="Call after the valuation")
    contact(session, c4, 1, "Another customer's contact")
    session.commit()

    result = move(session, [c1], "RM0002", reason="rm1 on leave")

    assert (result.moved, result.unchanged, result.handover_tasks) == ([c1], [], 1)
    [handover] = handover_tasks(session)
    today = datetime.now(BANK_TZ).date()
    assert (handover.customer_id, handover.assignee_staff_id, handover.kind, handover.priority,
            handover.status, handover.branch_code, handover.due_date, handover.created_by) == \
        (c1, "RM0002", "handover", "normal", "open", "S011", today + timedelta(days=7),
         user(session, "bm_b01").id)
    assert handover.reason == {"rule": "handover", "from": "RM0001", "reason": "rm1 on leave",
                               "contacts": 3}
    assert "张三" in handover.title
    lines = handover.note.splitlines()
    contact_lines = [line for line in lines if line.startswith("- 2026-")]
    assert [line.split(" · ")[0] for line in contact_lines] == \
        ["- 2026-10-30", "- 2026-10-22", "- 2026-09-22"]
    assert "Asked about the fund" in contact_lines[0]
    assert "Send the fund's factsheet" in contact_lines[0]
    assert "Discussed the loan" in contact_lines[1]
    assert "Call after the valuation" in contact_lines[1]
    assert "Opened the account" in contact_lines[2]
    assert "Oldest" not in handover.note and "Another customer" not in handover.note
    assert "rm1 on leave" in handover.note


def test_a_customer_without_contacts_gets_a_note_saying_so(session, bank):
    move(session, [bank.ids["C4"]], "RM0002")
    [handover] = handover_tasks(session)
    assert handover.reason["contacts"] == 0
    assert not [line for line in handover.note.splitlines() if line.startswith("- 2026-")]


def test_open_work_of_the_previous_rm_moves_and_the_rest_stays(session, bank):
    c1, c2 = bank.ids["C1"], bank.ids["C2"]
    open_task = task(session, c1, "Renew the time deposit")
    done_task = task(session, c1, "Welcome call", status="done")
    cancelled = task(session, c1, "Old idea", status="cancelled")
    advisers_task = task(session, c1, "Plan review", staff="AD0001")
    other_customer = task(session, c2, "rm2's own work", staff="RM0002")
    moving = {stage: opportunity(session, c1, stage)
              for stage in ("lead", "contacted", "needs_analysis", "proposal")}
    won = opportunity(session, c1, "won")
    lost = opportunity(session, c1, "lost")
    advisers_opportunity = opportunity(session, c1, "proposal", staff="AD0001")
    session.commit()

    result = move(session, [c1], "RM0002")

    assert (result.tasks_moved, result.opportunities_moved) == (1, 4)
    owner = dict(session.execute(select(Task.id, Task.assignee_staff_id)).all())
    assert owner[open_task] == "RM0002"
    assert (owner[done_task], owner[cancelled], owner[advisers_task], owner[other_customer]) \
        == ("RM0001", "RM0001", "AD0001", "RM0002")
    owners = dict(session.execute(select(Opportunity.id, Opportunity.owner_staff_id)).all())
    assert {owners[i] for i in moving.values()} == {"RM0002"}
    assert (owners[won], owners[lost], owners[advisers_opportunity]) == \
        ("RM0001", "RM0001", "AD0001")
    # The note names what was handed over, not what stayed behind.
    [handover] = handover_tasks(session)
    assert "Renew the time deposit" in handover.note
    assert "Welcome call" not in handover.note and "Plan review" not in handover.note
    assert handover.note.count("稳健债券基金") == 4  # the four open opportunities
    assert "200,000.00" in handover.note


def test_the_receiving_and_the_previous_rm_are_notified(session, bank):
    c1 = bank.ids["C1"]
    move(session, [c1], "RM0002", reason="rm1 on leave")
    [handover] = handover_tasks(session)
    assert notes_of(session, "rm2") == [
        ("assigned", {"count": 1, "reason": "rm1 on leave", "by": "bm_b01", "customer": "张三"},
         c1, handover.id)]
    assert notes_of(session, "rm1") == [
        ("reassigned_away", {"count": 1, "reason": "rm1 on leave", "by": "bm_b01",
                             "to": "RM0002", "customer": "张三"}, c1, None)]
    assert notes_of(session, "bm_b01") == [] and notes_of(session, "adv1") == []


# --- many customers ----------------------------------------------------------------------

def test_many_customers_one_notification_each_and_a_task_per_customer(session, bank):
    c1, c2, c4 = bank.ids["C1"], bank.ids["C2"], bank.ids["C4"]
    contact(session, c2, 5, "rm2 met 李四", staff="RM0002", username="rm2")
    session.commit()

    result = move(session, [c4, c1, c2], "AD0001", reason="wealth planning")

    assert result.moved == sorted([c1, c2, c4]) and result.handover_tasks == 3
    tasks = handover_tasks(session)
    assert [(t.customer_id, t.assignee_staff_id, t.reason["from"]) for t in tasks] == sorted(
        [(c1, "AD0001", "RM0001"), (c2, "AD0001", "RM0002"), (c4, "AD0001", "RM0001")])
    assert [t.reason["contacts"] for t in tasks if t.customer_id == c2] == [1]
    assert "rm2 met 李四" in next(t.note for t in tasks if t.customer_id == c2)
    # One notification per person, counting customers, not one per customer.
    assert notes_of(session, "adv1") == [
        ("assigned", {"count": 3, "reason": "wealth planning", "by": "bm_b01",
                      "customer": None}, None, None)]
    assert notes_of(session, "rm1") == [
        ("reassigned_away", {"count": 2, "reason": "wealth planning", "by": "bm_b01",
                             "to": "AD0001", "customer": None}, None, None)]
    assert notes_of(session, "rm2") == [
        ("reassigned_away", {"count": 1, "reason": "wealth planning", "by": "bm_b01",
                             "to": "AD0001", "customer": "李四"}, c2, None)]
    assert result.notified == 3


def test_customers_already_with_that_rm_get_nothing(session, bank):
    c1, c2 = bank.ids["C1"], bank.ids["C2"]
    rm1_task = task(session, c1, "Keep me")
    session.commit()

    result = move(session, [c1, c2], "RM0001")

    assert (result.moved, result.unchanged) == ([c2], [c1])
    assert [t.customer_id for t in handover_tasks(session)] == [c2]
    assert notes_of(session, "rm1") == [
        ("assigned", {"count": 1, "reason": "rm1 on leave", "by": "bm_b01", "customer": "李四"},
         c2, handover_tasks(session)[0].id)]
    assert [n[0] for n in notes_of(session, "rm2")] == ["reassigned_away"]
    assert session.get(Task, rm1_task).assignee_staff_id == "RM0001"


def test_moving_only_customers_already_with_that_rm_writes_nothing(session, bank):
    before = snapshot(session)
    result = move(session, [bank.ids["C1"], bank.ids["C4"]], "RM0001")
    assert result.moved == [] and result.notified == 0
    assert snapshot(session) == before


def test_a_previous_manager_without_an_account_is_not_notified(session, bank, import_feed,
                                                              feed_path):
    def build(feed):  # type: ignore[no-untyped-def]
        feed.customer("C5", "赵六", branch="S012", manager="RM0099")
    result = import_feed(write(feed_path(), build, sequence=2,
                               business_date=BDATE + timedelta(days=1)))
    assert result.status == "applied", result.reason
    c5 = session.scalar(select(Customer.id).where(Customer.name == "赵六"))

    move(session, [c5], "RM0002")

    [handover] = handover_tasks(session)
    assert handover.reason["from"] == "RM0099"
    assert session.scalar(select(func.count()).select_from(Notification)) == 1
    assert [n[0] for n in notes_of(session, "rm2")] == ["assigned"]


def test_a_customer_moved_twice_hands_over_to_the_latest_rm(session, bank):
    c1 = bank.ids["C1"]
    task(session, c1, "Follow the fund")
    session.commit()
    move(session, [c1], "RM0002")
    move(session, [c1], "AD0001", reason="wealth planning")
    tasks = session.execute(select(Task.title, Task.assignee_staff_id, Task.kind)
                            .where(Task.status == "open").order_by(Task.id)).all()
    # rm2's hand-over task is still open work of the previous RM: it moves along too.
    assert [(t.assignee_staff_id, t.kind) for t in tasks] == [
        ("AD0001", "manual"), ("AD0001", "handover"), ("AD0001", "handover")]
    assert [n[0] for n in notes_of(session, "rm2")] == ["assigned", "reassigned_away"]
    last = handover_tasks(session)[-1]
    assert last.reason["from"] == "RM0002" and "Follow the fund" in last.note


# --- all or nothing ----------------------------------------------------------------------

def test_a_customer_out_of_scope_changes_nothing(session, bank):
    c1, c3 = bank.ids["C1"], bank.ids["C3"]
    task(session, c1, "Renew the time deposit")
    opportunity(session, c1, "lead")
    contact(session, c1, 3, "Called")
    session.commit()
    before = snapshot(session)
    with pytest.raises(NotFound):
        move(session, [c1, c3], "RM0002")
    session.rollback()
    assert snapshot(session) == before


def test_a_failure_while_writing_undoes_every_step(session, bank, monkeypatch):
    """The work, tasks and history written before the failure go back with the savepoint,
    even before the caller rolls its transaction back."""
    import portal.assignments

    c1, c2, c4 = bank.ids["C1"], bank.ids["C2"], bank.ids["C4"]
    task(session, c1, "Renew the time deposit")
    opportunity(session, c4, "proposal")
    session.commit()
    before = snapshot(session)

    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("the notification store is down")
    monkeypatch.setattr(portal.assignments, "notify", broken)
    with pytest.raises(RuntimeError):
        move(session, [c1, c2, c4], "AD0001", commit=False)
    assert snapshot(session) == before


# --- set-based for thousands ---------------------------------------------------------------

@pytest.mark.slow
def test_a_bulk_move_hands_over_in_a_few_statements(session, bank, engine):
    """2,500 customers (three chunks): a task per customer, their open work moved and two
    notifications, in a bounded number of statements."""
    session.execute(insert(Customer), [
        {"name": f"客户{n}", "branch_code": "S011", "manager_staff_id": "RM0001",
         "status": "ACTIVE", "provenance": {}, "dq_warnings": []} for n in range(2500)])
    session.commit()
    ids = sorted(session.scalars(select(Customer.id).where(Customer.branch_code == "S011")))
    assert len(ids) == 2502
    first, middle, last = ids[0], ids[1200], ids[-1]
    for customer_id in (first, middle, last):
        contact(session, customer_id, 1, f"contact of {customer_id}")
        task(session, customer_id, f"task of {customer_id}")
        opportunity(session, customer_id, "proposal")
    session.commit()

    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine.__class__, "before_cursor_execute", listener)
    try:
        result = move(session, ids, "RM0002")
    finally:
        event.remove(engine.__class__, "before_cursor_execute", listener)

    # A few statements per thousand customers (reads for the notes, the moves of tasks,
    # opportunities, service requests and assignments), never one per customer.
    assert len(statements) < 50, f"{len(statements)} statements for one bulk move"
    assert (len(result.moved), result.tasks_moved, result.opportunities_moved,
            result.handover_tasks) == (2502, 3, 3, 2502)
    assert session.scalar(select(func.count()).select_from(Task)
                          .where(Task.kind == "handover", Task.assignee_staff_id == "RM0002")) \
        == 2502
    for customer_id in (first, middle, last):
        note = session.scalar(select(Task.note).where(Task.customer_id == customer_id,
                                                      Task.kind == "handover"))
        assert f"contact of {customer_id}" in note and f"task of {customer_id}" in note
    assert [(n[0], n[1]["count"]) for n in notes_of(session, "rm2")] == [("assigned", 2502)]
    assert [(n[0], n[1]["count"]) for n in notes_of(session, "rm1")] == \
        [("reassigned_away", 2502)]


# --- through the API ---------------------------------------------------------------------

def test_the_api_reassignment_hands_over_too(api, users, bank, engine):
    c1, c4 = bank.ids["C1"], bank.ids["C4"]
    response = api("bm_b01", "post", "/api/v1/assignments",
                   json={"customers": [c1, c4], "to_staff_id": "RM0002", "reason": "merge"})
    assert response.status_code == 200
    with Session(engine) as session:
        assert sorted(session.scalars(select(Task.customer_id).where(
            Task.kind == "handover", Task.assignee_staff_id == "RM0002"))) == sorted([c1, c4])
    unread = api("rm2", "get", "/api/v1/notifications/unread-count").get_json()
    assert unread == {"unread": 1}


# --- the history, shown --------------------------------------------------------------------

def test_the_history_is_on_the_360_page_and_in_the_api(session, bank, client, login, api):
    c1 = bank.ids["C1"]
    move(session, [c1], "RM0002", reason="rm1 on leave")
    move(session, [c1], "RM0001", reason="rm1 is back")

    response = api("bm_b01", "get", f"/api/v1/customers/{c1}/assignments")
    assert response.status_code == 200
    assert [(m["from_staff_id"], m["to_staff_id"], m["by"], m["reason"])
            for m in response.get_json()["items"]] == [
        ("RM0002", "RM0001", "bm_b01", "rm1 is back"),
        ("RM0001", "RM0002", "bm_b01", "rm1 on leave")]
    # Scoped like the customer: another subtree's manager gets the same 404 as for no one.
    assert api("bm_b02", "get", f"/api/v1/customers/{c1}/assignments").status_code == 404
    assert api("bm_b02", "get", "/api/v1/customers/999999/assignments").status_code == 404

    login("rm1")
    page = client.get(f"/customers/{c1}", headers={"Accept-Language": "en"}).get_data(
        as_text=True)
    assert 'id="rm-history"' in page and "rm1 on leave" in page and "rm1 is back" in page
