"""The tasks API: create, list with filters and paging, one task, and PATCH (complete,
cancel, change) — validated, and scoped like the pages."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.workbench.models import Notification, Task
from portal.workbench.tasks import add_task
from tests.feeds import BDATE

D = BDATE
EN = {"Accept-Language": "en"}


@pytest.fixture(autouse=True)
def today(monkeypatch):
    monkeypatch.setattr("portal.workbench.tasks.today", lambda zone=None: D)


def make(engine, staff: str = "RM0001", customer: int | None = None, due: date = D,
         **kwargs: Any) -> int:
    with Session(engine) as session, session.begin():
        kwargs.setdefault("title", "Call")
        return add_task(session, assignee_staff_id=staff, due_date=due, customer_id=customer,
                        **kwargs).id


def count(engine, model: Any = Task) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def error(response, status: int) -> str:
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return body["error"]["message"]  # type: ignore[no-any-return]


def test_create_and_read_a_task(api, users, bank, engine):
    c1 = bank.ids["C1"]
    response = api("rm1", "post", "/api/v1/tasks", json={
        "title": "Review the fund", "customer_id": c1, "due_date": "2026-11-25",
        "priority": "high", "note": "bring the brochure", "recurrence": "quarterly"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert {k: body[k] for k in ("title", "customer_id", "customer_name", "assignee",
                                 "assignee_name", "branch", "due_date", "priority", "status",
                                 "recurrence", "note", "kind", "reason", "why")} == {
        "title": "Review the fund", "customer_id": c1, "customer_name": "张三",
        "assignee": "RM0001", "assignee_name": "rm1", "branch": "S011",
        "due_date": "2026-11-25", "priority": "high", "status": "open",
        "recurrence": "quarterly", "note": "bring the brochure", "kind": "manual",
        "reason": None, "why": ""}
    again = api("rm1", "get", f"/api/v1/tasks/{body['id']}")
    assert again.status_code == 200 and again.get_json() == body


def test_the_reason_comes_as_data_and_in_the_callers_language(api, users, bank, engine):
    reason = {"rule": "large_flow", "amount": "-60000.0000", "currency": "CNY",
              "amount_cny": "-60000.0000", "direction": "out", "date": "2026-11-20",
              "account": "A1", "type": "CASH_WITHDRAWAL"}
    task_id = make(engine, customer=bank.ids["C1"], kind="large_flow", reason=reason,
                   title="Large inflow or outflow")
    english = api("rm1", "get", f"/api/v1/tasks/{task_id}", headers=EN).get_json()
    assert english["reason"] == reason
    assert english["why"] == "Outflow of CNY 60,000.00 from account A1 on Nov 20, 2026"
    chinese = api("rm1", "get", f"/api/v1/tasks/{task_id}",
                  headers={"Accept-Language": "zh-CN"}).get_json()
    assert "2026年11月20日" in chinese["why"]


BAD_BODIES = [
    (["not", "an", "object"], 400, "JSON object"),
    ({"title": "x", "due_date": "2026-11-20", "colour": "red"}, 400, "unknown field 'colour'"),
    ({"due_date": "2026-11-20"}, 400, "a title is required"),
    ({"title": "   ", "due_date": "2026-11-20"}, 400, "a title is required"),
    ({"title": "x" * 201, "due_date": "2026-11-20"}, 400, "at most 200"),
    ({"title": 5, "due_date": "2026-11-20"}, 400, "must be text"),
    ({"title": "x"}, 400, "due_date is required"),
    ({"title": "x", "due_date": "20/11/2026"}, 400, "YYYY-MM-DD"),
    ({"title": "x", "due_date": 20261120}, 400, "YYYY-MM-DD"),
    ({"title": "x", "due_date": "2026-11-19"}, 400, "in the past"),
    ({"title": "x", "due_date": "2026-11-20", "priority": "urgent"}, 400, "priority"),
    ({"title": "x", "due_date": "2026-11-20", "recurrence": "daily"}, 400, "recurrence"),
    ({"title": "x", "due_date": "2026-11-20", "customer_id": "1"}, 400, "customer_id"),
    ({"title": "x", "due_date": "2026-11-20", "customer_id": True}, 400, "customer_id"),
    ({"title": "x", "due_date": "2026-11-20", "assignee": "RM0002"}, 400, "RM0002"),
    ({"title": "x", "due_date": "2026-11-20", "note": "n" * 2001}, 400, "at most 2000"),
    ]


def test_bad_bodies_get_clear_400s_and_change_nothing(api, users, engine):
    for body, status, fragment in BAD_BODIES:
        message = error(api("rm1", "post", "/api/v1/tasks", json=body), status)
        assert fragment in message, body
    assert count(engine) == 0


def test_a_customer_outside_scope_is_404(api, users, bank, engine):
    response = api("rm1", "post", "/api/v1/tasks", json={
        "title": "x", "due_date": "2026-11-20", "customer_id": bank.ids["C2"]})
    error(response, 404)
    response = api("rm1", "post", "/api/v1/tasks", json={
        "title": "x", "due_date": "2026-11-20", "customer_id": 999999})
    error(response, 404)
    assert count(engine) == 0


def test_analysts_and_admins_see_none_and_create_none(api, users, bank, engine):
    task_id = make(engine, customer=bank.ids["C1"])
    for username in ("analyst", "admin"):
        listing = api(username, "get", "/api/v1/tasks").get_json()
        assert listing["items"] == [] and listing["total"] == 0
        error(api(username, "get", f"/api/v1/tasks/{task_id}"), 404)
        error(api(username, "patch", f"/api/v1/tasks/{task_id}",
                  json={"status": "done", "outcome": "x"}), 404)
        error(api(username, "post", "/api/v1/tasks",
                  json={"title": "x", "due_date": "2026-11-20"}), 403)


def test_scope_rm_own_branch_manager_subtree(api, users, bank, engine):
    rm1_task = make(engine, customer=bank.ids["C1"])
    rm2_task = make(engine, staff="RM0002", customer=bank.ids["C2"])
    rm3_task = make(engine, staff="RM0003", customer=bank.ids["C3"])

    def ids(username: str) -> set[int]:
        return {t["id"] for t in api(username, "get", "/api/v1/tasks").get_json()["items"]}

    assert ids("rm1") == {rm1_task}
    assert ids("bm_b01") == {rm1_task, rm2_task}
    assert ids("bm_b02") == {rm3_task}
    error(api("rm2", "get", f"/api/v1/tasks/{rm1_task}"), 404)
    error(api("rm2", "patch", f"/api/v1/tasks/{rm1_task}",
              json={"status": "done", "outcome": "x"}), 404)
    error(api("bm_b02", "patch", f"/api/v1/tasks/{rm1_task}", json={"priority": "low"}), 404)
    error(api("rm1", "get", "/api/v1/tasks/999999"), 404)
    with Session(engine) as session:
        assert session.get(Task, rm1_task).status == "open"


def test_list_filters_and_paging(api, users, bank, engine):
    c1 = bank.ids["C1"]
    ids = [make(engine, customer=c1 if i < 3 else None, due=D + timedelta(days=i))
           for i in range(7)]
    generated = make(engine, customer=c1, kind="birthday", title="Birthday",
                     due=D + timedelta(days=1),
                     reason={"rule": "birthday", "date": "2026-11-21", "age": 30})
    others = make(engine, staff="RM0002", customer=bank.ids["C2"])
    with Session(engine) as session, session.begin():
        session.get(Task, ids[6]).status = "cancelled"

    def listed(query: str, username: str = "rm1") -> dict[str, Any]:
        response = api(username, "get", f"/api/v1/tasks?{query}")
        assert response.status_code == 200, response.get_json()
        return response.get_json()  # type: ignore[no-any-return]

    page = listed("per_page=3&page=2")
    assert (page["total"], page["page"], page["per_page"]) == (7, 2, 3)
    assert [t["id"] for t in page["items"]] == ids[2:5]
    assert [t["id"] for t in listed("per_page=3")["items"]] == [ids[0], ids[1], generated]
    assert [t["id"] for t in listed("status=cancelled")["items"]] == [ids[6]]
    assert listed("status=all")["total"] == 8
    assert [t["id"] for t in listed("kind=birthday")["items"]] == [generated]
    assert [t["id"] for t in listed(f"customer={c1}&kind=manual")["items"]] == ids[:3]
    window = listed(f"due_from={(D + timedelta(days=4)).isoformat()}"
                    f"&due_to={(D + timedelta(days=5)).isoformat()}")
    assert [t["id"] for t in window["items"]] == ids[4:6]
    assert [t["id"] for t in listed("assignee=RM0002", "bm_b01")["items"]] == [others]
    assert listed("assignee=RM0002")["items"] == []  # an RM's scope stays their own
    assert listed("per_page=3&page=9")["items"] == []
    for bad in ("per_page=101", "per_page=0", "page=0", "page=x", "status=late",
                "due_to=someday", "kind=nothing"):
        error(api("rm1", "get", f"/api/v1/tasks?{bad}"), 400)


def test_complete_with_an_outcome_then_conflict(api, users, engine):
    task_id = make(engine)
    path = f"/api/v1/tasks/{task_id}"
    assert "outcome is required" in error(api("rm1", "patch", path, json={"status": "done"}),
                                          400)
    assert "outcome is required" in error(
        api("rm1", "patch", path, json={"status": "done", "outcome": " "}), 400)
    done = api("rm1", "patch", path, json={"status": "done", "outcome": "called"})
    assert done.status_code == 200
    body = done.get_json()
    assert (body["status"], body["outcome"], body["next_task_id"]) == ("done", "called", None)
    assert body["completed_at"] is not None
    error(api("rm1", "patch", path, json={"status": "done", "outcome": "again"}), 409)
    error(api("rm1", "patch", path, json={"status": "cancelled"}), 409)
    error(api("rm1", "patch", path, json={"priority": "low"}), 409)
    with Session(engine) as session:
        assert session.get(Task, task_id).outcome == "called"


def test_completing_a_recurring_task_answers_with_its_next_occurrence(api, users, engine):
    task_id = make(engine, due=date(2026, 11, 30), recurrence="quarterly")
    body = api("rm1", "patch", f"/api/v1/tasks/{task_id}",
               json={"status": "done", "outcome": "reviewed"}).get_json()
    following = api("rm1", "get", f"/api/v1/tasks/{body['next_task_id']}").get_json()
    assert (following["due_date"], following["recurrence"], following["status"]) == (
        "2027-02-28", "quarterly", "open")


def test_cancel_with_an_optional_reason(api, users, engine):
    task_id = make(engine)
    body = api("rm1", "patch", f"/api/v1/tasks/{task_id}",
               json={"status": "cancelled", "outcome": "customer left"}).get_json()
    assert (body["status"], body["outcome"]) == ("cancelled", "customer left")


BAD_CHANGES = [
    ({}, "nothing to change"),
    ({"status": "open"}, "status must be one of done, cancelled"),
    ({"status": "done", "outcome": "x", "priority": "low"}, "separate requests"),
    ({"outcome": "x"}, "goes with status"),
    ({"due_date": "2026-11-19"}, "in the past"),
    ({"due_date": "soon"}, "YYYY-MM-DD"),
    ({"priority": "urgent"}, "priority"),
    ({"owner": "RM0002"}, "unknown field 'owner'"),
    ]


def test_bad_changes_are_400_and_change_nothing(api, users, engine):
    task_id = make(engine, due=D + timedelta(days=2))
    for body, fragment in BAD_CHANGES:
        assert fragment in error(api("rm1", "patch", f"/api/v1/tasks/{task_id}", json=body),
                                 400), body
    with Session(engine) as session:
        unchanged = session.get(Task, task_id)
        assert (unchanged.status, unchanged.due_date, unchanged.priority) == (
            "open", D + timedelta(days=2), "normal")


def test_change_due_date_priority_and_assignee(api, users, bank, engine):
    task_id = make(engine, customer=bank.ids["C1"])
    path = f"/api/v1/tasks/{task_id}"
    body = api("rm1", "patch", path, json={"due_date": "2026-12-01", "priority": "high"}
               ).get_json()
    assert (body["due_date"], body["priority"]) == ("2026-12-01", "high")
    error(api("rm1", "patch", path, json={"assignee": "RM0002"}), 403)
    error(api("bm_b01", "patch", path, json={"assignee": "RM0003"}), 400)  # not in B01
    moved = api("bm_b01", "patch", path, json={"assignee": "AD0001"})
    assert moved.status_code == 200 and moved.get_json()["assignee"] == "AD0001"
    with Session(engine) as session:
        [note] = session.scalars(select(Notification)).all()
        assert (note.user_id, note.kind, note.task_id) == (
            users["adv1"], "task_assigned", task_id)
    error(api("rm1", "get", path), 404)  # no longer rm1's


def test_a_branch_manager_creates_for_an_rm_who_is_notified(api, users, bank, engine):
    response = api("bm_b01", "post", "/api/v1/tasks", json={
        "title": "Visit", "due_date": "2026-11-21", "customer_id": bank.ids["C2"],
        "assignee": "RM0002"})
    assert response.status_code == 201
    error(api("bm_b01", "post", "/api/v1/tasks", json={"title": "x", "due_date": "2026-11-21"}),
          400)  # a branch manager names the assignee
    assert count(engine, Notification) == 1


def test_the_api_needs_a_token(client):
    assert client.get("/api/v1/tasks").status_code == 401
    assert client.post("/api/v1/tasks", json={}).status_code == 401
    assert client.patch("/api/v1/tasks/1", json={}).status_code == 401
