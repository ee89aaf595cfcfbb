"""The contact log: logging a contact (validation, the follow-up task and who gets it), who
reads which contacts, and the pages: log a contact from the 360 page, the log itself."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from integration.bank_calendar import bank_today, bank_date
from integration.db import utcnow
from portal.errors import Forbidden, NotFound
from portal.models import AuditEvent, User
from portal.scope import scope_for
from portal.workbench import contact_policy, contacts
from portal.workbench.contacts import ContactFilter, ContactInvalid, FollowUp, NewContact
from portal.workbench.metrics import refresh_metrics
from portal.workbench.models import Contact, Notification, Task
from tests.feeds import BDATE
from tests.functional.conftest import csrf_token

SHANGHAI = ZoneInfo("Asia/Shanghai")


# -- helpers (the API and policy tests use them too) -----------------------------------

def counts(engine) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(contacts, tasks) in the database."""
    with Session(engine) as session:
        return (session.scalar(select(func.count()).select_from(Contact)) or 0,
                session.scalar(select(func.count()).select_from(Task)) or 0)


def log(engine, username: str, customer_id: int, *, when: datetime | None = None,  # type: ignore[no-untyped-def]
        channel: str = "call", purpose: str = "relationship", outcome: str = "Talked",
        next_step: str | None = None, follow_up: FollowUp | None = None,
        zone: Any = timezone.utc) -> contacts.Logged:
    """Log a contact through the service, committed; returns what was written."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        return contacts.log_contact(
            session, scope_for(session, user), user,
            NewContact(customer_id, when or utcnow() - timedelta(hours=1), channel, purpose,
                       outcome, next_step, follow_up), zone=zone)


def search(engine, username: str, **filters: Any) -> list[contacts.ContactRow]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        return contacts.search_contacts(session, scope_for(session, user),
                                        ContactFilter(**filters), per_page=100).items


def local_form_time(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


# -- logging ---------------------------------------------------------------------------

def test_an_rm_logs_a_contact_and_the_follow_up_is_theirs(engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    when = utcnow() - timedelta(days=2)
    logged = log(engine, "rm1", bank.ids["C1"], when=when, channel="visit", purpose="sales",
                 outcome="Interested in the bond fund", next_step="Send the fund factsheet",
                 follow_up=FollowUp(when.date() + timedelta(days=3)))
    with Session(engine) as session:
        contact = session.get(Contact, logged.contact.id)
        task = session.scalar(select(Task).where(Task.contact_id == contact.id))
    assert (contact.customer_id, contact.staff_id, contact.user_id, contact.branch_code) == (
        bank.ids["C1"], "RM0001", users["rm1"], "S011")
    assert (contact.channel, contact.purpose, contact.outcome, contact.next_step) == (
        "visit", "sales", "Interested in the bond fund", "Send the fund factsheet")
    assert contact.contacted_at == when
    assert task is not None and task.id == logged.follow_up.id
    assert (task.kind, task.assignee_staff_id, task.customer_id, task.branch_code) == (
        "follow_up", "RM0001", bank.ids["C1"], "S011")
    assert task.title == "Send the fund factsheet"  # the default: the next step
    assert task.due_date == when.date() + timedelta(days=3)
    assert task.reason == {"rule": "follow_up", "contact_id": contact.id}
    assert (task.status, task.created_by) == ("open", users["rm1"])


def test_an_advisers_follow_up_is_theirs_too(engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    from portal import assignments
    from portal.audit import Actor

    with Session(engine) as session, session.begin():  # bm_b01 gives 张三 to adv1
        manager = session.scalar(select(User).where(User.username == "bm_b01"))
        assignments.reassign(session, Actor.of(manager), scope_for(session, manager),
                             [bank.ids["C1"]], "AD0001", "planning")
    logged = log(engine, "adv1", bank.ids["C1"], outcome="Plan discussed",
                 follow_up=FollowUp(utcnow().date() + timedelta(days=7), "Deliver the plan"))
    assert logged.follow_up.assignee_staff_id == "AD0001"
    assert logged.follow_up.title == "Deliver the plan"  # a title given wins
    assert logged.contact.staff_id == "AD0001"


def test_a_branch_managers_follow_up_goes_to_the_customers_rm(engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    logged = log(engine, "bm_b01", bank.ids["C2"], outcome="Complaint about fees",
                 purpose="complaint", next_step="Refund the fee",
                 follow_up=FollowUp(utcnow().date() + timedelta(days=1)))
    assert logged.contact.staff_id is None  # branch managers have no staff id
    assert logged.contact.user_id == users["bm_b01"]
    assert logged.contact.branch_code == "S012"  # the customer's branch: in bm_b01's scope
    assert logged.follow_up.assignee_staff_id == "RM0002"
    assert logged.follow_up.branch_code == "S012"
    with Session(engine) as session:
        notes = session.scalars(select(Notification)).all()
    assert [(n.user_id, n.kind, n.task_id, n.customer_id) for n in notes] == [
        (users["rm2"], "task_assigned", logged.follow_up.id, bank.ids["C2"])]
    assert notes[0].params["title"] == "Refund the fee"


def test_a_branch_managers_follow_up_goes_to_the_effective_rm(engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    from portal import assignments
    from portal.audit import Actor

    with Session(engine) as session, session.begin():
        manager = session.scalar(select(User).where(User.username == "bm_b01"))
        assignments.reassign(session, Actor.of(manager), scope_for(session, manager),
                             [bank.ids["C2"]], "RM0001", "covering")
    logged = log(engine, "bm_b01", bank.ids["C2"], next_step="Call back",
                 follow_up=FollowUp(utcnow().date()))
    assert logged.follow_up.assignee_staff_id == "RM0001"  # not the feed's RM0002


def test_a_follow_up_needs_an_active_rm_to_go_to(engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        session.execute(update(User).where(User.username == "rm2").values(active=False))
    with pytest.raises(ContactInvalid) as refused:
        log(engine, "bm_b01", bank.ids["C2"], next_step="Call back",
            follow_up=FollowUp(utcnow().date()))
    assert refused.value.reason == "follow_up_no_assignee"
    assert counts(engine) == (0, 0)
    log(engine, "bm_b01", bank.ids["C2"])  # without a follow-up the contact is fine
    assert counts(engine) == (1, 0)


def _year_ago() -> datetime:
    return contacts.year_before(utcnow())


BAD_INPUT = [  # (what changes, the rule that refuses it)
    ({"when": "future"}, "future"),
    ({"when": "too_old"}, "too_old"),
    ({"channel": "fax"}, "channel"),
    ({"purpose": "gossip"}, "purpose"),
    ({"outcome": "   "}, "outcome_required"),
    ({"outcome": "x" * 1001}, "outcome_too_long"),
    ({"next_step": "x" * 501}, "next_step_too_long"),
    ({"follow_up": "before"}, "follow_up_due"),
    ({"follow_up": "past"}, "follow_up_past"),
    ({"follow_up": "untitled"}, "follow_up_title_required"),
]


def test_bad_input_is_refused_and_writes_nothing(engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    for change, reason in BAD_INPUT:
        when = utcnow() - timedelta(days=3)
        today = utcnow().date()
        kwargs: dict[str, Any] = {"when": when, "next_step": "Call back",
                                  "follow_up": FollowUp(today + timedelta(days=1))}
        kwargs.update(change)
        if change.get("when") == "future":
            kwargs["when"] = utcnow() + timedelta(hours=1)
        elif change.get("when") == "too_old":
            kwargs["when"] = _year_ago() - timedelta(minutes=1)
        if change.get("follow_up") == "before":
            kwargs["follow_up"] = FollowUp(when.date() - timedelta(days=1))
        elif change.get("follow_up") == "past":  # after the contact, before today
            kwargs["follow_up"] = FollowUp(when.date() + timedelta(days=1))
        elif change.get("follow_up") == "untitled":
            kwargs["next_step"], kwargs["follow_up"] = None, FollowUp(today)
        with pytest.raises(ContactInvalid) as refused:
            log(engine, "rm1", bank.ids["C1"], **kwargs)
        assert refused.value.reason == reason, change
        assert refused.value.status == 400
        assert counts(engine) == (0, 0), change


def test_the_limits_themselves_are_accepted(engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    log(engine, "rm1", bank.ids["C1"], when=utcnow())  # now
    log(engine, "rm1", bank.ids["C1"], when=_year_ago() + timedelta(minutes=1))
    when = utcnow() - timedelta(hours=1)
    logged = log(engine, "rm1", bank.ids["C1"], when=when, next_step="Same day",
                 follow_up=FollowUp(utcnow().date()))  # due today, the contact's own date
    assert logged.follow_up.due_date == utcnow().date()
    assert counts(engine) == (3, 1)


def test_the_follow_up_date_is_compared_with_the_local_date(engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    # 01:30 in Shanghai is the previous day in UTC: the follow-up may not be due that day.
    local = (utcnow() - timedelta(days=2)).astimezone(SHANGHAI).replace(
        hour=1, minute=30, second=0, microsecond=0, tzinfo=None)
    previous_day = local.date() - timedelta(days=1)
    with pytest.raises(ContactInvalid) as refused:
        log(engine, "rm1", bank.ids["C1"], when=local, zone=SHANGHAI, next_step="x",
            follow_up=FollowUp(previous_day))
    assert refused.value.reason == "follow_up_due"  # the contact's UTC date, not its local one
    today = utcnow().astimezone(SHANGHAI).date()
    logged = log(engine, "rm1", bank.ids["C1"], when=local, zone=SHANGHAI, next_step="x",
                 follow_up=FollowUp(today))
    assert logged.contact.contacted_at == local.replace(tzinfo=SHANGHAI)
    assert logged.contact.contacted_at.astimezone(timezone.utc).date() == previous_day


def test_a_customer_out_of_scope_is_not_found_and_nothing_is_written(  # type: ignore[no-untyped-def]
        engine, bank, users) -> None:
    for username, customer in [("rm1", "C2"),      # another RM's customer
                               ("rm1", "C3"),
                               ("bm_b01", "C3")]:  # outside the manager's subtree
        with pytest.raises(NotFound):
            log(engine, username, bank.ids[customer], follow_up=FollowUp(utcnow().date(), "t"))
    assert counts(engine) == (0, 0)


def test_analysts_and_admins_do_not_log_contacts(engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    for username in ("analyst", "admin"):
        with pytest.raises(Forbidden):
            log(engine, username, bank.ids["C1"])
    assert counts(engine) == (0, 0)


# -- who reads which contacts ----------------------------------------------------------

@pytest.fixture
def logged(engine, bank, users) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """rm1 on 张三, rm2 on 李四, rm3 on 王五, bm_b01 on 张三: contact ids by name."""
    return {name: log(engine, username, bank.ids[customer], outcome=name).contact.id
            for name, username, customer in [("rm1-C1", "rm1", "C1"), ("rm2-C2", "rm2", "C2"),
                                             ("rm3-C3", "rm3", "C3"),
                                             ("bm-C1", "bm_b01", "C1")]}


def test_the_log_is_scoped(engine, logged) -> None:  # type: ignore[no-untyped-def]
    for username, visible in [
        ("rm1", {"rm1-C1"}),                       # their own log only
        ("rm2", {"rm2-C2"}),
        ("adv1", set()),
        ("bm_b01", {"rm1-C1", "rm2-C2", "bm-C1"}),  # the subtree's branches
        ("bm_b02", {"rm3-C3"}),
        ("analyst", set()),
        ("admin", set()),
    ]:
        assert {row.outcome for row in search(engine, username)} == visible, username


def test_a_customers_contacts_are_all_there_for_whoever_sees_the_customer(  # type: ignore[no-untyped-def]
        engine, bank, logged) -> None:
    rows = search(engine, "rm1", customer_id=bank.ids["C1"])
    assert [r.outcome for r in rows] == ["bm-C1", "rm1-C1"]  # newest first
    assert rows[0].logged_by == "bm_b01" and rows[0].staff_id is None
    assert rows[1].customer_name == "张三"
    with pytest.raises(NotFound):
        search(engine, "rm1", customer_id=bank.ids["C2"])
    with pytest.raises(NotFound):
        search(engine, "bm_b02", customer_id=bank.ids["C1"])
    with pytest.raises(NotFound):
        search(engine, "admin", customer_id=bank.ids["C1"])
    assert search(engine, "analyst", customer_id=bank.ids["C1"]) == []


def test_one_contact_is_read_within_scope_only(engine, logged) -> None:  # type: ignore[no-untyped-def]
    def read(username: str, name: str) -> str:
        with Session(engine) as session:
            user = session.scalar(select(User).where(User.username == username))
            return contacts.get_contact(session, scope_for(session, user), logged[name]).outcome

    assert read("rm1", "rm1-C1") == "rm1-C1"
    assert read("rm1", "bm-C1") == "bm-C1"  # 张三 is in rm1's book
    assert read("bm_b01", "rm2-C2") == "rm2-C2"
    for username, name in [("rm1", "rm2-C2"), ("bm_b01", "rm3-C3"), ("analyst", "rm1-C1"),
                           ("admin", "rm1-C1")]:
        with pytest.raises(NotFound):
            read(username, name)
    with Session(engine) as session, pytest.raises(NotFound):
        user = session.scalar(select(User).where(User.username == "rm1"))
        contacts.get_contact(session, scope_for(session, user), 999_999)


def test_filters_and_paging(engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    days = [now - timedelta(days=d) for d in (1, 10, 20, 40)]
    for when, channel, purpose in zip(days, ["call", "visit", "call", "message"],
                                      ["sales", "service", "service", "sales"]):
        log(engine, "rm1", bank.ids["C1"], when=when, channel=channel, purpose=purpose,
            outcome=f"{channel}-{purpose}")
    log(engine, "rm1", bank.ids["C4"], when=now - timedelta(days=2), channel="meeting",
        purpose="other", outcome="other customer")
    assert [r.outcome for r in search(engine, "rm1", channel="call")] == [
        "call-sales", "call-service"]
    assert [r.outcome for r in search(engine, "rm1", purpose="sales")] == [
        "call-sales", "message-sales"]
    in_range = search(engine, "rm1", date_from=days[2].date(), date_to=days[1].date())
    assert [r.outcome for r in in_range] == ["visit-service", "call-service"]
    assert len(search(engine, "rm1", customer_id=bank.ids["C1"])) == 4
    with Session(engine) as session:
        user = session.scalar(select(User).where(User.username == "rm1"))
        scope = scope_for(session, user)
        first = contacts.search_contacts(session, scope, ContactFilter(), page=1, per_page=2)
        last = contacts.search_contacts(session, scope, ContactFilter(), page=3, per_page=2)
    assert (first.total, first.pages, len(first.items)) == (5, 3, 2)
    assert [r.outcome for r in first.items] == ["call-sales", "other customer"]
    assert [r.outcome for r in last.items] == ["message-sales"]


def test_date_filters_are_days_in_the_banks_time_zone(engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    local = (utcnow() - timedelta(days=5)).astimezone(SHANGHAI).replace(
        hour=7, minute=0, second=0, microsecond=0)  # 23:00 UTC the day before
    log(engine, "rm1", bank.ids["C1"], when=local)
    with Session(engine) as session:
        user = session.scalar(select(User).where(User.username == "rm1"))
        scope = scope_for(session, user)
        on_the_day = ContactFilter(date_from=local.date(), date_to=local.date())
        assert contacts.search_contacts(session, scope, on_the_day, zone=SHANGHAI).total == 1
        assert contacts.search_contacts(session, scope, on_the_day).total == 0  # UTC days


@pytest.mark.parametrize("args", [{"channel": "fax"}, {"purpose": "x"},
                                  {"date_from": "2026-13-01"}, {"customer_id": "abc"},
                                  {"date_from": "2026-11-02", "date_to": "2026-11-01"}])
def test_malformed_filters_are_refused(args) -> None:  # type: ignore[no-untyped-def]
    from portal.errors import Invalid

    with pytest.raises(Invalid):
        ContactFilter.parse(args)


# -- the customer's contact status on the 360 page -------------------------------------

def test_contact_status_of_a_customer(engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        refresh_metrics(session, BDATE)  # 张三 167,600: the 50,000 band, every 180 days
    today = bank_today()
    with Session(engine) as session:
        status = contacts.contact_status(session, bank.ids["C1"], today)
    assert (status.interval_days, status.last_contact_at, status.next_due, status.overdue) == (
        180, None, None, True)
    assert status.never_contacted
    when = utcnow() - timedelta(days=10)
    log(engine, "rm1", bank.ids["C1"], when=when)
    with Session(engine) as session:
        status = contacts.contact_status(session, bank.ids["C1"], today)
    assert (status.last_contact_at, status.overdue) == (when, False)
    assert status.next_due == bank_date(when) + timedelta(days=180)
    with Session(engine) as session:  # 王五, 8,000: below every band
        status = contacts.contact_status(session, bank.ids["C3"], today)
    assert (status.interval_days, status.next_due, status.overdue) == (None, None, False)


# -- pages -----------------------------------------------------------------------------

def _form(client, customer_id: int, **fields: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    data = {"csrf_token": csrf_token(client, f"/customers/{customer_id}/contacts/new"),
            "contacted_at": local_form_time(utcnow() - timedelta(hours=2)),
            "channel": "visit", "purpose": "review", "outcome": "Reviewed the portfolio",
            "next_step": "Propose a rebalance"}
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def test_log_a_contact_from_the_360_page(client, login, engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        refresh_metrics(session, BDATE)
    login("rm1")
    c1 = bank.ids["C1"]
    page = client.get(f"/customers/{c1}").get_data(as_text=True)
    assert f'href="/customers/{c1}/contacts/new"' in page
    assert 'id="contact-overdue"' in page  # never contacted, in a band
    form = client.get(f"/customers/{c1}/contacts/new")
    assert form.status_code == 200 and form.headers["Cache-Control"] == "no-store"
    due = (utcnow() + timedelta(days=7)).astimezone(SHANGHAI).date()
    response = client.post(f"/customers/{c1}/contacts/new", data=_form(
        client, c1, follow_up="y", follow_up_due=due.isoformat()))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/customers/{c1}#contacts")
    with Session(engine) as session:
        contact = session.scalar(select(Contact))
        task = session.scalar(select(Task))
    assert (contact.channel, contact.purpose, contact.staff_id) == ("visit", "review", "RM0001")
    assert (task.title, task.due_date, task.assignee_staff_id, task.contact_id) == (
        "Propose a rebalance", due, "RM0001", contact.id)
    page = client.get(f"/customers/{c1}").get_data(as_text=True)
    assert "Reviewed the portfolio" in page
    assert 'id="contact-overdue"' not in page
    next_due = bank_date(contact.contacted_at) + timedelta(days=180)
    assert re.search(r'id="next-contact-due">[^<]*' + str(next_due.year), page)


PAGE_REFUSALS = [
    ({"contacted_at": "future"}, "The contact cannot be in the future."),
    ({"channel": "fax"}, "Choose a channel."),
    ({"outcome": ""}, "Describe the outcome of the contact."),
    ({"follow_up": "y", "follow_up_due": "before"},
     "The follow-up cannot be due before the date of the contact."),
    ({"follow_up": "y"}, "Enter the date the follow-up is due."),
    ({"contacted_at": ""}, "Enter the date and time of the contact."),
]


def test_the_page_refuses_bad_input_with_a_message(client, login, engine, bank, users  # type: ignore[no-untyped-def]
                                                   ) -> None:
    client.post("/language/en", data={"csrf_token": csrf_token(client, "/login")})
    login("rm1")
    c1 = bank.ids["C1"]
    when = utcnow() - timedelta(days=2)
    for fields, message in PAGE_REFUSALS:
        data = {"contacted_at": local_form_time(when), **fields}
        if data["contacted_at"] == "future":
            data["contacted_at"] = local_form_time(utcnow() + timedelta(hours=2))
        if data.get("follow_up_due") == "before":
            data["follow_up_due"] = (when.astimezone(SHANGHAI).date()
                                     - timedelta(days=1)).isoformat()
        response = client.post(f"/customers/{c1}/contacts/new",
                               data=_form(client, c1, **data))
        assert response.status_code == 400, fields
        assert message in response.get_data(as_text=True)
        assert counts(engine) == (0, 0)


def test_the_form_is_in_chinese_by_default(client, login, bank, users) -> None:  # type: ignore[no-untyped-def]
    login("rm1")
    page = client.get(f"/customers/{bank.ids['C1']}/contacts/new").get_data(as_text=True)
    assert "拜访" in page  # "Visit", the channel's label


def test_the_log_a_contact_page_is_scoped(client, login, engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    login("rm1")
    c2 = bank.ids["C2"]
    assert client.get(f"/customers/{c2}/contacts/new").status_code == 404
    response = client.post(f"/customers/{c2}/contacts/new", data=_form(client, bank.ids["C1"]))
    assert response.status_code == 404
    assert counts(engine) == (0, 0)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login("analyst")
    assert client.get(f"/customers/{bank.ids['C1']}/contacts/new").status_code == 403


def test_the_contact_log_page(client, login, engine, bank, users, logged) -> None:  # type: ignore[no-untyped-def]
    login("bm_b01")
    page = client.get("/contacts").get_data(as_text=True)
    assert all(name in page for name in ("rm1-C1", "rm2-C2", "bm-C1"))
    assert "rm3-C3" not in page
    page = client.get(f"/contacts?customer_id={bank.ids['C1']}").get_data(as_text=True)
    assert "rm1-C1" in page and "bm-C1" in page and "rm2-C2" not in page
    assert 'id="filter-customer"' in page
    assert client.get(f"/contacts?customer_id={bank.ids['C3']}").status_code == 404
    assert client.get("/contacts?channel=fax").status_code == 400
    with Session(engine) as session:
        audited = session.scalars(select(AuditEvent.customer_id)
                                  .where(AuditEvent.action == "view_contacts")).all()
    assert audited == [bank.ids["C1"]]  # the customer's history was read


def test_the_contact_log_page_pages(client, login, engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    for n in range(21):
        log(engine, "rm1", bank.ids["C1"], when=utcnow() - timedelta(hours=n + 1),
            outcome=f"contact {n:02d}")
    login("rm1")
    first = client.get("/contacts?channel=call").get_data(as_text=True)
    assert "contact 00" in first and "contact 20" not in first
    assert 'href="/contacts?page=2&amp;channel=call"' in first
    second = client.get("/contacts?page=2&channel=call").get_data(as_text=True)
    assert "contact 20" in second and "contact 00" not in second


def test_dates_in_the_form_are_the_banks_local_time(client, login, engine, bank, users) -> None:  # type: ignore[no-untyped-def]
    login("rm1")
    c1 = bank.ids["C1"]
    local = (utcnow() - timedelta(days=1)).astimezone(SHANGHAI).replace(
        hour=9, minute=15, second=0, microsecond=0)
    response = client.post(f"/customers/{c1}/contacts/new",
                           data=_form(client, c1, contacted_at=local.strftime("%Y-%m-%dT%H:%M")))
    assert response.status_code == 302
    with Session(engine) as session:
        stored = session.scalar(select(Contact.contacted_at))
    assert stored == local
    assert stored.astimezone(timezone.utc).hour == 1  # 09:15 in Shanghai is 01:15 UTC


def test_the_queries_compile_for_every_database() -> None:
    from sqlalchemy.dialects import oracle, postgresql, sqlite

    from portal.scope import Scope

    policy = [contact_policy.Band(Decimal(500_000), 90), contact_policy.Band(Decimal(0), 365)]
    filters = ContactFilter("call", "sales", BDATE, BDATE, None)
    queries = [contacts.status_query(policy, 1, BDATE), contacts.status_query([], 1, BDATE),
               contacts.log_query(Scope("book", staff_id="RM0001"), filters, SHANGHAI),
               contacts.log_query(Scope("branches", branches=frozenset({"B01"})), filters)]
    for dialect in (oracle.dialect(), postgresql.dialect(), sqlite.dialect()):
        for query in queries:
            sql = str(query.compile(dialect=dialect))
            assert "contacts" in sql
    oracle_sql = str(queries[0].compile(dialect=oracle.dialect()))
    assert "CASE WHEN" in oracle_sql  # the overdue flag is a number, not a boolean column
