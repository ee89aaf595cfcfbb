"""Contacts under /api/v1: log one (with its follow-up task), list and read them, scoped
like everything else; bad input answers 400 and writes nothing."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from integration.db import utcnow
from portal.models import AuditEvent
from portal.workbench.models import Contact, Task
from tests.functional.test_contacts import SHANGHAI, counts, log


def body(customer_id: int, **changes: Any) -> dict[str, Any]:
    data = {"customer_id": customer_id,
            "contacted_at": (utcnow() - timedelta(hours=3)).isoformat(),
            "channel": "call", "purpose": "service", "outcome": "Card replaced",
            "next_step": "Check the new card works"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_log_a_contact_with_a_follow_up(api, engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    when = utcnow() - timedelta(hours=3)
    due = (when + timedelta(days=5)).astimezone(SHANGHAI).date()
    response = api("rm1", "post", "/api/v1/contacts", json=body(
        bank.ids["C1"], contacted_at=when.isoformat(),
        follow_up={"due_date": due.isoformat()}))
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    contact = answer["contact"]
    assert (contact["customer_id"], contact["customer_name"], contact["staff_id"],
            contact["branch"], contact["channel"], contact["purpose"]) == (
        bank.ids["C1"], "张三", "RM0001", "S011", "call", "service")
    assert contact["contacted_at"] == when.isoformat()
    with Session(engine) as session:
        task = session.get(Task, answer["follow_up_task_id"])
    assert (task.kind, task.assignee_staff_id, task.contact_id, task.title, task.due_date) == (
        "follow_up", "RM0001", contact["id"], "Check the new card works", due)
    read = api("rm1", "get", f"/api/v1/contacts/{contact['id']}")
    assert read.status_code == 200
    assert read.get_json()["follow_up_task_ids"] == [task.id]
    assert read.get_json()["outcome"] == "Card replaced"


def test_without_a_follow_up_there_is_no_task(api, engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    response = api("rm1", "post", "/api/v1/contacts", json=body(bank.ids["C1"]))
    assert response.status_code == 201
    assert response.get_json()["follow_up_task_id"] is None
    assert counts(engine) == (1, 0)


def test_a_local_time_without_an_offset_is_the_banks(api, engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    local = (utcnow() - timedelta(days=1)).astimezone(SHANGHAI).replace(
        hour=10, minute=0, second=0, microsecond=0)
    response = api("rm1", "post", "/api/v1/contacts", json=body(
        bank.ids["C1"], contacted_at=local.replace(tzinfo=None).isoformat()))
    assert response.status_code == 201
    with Session(engine) as session:
        assert session.scalar(select(Contact.contacted_at)) == local


def test_a_branch_managers_follow_up_goes_to_the_rm(api, engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    response = api("bm_b01", "post", "/api/v1/contacts", json=body(
        bank.ids["C2"], follow_up={"due_date": utcnow().date().isoformat(), "title": "Call"}))
    assert response.status_code == 201
    answer = response.get_json()
    assert answer["contact"]["staff_id"] is None
    assert answer["contact"]["logged_by"] == "bm_b01"
    with Session(engine) as session:
        assert session.get(Task, answer["follow_up_task_id"]).assignee_staff_id == "RM0002"


BAD_BODIES = [
    {"contacted_at": "future"},
    {"contacted_at": "too_old"},
    {"contacted_at": "yesterday"},
    {"contacted_at": None},
    {"channel": "fax"},
    {"channel": None},
    {"purpose": "gossip"},
    {"outcome": ""},
    {"outcome": None},
    {"customer_id": "1"},
    {"follow_up": {"due_date": "before"}},
    {"follow_up": {"due_date": "soon"}},
    {"follow_up": {"title": "no date"}},
    {"follow_up": "tomorrow"},
    {"next_step": None, "follow_up": {"due_date": "today"}},  # a title from nowhere
]


def test_bad_input_answers_400_and_writes_nothing(api, engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    values = {"future": (now + timedelta(hours=1)).isoformat(),
              "too_old": (now - timedelta(days=367)).isoformat(),
              "before": (now - timedelta(days=2)).date().isoformat(),
              "today": now.date().isoformat()}
    for changes in BAD_BODIES:
        data = body(bank.ids["C1"], contacted_at=now.isoformat())
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
            elif isinstance(value, dict):
                data[key] = {k: values.get(v, v) for k, v in value.items()}
            else:
                data[key] = values.get(value, value)
        response = api("rm1", "post", "/api/v1/contacts", json=data)
        assert response.status_code == 400, (changes, response.get_json())
        assert response.get_json()["error"]["code"] == "invalid"
    assert counts(engine) == (0, 0)


def test_a_body_that_is_not_an_object_is_refused(api, engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    assert api("rm1", "post", "/api/v1/contacts", json=[1]).status_code == 400
    assert counts(engine) == (0, 0)


def test_out_of_scope_answers_and_writes_nothing(api, engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    for username, customer, status in [
        ("rm1", "C2", 404), ("rm1", "C3", 404), ("bm_b01", "C3", 404), ("bm_b02", "C1", 404),
        ("analyst", "C1", 403), ("admin", "C1", 403),
    ]:
        response = api(username, "post", "/api/v1/contacts", json=body(
            bank.ids[customer], follow_up={"due_date": utcnow().date().isoformat()}))
        assert response.status_code == status, (username, customer)
    assert counts(engine) == (0, 0)


def test_a_missing_customer_is_the_same_404(api, engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    response = api("rm1", "post", "/api/v1/contacts", json=body(999_999))
    out_of_scope = api("rm1", "post", "/api/v1/contacts", json=body(bank.ids["C2"]))
    assert response.status_code == out_of_scope.status_code == 404
    assert response.get_json() == out_of_scope.get_json()


@pytest.fixture
def logged(engine, bank, users) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {name: log(engine, username, bank.ids[customer], outcome=name,
                      channel=channel).contact.id
            for name, username, customer, channel in [
                ("rm1-C1", "rm1", "C1", "call"), ("rm2-C2", "rm2", "C2", "visit"),
                ("rm3-C3", "rm3", "C3", "call"), ("bm-C2", "bm_b01", "C2", "meeting")]}


def test_the_list_is_scoped(api, logged) -> None:  # type: ignore[no-untyped-def]
    for username, visible in [
        ("rm1", ["rm1-C1"]), ("rm2", ["rm2-C2"]), ("bm_b01", ["bm-C2", "rm2-C2", "rm1-C1"]),
        ("bm_b02", ["rm3-C3"]), ("analyst", []), ("admin", []),
    ]:
        response = api(username, "get", "/api/v1/contacts")
        assert response.status_code == 200
        answer = response.get_json()
        assert [c["outcome"] for c in answer["items"]] == visible, username
        assert answer["total"] == len(visible)


def test_a_customers_contacts(api, engine, bank, logged) -> None:  # type: ignore[no-untyped-def]
    response = api("rm2", "get", f"/api/v1/contacts?customer_id={bank.ids['C2']}")
    assert [c["outcome"] for c in response.get_json()["items"]] == ["bm-C2", "rm2-C2"]
    assert api("rm1", "get", f"/api/v1/contacts?customer_id={bank.ids['C2']}"
               ).status_code == 404
    assert api("rm1", "get", "/api/v1/contacts?customer_id=999999").status_code == 404
    with Session(engine) as session:
        events = session.execute(select(AuditEvent.username, AuditEvent.customer_id)
                                 .where(AuditEvent.action == "view_contacts")).all()
    assert [tuple(e) for e in events] == [("rm2", bank.ids["C2"])]


def test_filters_and_paging(api, logged) -> None:  # type: ignore[no-untyped-def]
    calls = api("bm_b01", "get", "/api/v1/contacts?channel=call").get_json()
    assert [c["outcome"] for c in calls["items"]] == ["rm1-C1"]
    today = utcnow().astimezone(SHANGHAI).date()
    window = api("bm_b01", "get", f"/api/v1/contacts?date_from={today}&date_to={today}"
                 ).get_json()["total"]
    earlier = (today - timedelta(days=1)).isoformat()
    assert window + api("bm_b01", "get", f"/api/v1/contacts?date_from={earlier}&date_to="
                        f"{earlier}").get_json()["total"] == 3  # an hour ago: one of the two
    first = api("bm_b01", "get", "/api/v1/contacts?per_page=2").get_json()
    second = api("bm_b01", "get", "/api/v1/contacts?per_page=2&page=2").get_json()
    assert (first["total"], len(first["items"]), len(second["items"])) == (3, 2, 1)
    for bad in ("channel=fax", "purpose=x", "per_page=101", "page=0", "date_from=soon",
                "customer_id=x"):
        assert api("bm_b01", "get", f"/api/v1/contacts?{bad}").status_code == 400, bad


def test_one_contact(api, logged) -> None:  # type: ignore[no-untyped-def]
    assert api("rm2", "get", f"/api/v1/contacts/{logged['bm-C2']}").status_code == 200
    assert api("bm_b01", "get", f"/api/v1/contacts/{logged['rm1-C1']}").status_code == 200
    for username, name in [("rm1", "rm2-C2"), ("bm_b02", "rm1-C1"), ("analyst", "rm1-C1"),
                           ("admin", "rm1-C1")]:
        response = api(username, "get", f"/api/v1/contacts/{logged[name]}")
        assert response.status_code == 404, (username, name)
        assert response.get_json()["error"]["code"] == "not_found"
    assert api("rm1", "get", "/api/v1/contacts/999999").status_code == 404


def test_the_api_needs_a_token(client, bank, users) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/contacts").status_code == 401
    assert client.post("/api/v1/contacts", json=body(bank.ids["C1"])).status_code == 401


def test_the_contacts_api_is_documented(client) -> None:  # type: ignore[no-untyped-def]
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert set(paths["/contacts"]) == {"get", "post"}
    assert set(paths["/contacts/{id}"]) == {"get"}
    assert set(paths["/contact-policy"]) == {"get", "put"}
