"""Task pages and services: creating within scope, the agenda, completing with an outcome,
recurring tasks, cancelling, changing, reassigning, and the reasons in both languages."""
from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.workbench import reasons
from portal.workbench.models import Notification, Task
from portal.workbench.tasks import add_task, next_due
from tests.feeds import BDATE
from tests.functional.conftest import csrf_token

D = BDATE


@pytest.fixture(autouse=True)
def today(monkeypatch):
    """The agenda's "today" is the feeds' business date in these tests."""
    monkeypatch.setattr("portal.workbench.tasks.today", lambda zone=None: D)
    return D


def make(engine, staff: str = "RM0001", customer: int | None = None, due: date = D,
         **kwargs: Any) -> int:
    with Session(engine) as session, session.begin():
        kwargs.setdefault("title", f"Call about {due.isoformat()}")
        return add_task(session, assignee_staff_id=staff, due_date=due, customer_id=customer,
                        **kwargs).id


def task(engine, task_id: int) -> Task:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Task, task_id)


def notes(engine, user_id: int) -> list[tuple[str, dict[str, Any], int | None]]:
    with Session(engine) as session:
        return [(n.kind, n.params, n.task_id) for n in session.scalars(
            select(Notification).where(Notification.user_id == user_id)
            .order_by(Notification.id))]


def post(client, path: str, data: dict[str, Any], form_page: str = "/agenda"):
    return client.post(path, data={"csrf_token": csrf_token(client, form_page), **data})


def text_of(response) -> str:
    return response.get_data(as_text=True)


def sign_out(client) -> None:
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})


def section(page: str, key: str) -> str:
    match = re.search(rf'<section class="card agenda-section agenda-{key}".*?</section>', page,
                      re.S)
    assert match, f"no {key} section"
    return match.group(0)


# -- signing in lands on the agenda ------------------------------------------------------------

def test_people_with_work_land_on_the_agenda(client, users, login):
    for username, landing in [("rm1", "/agenda"), ("adv1", "/agenda"), ("bm_b01", "/agenda"),
                              ("analyst", "/"), ("admin", "/")]:
        response = login(username)
        assert response.status_code == 302 and response.location == landing, username
        assert client.get("/login").location == landing  # signed in already
        sign_out(client)


# -- creating --------------------------------------------------------------------------------

def test_an_rm_creates_a_task_for_a_customer_of_their_book(client, users, login, bank, engine):
    login("rm1")
    c1 = bank.ids["C1"]
    page = client.get(f"/tasks/new?customer={c1}")
    assert page.status_code == 200 and "张三" in text_of(page)
    response = post(client, "/tasks/new", {
        "title": "Review the fund", "customer": c1, "assignee": "RM0001",
        "due_date": (D + timedelta(days=3)).isoformat(), "priority": "high",
        "recurrence": "monthly", "note": "bring the brochure"}, f"/tasks/new?customer={c1}")
    assert response.status_code == 302
    task_id = int(response.location.rsplit("/", 1)[1])
    created = task(engine, task_id)
    assert (created.title, created.customer_id, created.assignee_staff_id, created.branch_code,
            created.priority, created.recurrence, created.note, created.created_by,
            created.status) == ("Review the fund", c1, "RM0001", "S011", "high", "monthly",
                                "bring the brochure", users["rm1"], "open")
    assert notes(engine, users["rm1"]) == []  # their own task: nobody to tell
    detail = client.get(f"/tasks/{task_id}")
    assert detail.status_code == 200 and "Review the fund" in text_of(detail)


def test_a_customer_outside_the_rms_book_is_not_found(client, users, login, bank, engine):
    login("rm1")
    assert client.get(f"/tasks/new?customer={bank.ids['C2']}").status_code == 404
    response = post(client, "/tasks/new", {
        "title": "x", "customer": bank.ids["C2"], "assignee": "RM0001",
        "due_date": D.isoformat(), "priority": "normal"}, "/tasks/new")
    assert response.status_code == 404
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Task)) == 0


def test_an_rm_assigns_only_to_themself(client, users, login, engine):
    login("rm1")
    response = post(client, "/tasks/new", {
        "title": "x", "assignee": "RM0002", "due_date": D.isoformat(), "priority": "normal"},
        "/tasks/new")
    assert response.status_code == 400 and "RM0002" in text_of(response)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Task)) == 0


def test_bad_input_gets_a_clear_message_and_changes_nothing(client, users, login, engine):
    login("rm1")
    client.post("/language/en", data={"csrf_token": csrf_token(client, "/tasks/new")})
    for data, message in [
            ({"title": ""}, "Give the task a title."),
            ({"title": "   "}, "Give the task a title."),
            ({"due_date": ""}, "Enter the due date."),
            ({"due_date": (D - timedelta(days=1)).isoformat()},
             "The due date cannot be in the past."),
            ({"priority": "urgent"}, "Not a valid choice"),
            ({"title": "x" * 201}, "At most 200 characters.")]:
        form = {"title": "Call", "assignee": "RM0001", "due_date": D.isoformat(),
                "priority": "normal", **data}
        response = post(client, "/tasks/new", form, "/tasks/new")
        assert response.status_code == 400 and message in text_of(response), data
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Task)) == 0


def test_a_branch_manager_assigns_to_an_rm_of_the_subtree_who_is_notified(
        client, users, login, bank, engine):
    login("bm_b01")
    response = post(client, "/tasks/new", {
        "title": "Visit 李四", "customer": bank.ids["C2"], "assignee": "RM0002",
        "due_date": D.isoformat(), "priority": "normal"}, "/tasks/new")
    assert response.status_code == 302
    task_id = int(response.location.rsplit("/", 1)[1])
    assert task(engine, task_id).branch_code == "S012"
    assert notes(engine, users["rm2"]) == [
        ("task_assigned", {"title": "Visit 李四", "due_date": D.isoformat(), "by": "bm_b01"},
         task_id)]
    # RM0003 works at S021, outside B01.
    outside = post(client, "/tasks/new", {
        "title": "x", "assignee": "RM0003", "due_date": D.isoformat(), "priority": "normal"},
        "/tasks/new")
    assert outside.status_code == 400


def test_analysts_and_admins_have_no_tasks(client, users, login, engine):
    task_id = make(engine)
    for username in ("analyst", "admin"):
        login(username)
        assert client.get("/tasks/new").status_code == 403
        assert client.get(f"/tasks/{task_id}").status_code == 404
        page = client.get("/agenda")
        assert page.status_code == 200 and f'id="task-{task_id}"' not in text_of(page)
        assert f'id="task-{task_id}"' not in text_of(client.get("/tasks"))
        sign_out(client)


# -- the agenda --------------------------------------------------------------------------------

def test_the_agenda_shows_overdue_today_and_the_next_7_days(client, users, login, bank,
                                                            engine):
    c1 = bank.ids["C1"]
    overdue = make(engine, customer=c1, due=D - timedelta(days=3), priority="high")
    today = make(engine, due=D, title="Prepare the branch event")
    upcoming = make(engine, customer=c1, due=D + timedelta(days=7), kind="td_maturity",
                    title="Time deposit maturing",
                    reason={"rule": "td_maturity", "account": "A9", "balance": "120000.0000",
                            "currency": "CNY", "maturity": "2026-11-27"})
    later = make(engine, due=D + timedelta(days=8))
    done = make(engine, due=D)
    with Session(engine) as session, session.begin():
        session.get(Task, done).status = "done"
    others = make(engine, staff="RM0002", customer=bank.ids["C2"], due=D)

    login("rm1")
    client.post("/language/en", data={"csrf_token": csrf_token(client, "/agenda")})
    page = text_of(client.get("/agenda"))
    ids = {key: set(map(int, re.findall(r'id="task-(\d+)"', section(page, key))))
           for key in ("overdue", "today", "upcoming")}
    assert ids == {"overdue": {overdue}, "today": {today}, "upcoming": {upcoming}}
    assert f'id="task-{later}"' not in page and f'id="task-{others}"' not in page
    upcoming_html = section(page, "upcoming")
    assert "张三" in upcoming_html and "Time deposit maturing" in upcoming_html
    assert "Time deposit A9 of CNY 120,000.00 matures on Nov 27, 2026" in upcoming_html
    assert 'class="badge priority-high"' in section(page, "overdue")
    assert f'id="complete-{today}"' in section(page, "today")


def test_a_branch_manager_sees_the_subtree_with_assignees_and_filters_by_rm(
        client, users, login, bank, engine):
    mine = make(engine, customer=bank.ids["C1"])
    theirs = make(engine, staff="RM0002", customer=bank.ids["C2"])
    elsewhere = make(engine, staff="RM0003", customer=bank.ids["C3"])
    login("bm_b01")
    page = text_of(client.get("/agenda"))
    assert f'id="task-{mine}"' in page and f'id="task-{theirs}"' in page
    assert f'id="task-{elsewhere}"' not in page
    assert "rm2" in section(page, "today")  # the assignee column
    narrowed = text_of(client.get("/agenda?staff=RM0002"))
    assert f'id="task-{theirs}"' in narrowed and f'id="task-{mine}"' not in narrowed
    # Someone outside the subtree is no filter: everything in scope, nothing more.
    outside = text_of(client.get("/agenda?staff=RM0003"))
    assert f'id="task-{mine}"' in outside and f'id="task-{elsewhere}"' not in outside


def test_completing_from_the_agenda_records_the_outcome(client, users, login, engine):
    task_id = make(engine)
    login("rm1")
    response = post(client, f"/tasks/{task_id}/complete",
                    {"outcome": "  Called, will visit Monday ", "next": "/agenda"})
    assert response.status_code == 303 and response.location == "/agenda"
    done = task(engine, task_id)
    assert (done.status, done.outcome, done.completed_by) == (
        "done", "Called, will visit Monday", users["rm1"])
    assert done.completed_at is not None
    assert f'id="task-{task_id}"' not in text_of(client.get("/agenda"))


def test_completing_needs_an_outcome(client, users, login, engine):
    task_id = make(engine)
    login("rm1")
    for outcome in ("", "   "):
        response = post(client, f"/tasks/{task_id}/complete",
                        {"outcome": outcome, "next": "/agenda"})
        assert response.status_code == 303
        assert task(engine, task_id).status == "open"
    assert f'id="task-{task_id}"' in text_of(client.get("/agenda"))


def test_completing_a_done_task_is_a_conflict(client, users, login, engine):
    task_id = make(engine)
    login("rm1")
    assert post(client, f"/tasks/{task_id}/complete", {"outcome": "done"}).status_code == 303
    # A double submit (or someone else first): back to the task, saying why, nothing changed.
    again = post(client, f"/tasks/{task_id}/complete", {"outcome": "twice"})
    assert again.status_code == 303
    assert task(engine, task_id).outcome == "done"
    # The message is worded when flashed, in the language of that request (Chinese here).
    assert "该任务已是“done”状态" in text_of(client.get(f"/tasks/{task_id}"))
    assert post(client, f"/tasks/{task_id}/cancel", {}).status_code == 303
    assert task(engine, task_id).status == "done"


def test_another_rms_task_is_not_found(client, users, login, bank, engine):
    theirs = make(engine, staff="RM0002", customer=bank.ids["C2"])
    login("rm1")
    assert client.get(f"/tasks/{theirs}").status_code == 404
    assert client.get("/tasks/999999").status_code == 404
    assert post(client, f"/tasks/{theirs}/complete", {"outcome": "x"}).status_code == 404
    assert post(client, f"/tasks/{theirs}/complete", {"outcome": ""}).status_code == 404
    assert post(client, f"/tasks/{theirs}/cancel", {}).status_code == 404
    assert post(client, f"/tasks/{theirs}/change", {
        "due_date": D.isoformat(), "priority": "low"}).status_code == 404
    assert task(engine, theirs).status == "open"


def test_a_manager_of_another_branch_does_not_see_the_task(client, users, login, bank, engine):
    task_id = make(engine, customer=bank.ids["C1"])
    login("bm_b02")
    assert client.get(f"/tasks/{task_id}").status_code == 404
    sign_out(client)
    login("bm_b01")
    assert client.get(f"/tasks/{task_id}").status_code == 200


# -- recurring tasks -----------------------------------------------------------------------------

@pytest.mark.parametrize("recurrence, due, following", [
    ("weekly", date(2026, 12, 29), date(2027, 1, 5)),
    ("monthly", date(2027, 1, 31), date(2027, 2, 28)),
    ("monthly", date(2028, 1, 31), date(2028, 2, 29)),
    ("quarterly", date(2026, 11, 30), date(2027, 2, 28)),
    ("yearly", date(2028, 2, 29), date(2029, 2, 28)),
    ("monthly", date(2026, 12, 15), date(2027, 1, 15)),
])
def test_next_occurrence(recurrence, due, following) -> None:
    assert next_due(due, recurrence) == following


def test_a_series_completed_late_skips_the_occurrences_already_past() -> None:
    # Monthly on the 31st, completed on 10 April: not 28 February or 31 March, but the
    # next one on schedule, 30 April (the series stays on month ends).
    assert next_due(date(2027, 1, 31), "monthly", today=date(2027, 4, 10)) == \
        date(2027, 4, 30)
    assert next_due(date(2027, 1, 31), "monthly", today=date(2027, 3, 31)) == \
        date(2027, 3, 31)
    assert next_due(date(2026, 12, 1), "weekly", today=date(2026, 12, 16)) == \
        date(2026, 12, 22)


def test_completing_a_recurring_task_creates_the_next_occurrence(client, users, login, bank,
                                                                 engine):
    task_id = make(engine, customer=bank.ids["C1"], due=date(2027, 1, 31),
                   recurrence="monthly", priority="high", note="statement review")
    login("rm1")
    assert post(client, f"/tasks/{task_id}/complete", {"outcome": "reviewed"}).status_code == 303
    with Session(engine) as session:
        following = session.scalars(select(Task).where(Task.id != task_id)).one()
        assert (following.due_date, following.recurrence, following.customer_id,
                following.assignee_staff_id, following.priority, following.note,
                following.status) == (date(2027, 2, 28), "monthly", bank.ids["C1"], "RM0001",
                                      "high", "statement review", "open")
    # Cancelling ends the series.
    assert post(client, f"/tasks/{following.id}/cancel", {"reason": "customer moved"}
                ).status_code == 303
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Task)) == 2
        cancelled = session.get(Task, following.id)
        assert (cancelled.status, cancelled.outcome) == ("cancelled", "customer moved")


# -- changing and reassigning ------------------------------------------------------------------

def test_an_rm_changes_due_date_and_priority_but_does_not_reassign(client, users, login,
                                                                   engine):
    task_id = make(engine)
    login("rm1")
    later = D + timedelta(days=10)
    assert post(client, f"/tasks/{task_id}/change", {
        "due_date": later.isoformat(), "priority": "low"}).status_code == 303
    changed = task(engine, task_id)
    assert (changed.due_date, changed.priority) == (later, "low")
    response = post(client, f"/tasks/{task_id}/change", {
        "due_date": later.isoformat(), "priority": "low", "assignee": "RM0002"})
    assert response.status_code == 403
    assert task(engine, task_id).assignee_staff_id == "RM0001"
    past = post(client, f"/tasks/{task_id}/change", {
        "due_date": (D - timedelta(days=1)).isoformat(), "priority": "high"})
    assert past.status_code == 303
    assert (task(engine, task_id).due_date, task(engine, task_id).priority) == (later, "low")


def test_a_branch_manager_reassigns_and_the_new_assignee_is_notified(client, users, login,
                                                                     bank, engine):
    task_id = make(engine, customer=bank.ids["C1"])
    no_customer = make(engine, title="Branch meeting")
    login("bm_b01")
    for tid in (task_id, no_customer):
        response = post(client, f"/tasks/{tid}/change", {
            "due_date": D.isoformat(), "priority": "normal", "assignee": "RM0002"})
        assert response.status_code == 303
    moved, meeting = task(engine, task_id), task(engine, no_customer)
    assert (moved.assignee_staff_id, moved.branch_code) == ("RM0002", "S011")
    assert (meeting.assignee_staff_id, meeting.branch_code) == ("RM0002", "S012")
    assert [(kind, tid) for kind, _, tid in notes(engine, users["rm2"])] == [
        ("task_assigned", task_id), ("task_assigned", no_customer)]
    response = post(client, f"/tasks/{task_id}/change", {
        "due_date": D.isoformat(), "priority": "normal", "assignee": "RM0003"})
    assert response.status_code == 303  # refused with a message, nothing changed
    assert task(engine, task_id).assignee_staff_id == "RM0002"


# -- the list ------------------------------------------------------------------------------------

def test_the_list_filters_and_pages(client, users, login, bank, engine):
    c1 = bank.ids["C1"]
    ids = [make(engine, customer=c1 if i % 2 else None, due=D + timedelta(days=i))
           for i in range(23)]
    birthday = make(engine, customer=c1, kind="birthday", title="Birthday", due=D,
                    reason={"rule": "birthday", "date": D.isoformat(), "age": 46})
    with Session(engine) as session, session.begin():
        session.get(Task, ids[0]).status = "done"
    login("rm1")

    def listed(query: str) -> list[int]:
        response = client.get(f"/tasks?{query}")
        assert response.status_code == 200
        return [int(i) for i in re.findall(r'<tr id="task-(\d+)"', text_of(response))]

    first, second = listed(""), listed("page=2")
    assert len(first) == 20 and len(second) == 3 and not set(first) & set(second)
    assert ids[0] not in first + second
    assert listed("status=done") == [ids[0]]
    assert listed("kind=birthday") == [birthday]
    window = (f"due_from={(D + timedelta(days=2)).isoformat()}"
              f"&due_to={(D + timedelta(days=4)).isoformat()}")
    assert listed(window) == ids[2:5]
    assert set(listed(f"customer={c1}&status=all")) == {birthday, *ids[1::2]}
    for bad in ("status=finished", "kind=x", "due_from=tomorrow", "customer=abc",
                f"due_from={D.isoformat()}&due_to={(D - timedelta(days=1)).isoformat()}"):
        assert client.get(f"/tasks?{bad}").status_code == 400


def test_the_360_page_lists_the_customers_open_tasks(client, users, login, bank, engine):
    c1 = bank.ids["C1"]
    open_task = make(engine, customer=c1, kind="kyc_review", title="KYC review due",
                     reason={"rule": "kyc_review", "due": "2026-12-01"})
    closed = make(engine, customer=c1)
    with Session(engine) as session, session.begin():
        session.get(Task, closed).status = "done"
    login("rm1")
    client.post("/language/en", data={"csrf_token": csrf_token(client, "/agenda")})
    page = text_of(client.get(f"/customers/{c1}"))
    panel = re.search(r'<section class="card" id="tasks">.*?</section>', page, re.S).group(0)
    assert f'id="customer-task-{open_task}"' in panel
    assert f'id="customer-task-{closed}"' not in panel
    assert "KYC review due on Dec 1, 2026" in panel
    assert f'href="/tasks/new?customer={c1}"' in panel


# -- why a task exists, in each language ---------------------------------------------------------

REASONS = [
    ({"rule": "td_maturity", "account": "A2", "balance": "50000.0000", "currency": "CNY",
      "maturity": "2026-12-10"},
     "Time deposit A2 of CNY 50,000.00 matures on Dec 10, 2026"),
    ({"rule": "birthday", "date": "2026-11-26", "age": 36}, "Birthday on Nov 26, 2026 (turns 36)"),
    ({"rule": "kyc_review", "due": "2027-01-19"}, "KYC review due on Jan 19, 2027"),
    ({"rule": "kyc_review", "due": "2026-08-12"}, "KYC review was due on Aug 12, 2026"),
    ({"rule": "id_expiry", "expiry": "2027-01-19", "id_type": "PASSPORT"},
     "ID document expires on Jan 19, 2027"),
    ({"rule": "id_expiry", "expiry": "2026-11-19", "id_type": "PASSPORT"},
     "ID document expired on Nov 19, 2026"),
    ({"rule": "large_flow", "amount": "-60000.0000", "currency": "CNY",
      "amount_cny": "-60000.0000", "direction": "out", "date": "2026-11-20", "account": "A1",
      "type": "CASH_WITHDRAWAL"},
     "Outflow of CNY 60,000.00 from account A1 on Nov 20, 2026"),
    ({"rule": "large_flow", "amount": "7100.0000", "currency": "USD",
      "amount_cny": "50410.0000", "direction": "in", "date": "2026-11-20", "account": "U1"},
     "Inflow of USD 7,100.00 to account U1 on Nov 20, 2026 (CNY 50,410.00)"),
    ({"rule": "dormancy", "last": "2026-05-20", "months": 6},
     "No customer-initiated transaction since May 20, 2026"),
    ({"rule": "dormancy", "last": None, "months": 6},
     "No customer-initiated transaction since the account was opened"),
    ({"rule": "follow_up", "contact_id": 7}, "Next step agreed in a contact with the customer"),
    ({"rule": "handover", "from": "RM0002", "reason": "rm2 on leave", "contacts": 2},
     "Handed over from RM0002: rm2 on leave (2 recent contacts summarised)"),
    ({"rule": "handover", "from": None, "reason": "new customer", "contacts": 0},
     "Handed over: new customer"),
    ({"rule": "retention", "tier": "platinum", "tier_en": "Platinum", "tier_zh": "白金",
      "month": "2026-10", "adb": "540000", "threshold": "500000", "margin_percent": 10,
      "aum": "450000"},
     "Average daily AUM of CNY 540,000.00 (2026-10) is within 10% above the Platinum "
     "threshold of CNY 500,000.00; AUM is falling, CNY 450,000.00 today"),
    ({"rule": "retention", "tier": "platinum", "month": "2026-10", "adb": "480000",
      "threshold": "500000", "margin_percent": 10, "aum": None},
     "Average daily AUM of CNY 480,000.00 (2026-10) is below the platinum threshold of CNY "
     "500,000.00: the tier is held by the grace period; AUM is falling"),
    ({"rule": "something_new", "x": 1}, "something_new"),
    ({"rule": "td_maturity"}, "Time deposit maturing"),  # figures missing: the rule's label
    (None, ""),
]


def test_every_reason_is_worded_in_english(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert [reasons.describe(reason) for reason, _ in REASONS] == \
            [english for _, english in REASONS]


def test_reasons_follow_the_readers_locale(app):
    reason = {"rule": "td_maturity", "account": "A2", "balance": "50000.0000",
              "currency": "CNY", "maturity": "2026-12-10"}
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        worded = reasons.describe(reason)
    assert "2026年12月10日" in worded and "50,000.00" in worded
