"""Service requests: raised for a customer in scope, checked against the customer's current
tier and the calendar year's remaining quota, due by the tier's SLA, moved open → in
progress → fulfilled / rejected, overdue flags in SQL; pages, API and scope."""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit import Actor
from portal.errors import Forbidden, NotFound
from portal.models import AuditEvent, CustomerAssignment, User
from portal.scope import scope_for
from portal.vip import entitlements as ent
from portal.vip import service_requests as sr
from portal.vip.models import CustomerTier, ServiceRequest, TierEntitlement
from tests.functional.conftest import PASSWORD, csrf_token

UTC = timezone.utc
NOV = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


def set_tier(engine: Any, customer_id: int, tier: str) -> None:
    """What the monthly evaluation writes: the customer's current tier."""
    with Session(engine) as session, session.begin():
        row = session.get(CustomerTier, customer_id)
        if row is None:
            session.add(CustomerTier(customer_id=customer_id, tier_code=tier,
                                     since=date(2026, 1, 1)))
        else:
            row.tier_code = tier


def who(session: Session, username: str) -> tuple[Actor, Any]:
    user = session.scalars(select(User).where(User.username == username)).one()
    return Actor.of(user), scope_for(session, user)


def raise_as(engine: Any, username: str, customer_id: int, code: str,
             now: datetime = NOV, note: str | None = None) -> int:
    with Session(engine) as session, session.begin():
        actor, scope = who(session, username)
        return sr.raise_request(session, actor, scope, customer_id, code, note, now=now).id


def refused(engine: Any, username: str, customer_id: int, code: str,
            now: datetime = NOV) -> sr.ServiceInvalid:
    with pytest.raises(sr.ServiceInvalid) as caught, Session(engine) as session, \
            session.begin():
        actor, scope = who(session, username)
        sr.raise_request(session, actor, scope, customer_id, code, now=now)
    return caught.value


def move(engine: Any, username: str, request_id: int, status: str,
         resolution: str | None = None, now: datetime = NOV) -> ServiceRequest:
    with Session(engine) as session, session.begin():
        actor, scope = who(session, username)
        moved = sr.transition(session, actor, scope, request_id, status, resolution, now=now)
        session.expunge(moved)
        return moved


def remaining(engine: Any, customer_id: int, code: str, year: int) -> int | None:
    with Session(engine) as session:
        found = {e.code: e for e in ent.customer_entitlements(session, customer_id, year)}
        return found[code].remaining


@pytest.fixture
def platinum(engine, bank, users) -> int:  # type: ignore[no-untyped-def]
    """张三 (rm1's, branch S011) on Platinum: airport lounge 2 a year, SLA 72 h."""
    set_tier(engine, bank.ids["C1"], "platinum")
    return bank.ids["C1"]


# -- quota --------------------------------------------------------------------------

def test_the_quota_counts_per_calendar_year_of_the_bank(engine, platinum):
    december = datetime(2026, 12, 31, 2, 0, tzinfo=UTC)  # 10:00 on 31 Dec in Beijing
    raise_as(engine, "rm1", platinum, "airport_lounge", now=december)
    raise_as(engine, "rm1", platinum, "airport_lounge", now=december)
    assert remaining(engine, platinum, "airport_lounge", 2026) == 0
    error = refused(engine, "rm1", platinum, "airport_lounge", now=december)
    assert error.reason == "quota_used_up"
    assert error.params == {"quota": 2, "used": 2, "code": "airport_lounge", "year": 2026}
    assert "quota used up" in error.message and "2026" in error.message
    # 17:00 UTC on 31 December is already 1 January in Beijing: a new year, a new quota.
    new_year = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    request_id = raise_as(engine, "rm1", platinum, "airport_lounge", now=new_year)
    with Session(engine) as session:
        assert session.get(ServiceRequest, request_id).quota_year == 2027
    assert remaining(engine, platinum, "airport_lounge", 2027) == 1
    assert remaining(engine, platinum, "airport_lounge", 2026) == 0


def test_a_rejected_request_gives_its_quota_back(engine, platinum):
    first = raise_as(engine, "rm1", platinum, "airport_lounge")
    raise_as(engine, "rm1", platinum, "airport_lounge")
    assert refused(engine, "rm1", platinum, "airport_lounge").reason == "quota_used_up"
    move(engine, "rm1", first, "rejected", "the customer cancelled the trip")
    assert remaining(engine, platinum, "airport_lounge", 2026) == 1
    raise_as(engine, "rm1", platinum, "airport_lounge")
    assert remaining(engine, platinum, "airport_lounge", 2026) == 0


def test_fulfilled_and_open_requests_both_use_the_quota(engine, platinum):
    first = raise_as(engine, "rm1", platinum, "birthday_gift")  # 1 a year
    move(engine, "rm1", first, "in_progress")
    move(engine, "rm1", first, "fulfilled")
    assert refused(engine, "rm1", platinum, "birthday_gift").reason == "quota_used_up"


def test_an_unlimited_entitlement_has_no_quota(engine, platinum):
    for _ in range(5):
        raise_as(engine, "rm1", platinum, "fee_waiver")
    assert remaining(engine, platinum, "fee_waiver", 2026) is None
    with Session(engine) as session:
        found = {e.code: e for e in ent.customer_entitlements(session, platinum, 2026)}
    assert found["fee_waiver"].used == 5 and found["fee_waiver"].available


def test_a_quota_of_zero_allows_no_request(engine, platinum):
    with Session(engine) as session, session.begin():
        session.execute(TierEntitlement.__table__.update()
                        .where(TierEntitlement.tier_code == "platinum",
                               TierEntitlement.code == "airport_lounge")
                        .values(yearly_quota=0))
    error = refused(engine, "rm1", platinum, "airport_lounge")
    assert error.reason == "quota_used_up" and error.params["quota"] == 0


# -- entitlement and tier -----------------------------------------------------------

def test_a_customer_without_a_tier_is_on_the_base_tier_with_nothing(engine, bank, users):
    error = refused(engine, "rm1", bank.ids["C1"], "airport_lounge")
    assert error.reason == "not_entitled"
    assert error.params == {"tier": "standard", "code": "airport_lounge"}
    assert "not entitled" in error.message and "standard" in error.message


def test_a_tier_without_the_entitlement_is_refused(engine, bank, users):
    set_tier(engine, bank.ids["C1"], "gold")  # gold has no airport lounge
    error = refused(engine, "rm1", bank.ids["C1"], "airport_lounge")
    assert (error.reason, error.params["tier"]) == ("not_entitled", "gold")
    assert refused(engine, "rm1", bank.ids["C1"], "no_such_thing").reason == "not_entitled"


def test_an_inactive_entitlement_is_refused(engine, platinum):
    with Session(engine) as session, session.begin():
        admin, _ = who(session, "admin")
        lounge = session.scalars(select(TierEntitlement).where(
            TierEntitlement.tier_code == "platinum",
            TierEntitlement.code == "airport_lounge")).one()
        ent.set_active(session, admin, lounge.id, False)
    error = refused(engine, "rm1", platinum, "airport_lounge")
    assert (error.reason, error.params["tier"]) == ("inactive", "platinum")
    with Session(engine) as session:
        codes = [e.code for e in ent.customer_entitlements(session, platinum, 2026)]
    assert "airport_lounge" not in codes and "fee_waiver" in codes


def test_the_current_tier_decides_and_is_recorded(engine, platinum):
    first = raise_as(engine, "rm1", platinum, "airport_lounge")
    set_tier(engine, platinum, "diamond")  # upgraded: 6 lounge visits, SLA 48 h
    second = raise_as(engine, "rm1", platinum, "airport_lounge")
    with Session(engine) as session:
        tiers = [session.get(ServiceRequest, i).tier_code for i in (first, second)]
    assert tiers == ["platinum", "diamond"]
    # The year's use carries over between tiers: 2 used of diamond's 6.
    assert remaining(engine, platinum, "airport_lounge", 2026) == 4
    set_tier(engine, platinum, "gold")  # downgraded: no lounge at all
    assert refused(engine, "rm1", platinum, "airport_lounge").reason == "not_entitled"


def test_the_sla_of_the_tier_sets_the_due_time(engine, bank, users):
    c1, c4 = bank.ids["C1"], bank.ids["C4"]
    set_tier(engine, c1, "gold")
    set_tier(engine, c4, "private")
    gold = raise_as(engine, "rm1", c1, "priority_queue")  # gold: 24 h
    private = raise_as(engine, "rm1", c4, "priority_queue")  # private banking: 2 h
    set_tier(engine, c1, "diamond")
    diamond = raise_as(engine, "rm1", c1, "priority_queue")  # diamond: 4 h
    with Session(engine) as session:
        due = {i: session.get(ServiceRequest, i) for i in (gold, private, diamond)}
    assert due[gold].due_at == NOV + timedelta(hours=24)
    assert due[private].due_at == NOV + timedelta(hours=2)
    assert due[diamond].due_at == NOV + timedelta(hours=4)
    assert all(r.requested_at == NOV and r.quota_year == 2026 and r.status == "open"
               for r in due.values())


def test_the_request_belongs_to_the_customers_effective_rm(engine, platinum):
    request_id = raise_as(engine, "rm1", platinum, "fee_waiver", note="  annual fee  ")
    with Session(engine) as session, session.begin():
        request = session.get(ServiceRequest, request_id)
        assert (request.staff_id, request.branch_code, request.note) == \
            ("RM0001", "S011", "annual fee")
        # A branch manager moves the customer to rm2: new requests are rm2's.
        bm = session.scalars(select(User).where(User.username == "bm_b01")).one()
        session.add(CustomerAssignment(customer_id=platinum, staff_id="RM0002",
                                       feed_manager="RM0001", assigned_by=bm.id,
                                       reason="handover"))
    with pytest.raises(NotFound):
        raise_as(engine, "rm1", platinum, "fee_waiver")
    moved = raise_as(engine, "bm_b01", platinum, "fee_waiver")
    with Session(engine) as session:
        assert session.get(ServiceRequest, moved).staff_id == "RM0002"


def test_raising_is_audited(engine, platinum):
    request_id = raise_as(engine, "rm1", platinum, "fee_waiver")
    with Session(engine) as session:
        event = session.scalars(select(AuditEvent)
                                .where(AuditEvent.action == "service_request")).one()
    assert event.customer_id == platinum and event.username == "rm1"
    assert event.detail["request_id"] == request_id and event.detail["change"] == "raise"


# -- transitions -------------------------------------------------------------------

def test_the_flow_open_in_progress_fulfilled(engine, platinum):
    request_id = raise_as(engine, "rm1", platinum, "airport_lounge")
    started = move(engine, "rm1", request_id, "in_progress", now=NOV + timedelta(hours=1))
    assert started.status == "in_progress" and started.resolved_at is None
    done = move(engine, "rm1", request_id, "fulfilled", "booked at PVG T2",
                now=NOV + timedelta(hours=5))
    assert (done.status, done.resolution) == ("fulfilled", "booked at PVG T2")
    assert done.resolved_at == NOV + timedelta(hours=5)


ILLEGAL = [
    ((), "fulfilled"),                           # open cannot skip to fulfilled
    ((), "open"),
    (("in_progress",), "open"),
    (("in_progress",), "in_progress"),
    (("in_progress", "fulfilled"), "rejected"),  # fulfilled is final
    (("rejected",), "in_progress"),              # rejected is final
]


def test_illegal_transitions_are_conflicts(engine, platinum):
    for path, illegal in ILLEGAL:
        request_id = raise_as(engine, "rm1", platinum, "fee_waiver")
        for status in path:
            move(engine, "rm1", request_id, status, "a reason")
        with pytest.raises(sr.IllegalTransition) as caught:
            move(engine, "rm1", request_id, illegal, "a reason")
        assert caught.value.status == 409
        with Session(engine) as session:
            expected = path[-1] if path else "open"
            assert session.get(ServiceRequest, request_id).status == expected, (path, illegal)


def test_a_rejection_needs_a_reason(engine, platinum):
    request_id = raise_as(engine, "rm1", platinum, "fee_waiver")
    with pytest.raises(sr.ServiceInvalid) as caught:
        move(engine, "rm1", request_id, "rejected", "   ")
    assert caught.value.reason == "reason_required"
    rejected = move(engine, "rm1", request_id, "rejected", "not eligible this month")
    assert rejected.resolved_at == NOV and rejected.resolution == "not eligible this month"


# -- overdue ------------------------------------------------------------------------

def test_overdue_and_resolved_late_are_computed_in_sql(engine, platinum):
    # Lounge SLA 72 h, priority queue 8 h, fee waiver 24 h, all raised at NOV.
    lounge = raise_as(engine, "rm1", platinum, "airport_lounge")
    queue = raise_as(engine, "rm1", platinum, "priority_queue")
    waiver = raise_as(engine, "rm1", platinum, "fee_waiver")
    move(engine, "rm1", queue, "in_progress")
    move(engine, "rm1", queue, "fulfilled", now=NOV + timedelta(hours=9))  # 1 h late
    move(engine, "rm1", waiver, "in_progress")
    later = NOV + timedelta(hours=30)  # the waiver (due +24 h) is overdue, the lounge not
    with Session(engine) as session:
        _, scope = who(session, "rm1")
        page = sr.list_requests(session, scope, sr.RequestFilter(), now=later)
        flags = {r.request.id: (r.overdue, r.late) for r in page.items}
        assert flags == {lounge: (False, False), queue: (False, True),
                         waiver: (True, False)}
        assert page.counts == sr.RequestCounts(open=1, in_progress=1, overdue=1)
        only = sr.list_requests(session, scope, sr.RequestFilter(overdue_only=True), now=later)
        assert [r.request.id for r in only.items] == [waiver] and only.total == 1
        # At due time exactly a request is not yet overdue; a second later it is.
        due = NOV + timedelta(hours=72)
        assert sr.get_request(session, scope, lounge, now=due).overdue is False
        assert sr.get_request(session, scope, lounge,
                              now=due + timedelta(seconds=1)).overdue is True


def test_filters_by_status_entitlement_and_tier(engine, bank, platinum):
    set_tier(engine, bank.ids["C4"], "gold")
    lounge = raise_as(engine, "rm1", platinum, "airport_lounge")
    waiver = raise_as(engine, "rm1", platinum, "fee_waiver")
    gold = raise_as(engine, "rm1", bank.ids["C4"], "fee_waiver")
    move(engine, "rm1", waiver, "in_progress")
    with Session(engine) as session:
        _, scope = who(session, "rm1")

        def ids(**filters: Any) -> list[int]:
            page = sr.list_requests(session, scope, sr.RequestFilter(**filters), now=NOV)
            return sorted(r.request.id for r in page.items)

        assert ids() == sorted([lounge, waiver, gold])
        assert ids(status="in_progress") == [waiver]
        assert ids(entitlement="fee_waiver") == sorted([waiver, gold])
        assert ids(tier="gold") == [gold]
        assert ids(tier="platinum", status="open") == [lounge]
        assert ids(customer_id=bank.ids["C4"]) == [gold]


def test_two_requests_racing_for_the_last_unit_do_not_both_pass(app, engine, platinum):
    """The second waits for the first's lock on the customer, then sees the quota gone."""
    raise_as(engine, "rm1", platinum, "airport_lounge")  # 1 of 2 left
    sessions = app.extensions["crm.db"][2]  # request sessions (SQLite: BEGIN IMMEDIATE)
    first = sessions()
    outcome: list[Any] = []

    def second() -> None:
        session = sessions()
        try:
            actor, scope = who(session, "rm1")
            sr.raise_request(session, actor, scope, platinum, "airport_lounge", now=NOV)
            session.commit()
            outcome.append("raised")
        except sr.ServiceInvalid as exc:
            session.rollback()
            outcome.append(exc.reason)
        finally:
            session.close()

    try:
        actor, scope = who(first, "rm1")
        sr.raise_request(first, actor, scope, platinum, "airport_lounge", now=NOV)
        racer = threading.Thread(target=second)
        racer.start()
        racer.join(timeout=1.0)  # without the lock it would pass now, before we commit
        first.commit()
    finally:
        first.close()
    racer.join(timeout=30)
    assert outcome == ["quota_used_up"]
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(ServiceRequest)) == 2


# -- scope ---------------------------------------------------------------------------

def test_another_rms_customer_is_not_found(engine, bank, users):
    set_tier(engine, bank.ids["C2"], "platinum")
    with pytest.raises(NotFound):
        raise_as(engine, "rm1", bank.ids["C2"], "fee_waiver")
    request_id = raise_as(engine, "rm2", bank.ids["C2"], "fee_waiver")
    with Session(engine) as session:
        _, scope = who(session, "rm1")
        with pytest.raises(NotFound):
            sr.get_request(session, scope, request_id)
        assert sr.list_requests(session, scope, sr.RequestFilter()).total == 0
    with pytest.raises(NotFound):
        move(engine, "rm1", request_id, "in_progress")


def test_a_branch_manager_sees_the_subtree(engine, bank, users):
    for source in ("C1", "C2", "C3"):
        set_tier(engine, bank.ids[source], "platinum")
    c1 = raise_as(engine, "rm1", bank.ids["C1"], "fee_waiver")
    c2 = raise_as(engine, "bm_b01", bank.ids["C2"], "fee_waiver")  # S012, rm2's customer
    c3 = raise_as(engine, "rm3", bank.ids["C3"], "fee_waiver")
    with Session(engine) as session:
        for username, expected in (("bm_b01", [c1, c2]), ("bm_b02", [c3]), ("rm2", [c2])):
            _, scope = who(session, username)
            page = sr.list_requests(session, scope, sr.RequestFilter(), now=NOV)
            assert sorted(r.request.id for r in page.items) == expected, username
        assert session.get(ServiceRequest, c2).staff_id == "RM0002"
    with pytest.raises(NotFound):
        raise_as(engine, "bm_b02", bank.ids["C1"], "fee_waiver")
    move(engine, "bm_b01", c2, "in_progress")


def test_analysts_and_admins_do_not_work_with_requests(engine, platinum):
    request_id = raise_as(engine, "rm1", platinum, "fee_waiver")
    for username in ("analyst", "admin"):
        with pytest.raises(Forbidden):
            raise_as(engine, username, platinum, "fee_waiver")
        with pytest.raises(Forbidden):
            move(engine, username, request_id, "in_progress")
        with Session(engine) as session:
            _, scope = who(session, username)
            with pytest.raises(Forbidden):
                sr.list_requests(session, scope, sr.RequestFilter())
            with pytest.raises(Forbidden):
                sr.get_request(session, scope, request_id)


# -- pages ---------------------------------------------------------------------------

def test_the_360_page_shows_entitlements_quota_and_open_requests(client, login, engine,
                                                                 platinum):
    raise_as(engine, "rm1", platinum, "airport_lounge",
             now=datetime.now(UTC) - timedelta(days=10))  # long past its 72 h
    login("rm1")
    page = client.get(f"/customers/{platinum}", headers={"Accept-Language": "en"}
                      ).get_data(as_text=True)
    panel = page.split('id="service"', 1)[1].split("</section>", 1)[0]
    assert "Platinum" in panel
    assert 'data-code="airport_lounge" data-remaining="1"' in panel and "1 of 2" in panel
    assert 'data-code="fee_waiver" data-remaining="unlimited"' in panel and "Unlimited" in panel
    assert 'data-code="airport_transfer"' not in panel  # private banking only
    assert '<span class="badge overdue">Overdue</span>' in panel
    assert f'/customers/{platinum}/service-requests/new' in panel


def test_the_360_page_has_the_service_panel_for_branch_managers_not_analysts(app, platinum):
    for username, shown in (("bm_b01", True), ("analyst", False)):
        client = app.test_client()
        client.post("/login", data={"username": username, "password": PASSWORD,
                                    "csrf_token": csrf_token(client)})
        page = client.get(f"/customers/{platinum}").get_data(as_text=True)
        assert ('id="service"' in page) is shown, username


def test_the_new_request_form_lists_only_what_is_left(client, login, engine, platinum):
    raise_as(engine, "rm1", platinum, "birthday_gift", now=datetime.now(UTC))  # 1 of 1 used
    login("rm1")
    page = client.get(f"/customers/{platinum}/service-requests/new",
                      headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'value="airport_lounge"' in page and 'value="fee_waiver"' in page
    assert 'value="birthday_gift"' not in page
    assert "2 of 2 left" in page


def test_raising_from_the_page_and_moving_it_on(client, login, engine, platinum):
    login("rm1")
    token = csrf_token(client, f"/customers/{platinum}/service-requests/new")
    response = client.post(f"/customers/{platinum}/service-requests",
                           data={"entitlement": "airport_lounge", "note": "PVG, 3 Dec",
                                 "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/customers/{platinum}#service")
    with Session(engine) as session:
        request = session.scalars(select(ServiceRequest)).one()
        assert request.due_at - request.requested_at == timedelta(hours=72)
    listing = client.get("/service-requests", headers={"Accept-Language": "en"}
                         ).get_data(as_text=True)
    assert f'data-id="{request.id}"' in listing and 'id="count-open">1<' in listing
    detail = client.get(f"/service-requests/{request.id}").get_data(as_text=True)
    assert "PVG, 3 Dec" in detail and 'id="to-in_progress"' in detail
    url = f"/service-requests/{request.id}/transition"
    token = csrf_token(client, f"/service-requests/{request.id}")
    assert client.post(url, data={"status": "in_progress", "csrf_token": token}
                       ).status_code == 302
    refused_page = client.post(url, data={"status": "rejected", "resolution": "",
                                          "csrf_token": token},
                               headers={"Accept-Language": "en"})
    assert refused_page.status_code == 400
    assert "A rejection needs a reason." in refused_page.get_data(as_text=True)
    assert client.post(url, data={"status": "fulfilled", "csrf_token": token}
                       ).status_code == 302
    conflict = client.post(url, data={"status": "rejected", "resolution": "too late",
                                      "csrf_token": token}, headers={"Accept-Language": "en"})
    assert conflict.status_code == 409
    assert "cannot become Rejected" in conflict.get_data(as_text=True)
    with Session(engine) as session:
        assert session.get(ServiceRequest, request.id).status == "fulfilled"


def test_a_refused_request_on_the_page_says_why_and_changes_nothing(client, login, engine,
                                                                     bank, users):
    set_tier(engine, bank.ids["C1"], "gold")
    login("rm1")
    token = csrf_token(client, f"/customers/{bank.ids['C1']}/service-requests/new")
    response = client.post(f"/customers/{bank.ids['C1']}/service-requests",
                           data={"entitlement": "airport_lounge", "csrf_token": token},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert "Not entitled: the Gold tier has no Airport lounge visit." in \
        response.get_data(as_text=True)
    zh = client.post(f"/customers/{bank.ids['C1']}/service-requests",
                     data={"entitlement": "airport_lounge", "csrf_token": token},
                     headers={"Accept-Language": "zh-CN"})
    assert zh.status_code == 400 and "金卡" in zh.get_data(as_text=True)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(ServiceRequest)) == 0


def test_the_list_page_filters_and_counts(client, login, engine, bank, platinum):
    set_tier(engine, bank.ids["C4"], "gold")
    old = datetime.now(UTC) - timedelta(days=30)
    late = raise_as(engine, "rm1", platinum, "priority_queue", now=old)  # 8 h, long overdue
    fresh = raise_as(engine, "rm1", bank.ids["C4"], "fee_waiver", now=datetime.now(UTC))
    login("rm1")
    page = client.get("/service-requests").get_data(as_text=True)
    assert 'id="count-open">2<' in page and 'id="count-overdue">1<' in page
    overdue = client.get("/service-requests?overdue=1").get_data(as_text=True)
    assert f'data-id="{late}"' in overdue and f'data-id="{fresh}"' not in overdue
    gold = client.get("/service-requests?tier=gold").get_data(as_text=True)
    assert f'data-id="{fresh}"' in gold and f'data-id="{late}"' not in gold
    assert client.get("/service-requests?status=nonsense").status_code == 400


def test_pages_keep_to_scope(client, login, engine, bank, users):
    set_tier(engine, bank.ids["C2"], "platinum")
    request_id = raise_as(engine, "rm2", bank.ids["C2"], "fee_waiver")
    login("rm1")
    assert client.get(f"/service-requests/{request_id}").status_code == 404
    assert client.get(f"/customers/{bank.ids['C2']}/service-requests/new").status_code == 404
    token = csrf_token(client, "/service-requests")
    assert client.post(f"/service-requests/{request_id}/transition",
                       data={"status": "in_progress", "csrf_token": token}).status_code == 404
    assert client.post(f"/customers/{bank.ids['C2']}/service-requests",
                       data={"entitlement": "fee_waiver", "csrf_token": token}
                       ).status_code == 404


def test_the_list_page_is_not_for_analysts_and_admins(app, users):
    for username in ("analyst", "admin"):
        client = app.test_client()
        client.post("/login", data={"username": username, "password": PASSWORD,
                                    "csrf_token": csrf_token(client)})
        assert client.get("/service-requests").status_code == 403, username


def test_pages_need_a_sign_in(client, bank):
    response = client.get("/service-requests")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# -- API -----------------------------------------------------------------------------

def test_the_api_raises_lists_and_moves_requests(api, engine, platinum):
    created = api("rm1", "post", "/api/v1/service-requests",
                  json={"customer_id": platinum, "entitlement": "airport_lounge",
                        "note": "PEK"})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["status"] == "open" and body["tier"] == "platinum"
    assert body["staff_id"] == "RM0001" and body["overdue"] is False
    requested = datetime.fromisoformat(body["requested_at"])
    assert datetime.fromisoformat(body["due_at"]) - requested == timedelta(hours=72)
    entitlements = api("rm1", "get", f"/api/v1/customers/{platinum}/entitlements").get_json()
    lounge = next(e for e in entitlements["entitlements"] if e["code"] == "airport_lounge")
    assert (lounge["yearly_quota"], lounge["used"], lounge["remaining"]) == (2, 1, 1)
    assert entitlements["tier"] == "platinum"
    listing = api("rm1", "get", "/api/v1/service-requests?status=open").get_json()
    assert [r["id"] for r in listing["items"]] == [body["id"]]
    assert listing["counts"] == {"open": 1, "in_progress": 0, "overdue": 0}
    url = f"/api/v1/service-requests/{body['id']}"
    assert api("rm1", "get", url).get_json()["note"] == "PEK"
    assert api("rm1", "patch", url, json={"status": "fulfilled"}).status_code == 409
    assert api("rm1", "patch", url, json={"status": "rejected"}).status_code == 400
    assert api("rm1", "patch", url, json={"status": "in_progress"}).get_json()["status"] == \
        "in_progress"
    done = api("rm1", "patch", url, json={"status": "rejected", "resolution": "flight off"})
    assert done.get_json()["status"] == "rejected" and done.get_json()["resolved_at"]
    again = api("rm1", "get", f"/api/v1/customers/{platinum}/entitlements").get_json()
    assert next(e for e in again["entitlements"]
                if e["code"] == "airport_lounge")["remaining"] == 2


def test_the_api_says_why_a_request_is_refused(api, engine, bank, platinum):
    not_entitled = api("rm1", "post", "/api/v1/service-requests",
                       json={"customer_id": bank.ids["C4"], "entitlement": "airport_lounge"})
    assert not_entitled.status_code == 400
    assert "not entitled" in not_entitled.get_json()["error"]["message"]
    assert "standard" in not_entitled.get_json()["error"]["message"]
    for _ in range(2):
        api("rm1", "post", "/api/v1/service-requests",
            json={"customer_id": platinum, "entitlement": "airport_lounge"})
    used_up = api("rm1", "post", "/api/v1/service-requests",
                  json={"customer_id": platinum, "entitlement": "airport_lounge"})
    assert used_up.status_code == 400
    message = used_up.get_json()["error"]["message"]
    assert "quota used up" in message and str(datetime.now(timezone(timedelta(hours=8))).year) \
        in message
    assert api("rm1", "post", "/api/v1/service-requests",
               json={"customer_id": str(platinum)}).status_code == 400


def test_the_api_keeps_to_scope(api, engine, bank, users):
    set_tier(engine, bank.ids["C2"], "platinum")
    request_id = raise_as(engine, "rm2", bank.ids["C2"], "fee_waiver")
    assert api("rm1", "get", f"/api/v1/service-requests/{request_id}").status_code == 404
    assert api("rm1", "patch", f"/api/v1/service-requests/{request_id}",
               json={"status": "in_progress"}).status_code == 404
    assert api("rm1", "get", f"/api/v1/customers/{bank.ids['C2']}/entitlements"
               ).status_code == 404
    assert api("admin", "get", f"/api/v1/customers/{bank.ids['C2']}/entitlements"
               ).status_code == 404
    assert api("rm1", "post", "/api/v1/service-requests",
               json={"customer_id": bank.ids["C2"], "entitlement": "fee_waiver"}
               ).status_code == 404
    assert api("rm1", "get", "/api/v1/service-requests").get_json()["total"] == 0
    assert api("bm_b01", "get", "/api/v1/service-requests").get_json()["total"] == 1
    assert api("analyst", "get", "/api/v1/service-requests").status_code == 403
    assert api("admin", "get", "/api/v1/service-requests").status_code == 403
    assert api("analyst", "get", f"/api/v1/service-requests/{request_id}").status_code == 403


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "oracle"])
def test_the_queries_compile_for_every_database(dialect):
    from importlib import import_module

    from portal.scope import Scope

    compiled = import_module(f"sqlalchemy.dialects.{dialect}").dialect()
    filters = sr.RequestFilter(status="open", overdue_only=True, entitlement="fee_waiver",
                               tier="gold", customer_id=1)
    for scope in (Scope("book", staff_id="RM0001"),
                  Scope("branches", branches=frozenset({"B01"}))):
        sql = str(sr.requests_query(scope, filters, NOV).compile(dialect=compiled))
        assert "FROM service_requests JOIN customers" in sql and "CASE WHEN" in sql
    sql = str(ent.customer_entitlements_query(1, 2026, "gold").compile(dialect=compiled))
    assert "LEFT OUTER JOIN" in sql and "GROUP BY" in sql
