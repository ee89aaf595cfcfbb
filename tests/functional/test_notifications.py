"""The bell: unread count on every page, the notifications page (newest first, opening one
marks it read, mark all read), the API, and nobody sees anyone else's."""
from __future__ import annotations

import re
from typing import Any, Iterator

import pytest
from flask import url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import audit
from portal.assignments import reassign
from portal.models import User
from portal.scope import scope_for
from portal.workbench.models import Notification, Task
from portal.workbench.notification_text import describe, link
from portal.workbench.notifications import KINDS, notify
from tests.functional.conftest import PASSWORD, csrf_token


@pytest.fixture
def session(engine, users) -> Iterator[Session]:  # type: ignore[no-untyped-def]
    """A session of its own, outside any app context (the test client's requests must
    not share one: each request has its own ``g``)."""
    with Session(engine) as session:
        yield session
        session.rollback()


def user(session: Session, username: str) -> User:
    return session.scalars(select(User).where(User.username == username)).one()


def move(session: Session, ids: list[int], to: str, reason: str = "rm1 on leave") -> None:
    actor = user(session, "bm_b01")
    reassign(session, audit.Actor.of(actor, "10.1.1.1"), scope_for(session, actor), ids, to,
             reason)
    session.commit()


def mine(session: Session, username: str) -> list[Notification]:
    session.commit()  # a fresh transaction sees what the requests committed
    return list(session.scalars(select(Notification).where(
        Notification.user_id == user(session, username).id).order_by(Notification.id)))


def english(client) -> None:  # type: ignore[no-untyped-def]
    client.post("/language/en", data={"csrf_token": csrf_token(client, "/"), "next": "/"})


def bell(page: str) -> int:
    match = re.search(r'id="bell-count">(\d+)<', page)
    return int(match.group(1)) if match else 0


def form_token(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


# --- the wording -------------------------------------------------------------------------

EXAMPLES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "assigned": ({"count": 3, "reason": "rm1 on leave", "by": "Manager Li"},
                 ["Manager Li", "3 customers", "rm1 on leave"]),
    "reassigned_away": ({"count": 2, "reason": "merge", "by": "Manager Li", "to": "RM0002"},
                        ["Manager Li", "2 of your customers", "RM0002", "merge"]),
    "tasks_generated": ({"count": 5}, ["5 new tasks"]),
    "task_assigned": ({"task_id": 7, "title": "Call about the TD", "by": "Manager Li"},
                      ["Manager Li", "Call about the TD"]),
    "book_joined": ({"count": 4}, ["4 customers"]),
    "book_left": ({"count": 2}, ["2 of your customers"]),
    "opportunity_confirmed": ({"opportunity_id": 3, "product": "稳健债券基金",
                               "customer": "张三"}, ["稳健债券基金", "张三"]),
    "tier_changed": ({"customer": "张三", "from": "gold", "to": "platinum",
                      "from_en": "Gold", "from_zh": "金卡", "to_en": "Platinum",
                      "to_zh": "白金卡"}, ["张三", "Gold", "Platinum"]),
}


def test_every_kind_is_worded_with_its_figures(app):
    assert set(EXAMPLES) == set(KINDS)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        for kind, (params, expected) in EXAMPLES.items():
            text = describe(Notification(kind=kind, params=params))
            assert all(part in text for part in expected), (kind, text)
        # One customer by name; missing figures do not break the page.
        one = describe(Notification(kind="assigned", params={
            "count": 1, "reason": "x", "by": "Li", "customer": "张三"}))
        assert "张三" in one
        for kind in KINDS:
            assert describe(Notification(kind=kind, params={}))
        # A month's summary of tier changes, and a first tier.
        summary = describe(Notification(kind="tier_changed", params={
            "month": "2026-10", "upgrades": 3, "downgrades": 1, "count": 4}))
        assert "2026-10" in summary and "3 up" in summary and "1 down" in summary
        first = describe(Notification(kind="tier_changed", params={
            "customer": "张三", "from": None, "to": "gold", "to_en": "Gold"}))
        assert "张三" in first and "Gold" in first and "None" not in first
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        for kind, (params, _expected) in EXAMPLES.items():
            assert describe(Notification(kind=kind, params=params))
        # Tier names come in both languages: the reader's is used.
        text = describe(Notification(kind="tier_changed", params=EXAMPLES["tier_changed"][0]))
        assert "金卡" in text and "白金卡" in text and "Gold" not in text


def test_each_notification_links_to_its_subject(app):
    with app.test_request_context():
        has_task_page = "tasks.show" in app.view_functions
        task_page = url_for("tasks.show", task_id=9) if has_task_page else "/customers/5"
        assert link(Notification(kind="assigned", params={}, customer_id=5, task_id=9)) == \
            task_page
        assert link(Notification(kind="assigned", params={}, customer_id=5)) == "/customers/5"
        agenda = url_for("tasks.agenda")
        assert link(Notification(kind="assigned", params={"count": 4})) == agenda
        assert link(Notification(kind="tasks_generated", params={"count": 4})) == agenda
        # The previous RM no longer sees the customer: no link to a 404.
        assert link(Notification(kind="reassigned_away", params={}, customer_id=5)) == agenda
        assert link(Notification(kind="tier_changed", params={}, customer_id=5)) == \
            "/customers/5"
        if not has_task_page:
            assert link(Notification(kind="task_assigned", params={"task_id": 9})) == agenda


# --- the bell and the page ---------------------------------------------------------------

def test_the_bell_counts_unread_notifications_on_every_page(session, bank, client, login, app):
    login("rm2")
    assert bell(client.get("/").get_data(as_text=True)) == 0
    move(session, [bank.ids["C1"]], "RM0002")
    move(session, [bank.ids["C4"]], "RM0002")
    page = client.get("/").get_data(as_text=True)
    assert bell(page) == 2
    assert bell(client.get(f"/customers/{bank.ids['C1']}").get_data(as_text=True)) == 2
    # rm1 lost two customers: one notification per move, their own.
    other = app.test_client()
    other.post("/login", data={"username": "rm1", "password": PASSWORD,
                               "csrf_token": csrf_token(other)})
    assert bell(other.get("/").get_data(as_text=True)) == 2


def test_the_page_lists_newest_first_and_highlights_unread(session, bank, client, login):
    move(session, [bank.ids["C1"]], "RM0002", reason="first move")
    move(session, [bank.ids["C4"]], "RM0002", reason="second move")
    older, newer = mine(session, "rm2")
    older.read_at = older.created_at
    session.commit()
    login("rm2")
    english(client)
    response = client.get("/notifications")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.index("second move") < page.index("first move")
    assert re.search(rf'class="notification unread" id="notification-{newer.id}"', page)
    assert re.search(rf'class="notification" id="notification-{older.id}"', page)
    # Names are data: escaped like everything else.
    assert "&lt;script&gt;" in page and "<script>alert" not in page
    assert bell(page) == 1


def test_opening_a_notification_marks_it_read_and_goes_to_its_subject(session, bank, client,
                                                                      login, app):
    c1 = bank.ids["C1"]
    move(session, [c1], "RM0002")
    [note] = mine(session, "rm2")
    handover = session.scalar(select(Task.id).where(Task.kind == "handover"))
    login("rm2")
    token = form_token(client.get("/notifications").get_data(as_text=True))
    response = client.post(f"/notifications/{note.id}/open", data={"csrf_token": token})
    assert response.status_code == 302
    with app.test_request_context():
        expected = url_for("tasks.show", task_id=handover)
    assert response.headers["Location"] == expected
    assert mine(session, "rm2")[0].read_at is not None
    assert bell(client.get("/").get_data(as_text=True)) == 0


def test_mark_one_and_mark_all_read(session, bank, client, login):
    for customer in ("C1", "C4"):
        move(session, [bank.ids[customer]], "RM0002")
    first, second = mine(session, "rm2")
    login("rm2")
    token = form_token(client.get("/notifications").get_data(as_text=True))
    response = client.post(f"/notifications/{first.id}/read?page=1",
                           data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].startswith(
        "/notifications")
    assert [n.read_at is not None for n in mine(session, "rm2")] == [True, False]
    response = client.post("/notifications/read-all", data={"csrf_token": token})
    assert response.status_code == 302
    assert all(n.read_at is not None for n in mine(session, "rm2"))
    assert "mark-all-read" not in client.get("/notifications").get_data(as_text=True)
    # rm1's own notifications are untouched by rm2's "mark all".
    assert all(n.read_at is None for n in mine(session, "rm1"))


def test_posts_without_the_csrf_token_change_nothing(session, bank, client, login):
    move(session, [bank.ids["C1"]], "RM0002")
    [note] = mine(session, "rm2")
    login("rm2")
    for path in (f"/notifications/{note.id}/open", f"/notifications/{note.id}/read",
                 "/notifications/read-all"):
        assert client.post(path).status_code == 400
    assert mine(session, "rm2")[0].read_at is None


def test_another_users_notification_is_not_found(session, bank, client, login):
    move(session, [bank.ids["C1"]], "RM0002")
    [theirs] = mine(session, "rm2")
    login("rm1")
    token = form_token(client.get("/notifications").get_data(as_text=True))
    for action in ("open", "read"):
        response = client.post(f"/notifications/{theirs.id}/{action}",
                               data={"csrf_token": token})
        assert response.status_code == 404
    assert client.post("/notifications/987654/read",
                       data={"csrf_token": token}).status_code == 404
    assert mine(session, "rm2")[0].read_at is None
    page = client.get("/notifications").get_data(as_text=True)
    assert f"notification-{theirs.id}" not in page


def test_the_page_is_paged_and_filtered(session, bank, client, login):
    rm2 = user(session, "rm2").id
    for n in range(35):
        notify(session, [rm2], "tasks_generated", {"count": n + 1})
    session.commit()
    login("rm2")
    english(client)
    first = client.get("/notifications").get_data(as_text=True)
    assert first.count('class="notification unread"') == 30
    assert "Page 1 of 2" in first
    second = client.get("/notifications?page=2").get_data(as_text=True)
    assert second.count('class="notification unread"') == 5
    assert client.get("/notifications?page=x").status_code == 400
    token = form_token(first)
    client.post("/notifications/read-all", data={"csrf_token": token})
    assert 'id="no-notifications"' in client.get("/notifications?unread=1").get_data(
        as_text=True)
    assert client.get("/notifications").get_data(as_text=True).count(
        'class="notification"') == 30


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/notifications")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- the API -----------------------------------------------------------------------------

def test_the_api_lists_the_callers_notifications(session, bank, api):
    c1 = bank.ids["C1"]
    move(session, [c1], "RM0002", reason="rm1 on leave")
    move(session, [bank.ids["C4"]], "RM0002", reason="second")
    response = api("rm2", "get", "/api/v1/notifications",
                   headers={"Accept-Language": "en"})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["total"], body["page"], body["per_page"]) == (2, 1, 20)
    newest, oldest = body["items"]
    assert newest["params"]["reason"] == "second"
    handover = session.scalar(select(Task.id).where(Task.customer_id == c1,
                                                    Task.kind == "handover"))
    assert {k: oldest[k] for k in ("kind", "customer_id", "task_id", "read_at")} == \
        {"kind": "assigned", "customer_id": c1, "task_id": handover, "read_at": None}
    assert oldest["params"] == {"count": 1, "reason": "rm1 on leave", "by": "bm_b01",
                                "customer": "张三"}
    assert "张三" in oldest["text"] and "rm1 on leave" in oldest["text"]
    assert oldest["created_at"].startswith("20")
    paged = api("rm2", "get", "/api/v1/notifications?per_page=1&page=2").get_json()
    assert [i["id"] for i in paged["items"]] == [oldest["id"]] and paged["total"] == 2


def test_the_api_marks_read_and_counts_unread(session, bank, api):
    for customer in ("C1", "C4"):
        move(session, [bank.ids[customer]], "RM0002")
    first, second = mine(session, "rm2")
    assert api("rm2", "get", "/api/v1/notifications/unread-count").get_json() == {"unread": 2}
    response = api("rm2", "post", f"/api/v1/notifications/{first.id}/read")
    assert response.status_code == 200 and response.get_json()["read_at"] is not None
    assert api("rm2", "get", "/api/v1/notifications/unread-count").get_json() == {"unread": 1}
    unread = api("rm2", "get", "/api/v1/notifications?unread=true").get_json()
    assert [i["id"] for i in unread["items"]] == [second.id] and unread["total"] == 1
    assert api("rm2", "get", "/api/v1/notifications?unread=false").get_json()["total"] == 2
    assert api("rm2", "post", "/api/v1/notifications/read-all").get_json() == \
        {"marked": 1, "unread": 0}
    assert api("rm2", "get", "/api/v1/notifications/unread-count").get_json() == {"unread": 0}


def test_the_api_hides_other_users_notifications(session, bank, api):
    move(session, [bank.ids["C1"]], "RM0002")
    [theirs] = mine(session, "rm2")
    response = api("rm1", "post", f"/api/v1/notifications/{theirs.id}/read")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    listed = api("rm1", "get", "/api/v1/notifications").get_json()
    assert theirs.id not in [i["id"] for i in listed["items"]]
    assert mine(session, "rm2")[0].read_at is None
    assert session.scalar(select(func.count()).select_from(Notification)
                          .where(Notification.read_at.is_not(None))) == 0


@pytest.mark.parametrize("query", ["unread=maybe", "page=0", "per_page=101", "page=x"])
def test_the_api_refuses_bad_paging(bank, users, api, query):
    response = api("rm2", "get", f"/api/v1/notifications?{query}")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid"


def test_the_api_needs_a_token(client):
    assert client.get("/api/v1/notifications").status_code == 401
    assert client.post("/api/v1/notifications/read-all").status_code == 401
