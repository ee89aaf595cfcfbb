"""Reassigning customers between RMs, and how it bends scope: the new RM sees them, the
old one does not, until a later feed names another manager."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterator

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.orm import Session

from integration.models import Customer
from portal import audit
from portal.assignments import Reassignment, reassign
from portal.errors import Forbidden, Invalid, NotFound
from portal.models import AssignmentHistory, AuditEvent, CustomerAssignment, User
from portal.scope import customer_in_scope, restrict, scope_for
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


def book(session: Session, username: str) -> set[int]:
    """The customer ids the user's scope lets through (what pages, API and search use)."""
    scope = scope_for(session, user(session, username))
    return set(session.scalars(restrict(select(Customer.id), scope)))


def move(session: Session, manager: str, ids: list[int], to: str,
         reason: str = "rebalancing books") -> Reassignment:
    actor = user(session, manager)
    result = reassign(session, audit.Actor.of(actor, "10.1.1.1"), scope_for(session, actor),
                      ids, to, reason)
    session.commit()
    return result


def later_feed(import_feed: Any, feed_path: Any, sequence: int, manager: str) -> None:
    def build(feed):  # type: ignore[no-untyped-def]
        feed.customer("C1", "张三", branch="S011", manager=manager)
    result = import_feed(write(feed_path(), build, sequence=sequence,
                               business_date=BDATE + timedelta(days=sequence)))
    assert result.status == "applied", result.reason


def history(session: Session, customer_id: int) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in session.execute(
        select(AssignmentHistory.from_staff_id, AssignmentHistory.to_staff_id,
               AssignmentHistory.reason).where(AssignmentHistory.customer_id == customer_id)
        .order_by(AssignmentHistory.id))]


# --- the scope of each role ----------------------------------------------------------------

def test_each_role_sees_its_scope(session, bank):
    ids = bank.ids
    assert book(session, "rm1") == {ids["C1"], ids["C4"]}
    assert book(session, "rm2") == {ids["C2"]}
    assert book(session, "adv1") == set()
    assert book(session, "bm_b01") == {ids["C1"], ids["C2"], ids["C4"]}
    assert book(session, "bm_b02") == {ids["C3"]}
    assert book(session, "analyst") == set(ids.values())
    assert book(session, "admin") == set()


# --- reassignment ------------------------------------------------------------------------

def test_after_reassignment_the_new_rm_sees_the_customer_and_the_old_one_not(
        session, bank, client, login, api):
    c1 = bank.ids["C1"]
    result = move(session, "bm_b01", [c1], "RM0002")
    assert (result.moved, result.unchanged) == ([c1], [])
    assert book(session, "rm2") == {c1, bank.ids["C2"]}
    assert book(session, "rm1") == {bank.ids["C4"]}
    assert customer_in_scope(session, scope_for(session, user(session, "rm2")), c1).id == c1
    with pytest.raises(NotFound):
        customer_in_scope(session, scope_for(session, user(session, "rm1")), c1)
    assert book(session, "bm_b01") == {c1, bank.ids["C2"], bank.ids["C4"]}  # unchanged
    # The pages and the API answer the same way.
    assert api("rm2", "get", f"/api/v1/customers/{c1}").status_code == 200
    assert api("rm1", "get", f"/api/v1/customers/{c1}").status_code == 404
    login("rm2")
    assert client.get(f"/customers/{c1}").status_code == 200


def test_the_old_rm_gets_a_404_page(session, bank, client, login):
    move(session, "bm_b01", [bank.ids["C1"]], "RM0002")
    login("rm1")
    assert client.get(f"/customers/{bank.ids['C1']}").status_code == 404


def test_the_move_is_kept_in_history_and_the_audit_log(session, bank, users):
    c1 = bank.ids["C1"]
    move(session, "bm_b01", [c1], "RM0002", reason="rm1 on leave")
    move(session, "bm_b01", [c1], "AD0001", reason="wealth planning")
    assert history(session, c1) == [("RM0001", "RM0002", "rm1 on leave"),
                                     ("RM0002", "AD0001", "wealth planning")]
    assignment = session.get(CustomerAssignment, c1)
    assert (assignment.staff_id, assignment.feed_manager, assignment.assigned_by) == \
        ("AD0001", "RM0001", users["bm_b01"])
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "reassign")
                             .order_by(AuditEvent.id)).all()
    assert [(e.customer_id, e.branch_code, e.user_id, e.ip, e.detail) for e in events] == [
        (c1, "S011", users["bm_b01"], "10.1.1.1",
         {"from": "RM0001", "to": "RM0002", "reason": "rm1 on leave"}),
        (c1, "S011", users["bm_b01"], "10.1.1.1",
         {"from": "RM0002", "to": "AD0001", "reason": "wealth planning"})]


def test_the_override_holds_while_the_feed_repeats_its_manager(session, bank, import_feed,
                                                                feed_path):
    c1 = bank.ids["C1"]
    move(session, "bm_b01", [c1], "RM0002")
    later_feed(import_feed, feed_path, 2, manager="RM0001")
    session.expire_all()
    assert c1 in book(session, "rm2") and c1 not in book(session, "rm1")


def test_a_feed_naming_a_new_manager_ends_the_override(session, bank, import_feed, feed_path):
    c1 = bank.ids["C1"]
    move(session, "bm_b01", [c1], "RM0002")
    later_feed(import_feed, feed_path, 2, manager="RM0003")
    session.expire_all()
    assert c1 in book(session, "rm3")
    assert c1 not in book(session, "rm2") and c1 not in book(session, "rm1")
    assert history(session, c1) == [("RM0001", "RM0002", "rebalancing books")]
    # Reassigning again starts from the feed's manager and remembers it.
    move(session, "bm_b01", [c1], "RM0002", reason="back to rm2")
    assert history(session, c1)[-1] == ("RM0003", "RM0002", "back to rm2")
    assert session.get(CustomerAssignment, c1).feed_manager == "RM0003"
    assert c1 in book(session, "rm2") and c1 not in book(session, "rm3")


def test_moving_a_customer_to_their_rm_changes_nothing(session, bank):
    result = move(session, "bm_b01", [bank.ids["C1"], bank.ids["C2"]], "RM0001")
    assert (result.moved, result.unchanged) == ([bank.ids["C2"]], [bank.ids["C1"]])
    assert history(session, bank.ids["C1"]) == []
    assert session.get(CustomerAssignment, bank.ids["C1"]) is None


def test_all_or_nothing_when_one_customer_is_outside_the_scope(session, bank):
    c1, c3 = bank.ids["C1"], bank.ids["C3"]
    for ids in ([c1, c3], [c1, 987654]):
        with pytest.raises(NotFound) as exc:
            move(session, "bm_b01", ids, "RM0002")
        assert str(ids[1]) in exc.value.message and str(c1) not in exc.value.message
        session.rollback()
    assert session.scalar(select(func.count()).select_from(CustomerAssignment)) == 0
    assert session.scalar(select(func.count()).select_from(AssignmentHistory)) == 0
    assert session.scalar(select(func.count()).select_from(AuditEvent)
                          .where(AuditEvent.action == "reassign")) == 0
    assert c1 in book(session, "rm1")


@pytest.mark.parametrize("to,why", [
    ("RM0003", "RM of another branch"), ("NOBODY", "unknown staff id"),
    ("AN0001", "an analyst, not an RM"), ("", "no staff id"),
])
def test_the_new_rm_must_be_an_rm_of_the_subtree(session, bank, to, why):
    analyst = user(session, "analyst")
    analyst.staff_id = "AN0001"
    session.commit()
    with pytest.raises(Invalid, match="not an active RM"):
        move(session, "bm_b01", [bank.ids["C1"]], to)


def test_a_disabled_rm_receives_no_customers(session, bank):
    user(session, "rm2").active = False
    session.commit()
    with pytest.raises(Invalid):
        move(session, "bm_b01", [bank.ids["C1"]], "RM0002")


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_a_reason_is_required(session, bank, reason):
    with pytest.raises(Invalid, match="reason"):
        move(session, "bm_b01", [bank.ids["C1"]], "RM0002", reason=reason)


@pytest.mark.parametrize("username", ["rm1", "analyst", "admin", "adv1"])
def test_only_branch_managers_reassign(session, bank, username):
    with pytest.raises(Forbidden):
        move(session, username, [bank.ids["C1"]], "RM0002")


def test_another_branchs_manager_cannot_take_customers(session, bank):
    with pytest.raises(NotFound):
        move(session, "bm_b02", [bank.ids["C1"]], "RM0003")
    assert bank.ids["C1"] in book(session, "rm1")


@pytest.mark.slow
def test_a_bulk_move_is_set_based(session, bank, engine):
    """2,500 customers (three chunks) in a handful of statements, not thousands."""
    session.execute(insert(Customer), [
        {"name": f"客户{n}", "branch_code": "S011", "manager_staff_id": "RM0001",
         "status": "ACTIVE", "provenance": {}, "dq_warnings": []} for n in range(2500)])
    session.commit()
    ids = sorted(book(session, "rm1"))
    assert len(ids) == 2502
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine.__class__, "before_cursor_execute", listener)
    try:
        result = move(session, "bm_b01", ids, "RM0002")
    finally:
        event.remove(engine.__class__, "before_cursor_execute", listener)
    assert len(result.moved) == 2502
    assert len(statements) < 40, f"{len(statements)} statements for one bulk move"
    assert book(session, "rm1") == set()
    assert len(book(session, "rm2")) == 2503
    assert session.scalar(select(func.count()).select_from(AssignmentHistory)) == 2502
    assert session.scalar(select(func.count()).select_from(AuditEvent)
                          .where(AuditEvent.action == "reassign")) == 2502


# --- the JSON API --------------------------------------------------------------------------

def test_the_api_reassigns_for_branch_managers(api, users, bank, engine):
    c1, c4 = bank.ids["C1"], bank.ids["C4"]
    response = api("bm_b01", "post", "/api/v1/assignments",
                   json={"customers": [c1, c4], "to_staff_id": "RM0002", "reason": "merge"})
    assert response.status_code == 200
    assert response.get_json() == {
        "to_staff_id": "RM0002", "reassigned": [c1, c4], "unchanged": [],
        "handed_over": {"tasks": 0, "opportunities": 0, "service_requests": 0}}
    with Session(engine) as session:
        assert book(session, "rm2") == {c1, c4, bank.ids["C2"]}
        assert session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.action == "reassign")) == 2


@pytest.mark.parametrize("username", ["rm1", "analyst", "admin"])
def test_the_api_refuses_other_roles(api, users, bank, username):
    response = api(username, "post", "/api/v1/assignments",
                   json={"customers": [bank.ids["C1"]], "to_staff_id": "RM0002", "reason": "x"})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


def test_the_api_answers_404_outside_the_scope_and_writes_nothing(api, users, bank, engine):
    response = api("bm_b01", "post", "/api/v1/assignments",
                   json={"customers": [bank.ids["C1"], bank.ids["C3"]], "to_staff_id": "RM0002",
                         "reason": "x"})
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(CustomerAssignment)) == 0


@pytest.mark.parametrize("body", [
    {}, {"customers": [], "to_staff_id": "RM0002", "reason": "x"},
    {"customers": "1", "to_staff_id": "RM0002", "reason": "x"},
    {"customers": [True], "to_staff_id": "RM0002", "reason": "x"},
    {"customers": ["1"], "to_staff_id": "RM0002", "reason": "x"},
    {"customers": [1.0], "to_staff_id": "RM0002", "reason": "x"},
    {"customers": [1], "to_staff_id": 2, "reason": "x"},
    {"customers": [1], "to_staff_id": "RM0002"},
    {"customers": [1], "to_staff_id": "RM0002", "reason": " "},
    [1, 2],
])
def test_the_api_refuses_malformed_requests(api, users, bank, body):
    body = {k: (bank.ids["C1"] if v == [1] else v) for k, v in body.items()} \
        if isinstance(body, dict) else body
    response = api("bm_b01", "post", "/api/v1/assignments", json=body)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid"


def test_the_api_needs_a_token(client, bank):
    response = client.post("/api/v1/assignments", json={"customers": [1], "to_staff_id": "x",
                                                         "reason": "x"})
    assert response.status_code == 401
