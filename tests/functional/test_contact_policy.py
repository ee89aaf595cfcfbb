"""The contact policy: which band a customer falls in, who is overdue for contact (at the
boundaries), and its administration by admins (page and API), validated and audited."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from integration.bank_calendar import BANK_TZ, bank_date
from integration.db import utcnow
from integration.models import Customer
from portal.models import AuditEvent
from portal.workbench import contact_policy
from portal.workbench.contacts import contact_status
from portal.workbench.metrics import refresh_metrics
from portal.workbench.models import Contact, ContactPolicy, CustomerMetrics
from tests.feeds import BDATE
from tests.functional.conftest import csrf_token

AS_OF = BDATE
DEFAULT = {Decimal(6_000_000): 30, Decimal(500_000): 90, Decimal(50_000): 180}


def set_policy(engine, bands: dict[Decimal, int]) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        session.execute(delete(ContactPolicy))
        session.add_all([ContactPolicy(min_aum=aum, interval_days=days)
                         for aum, days in bands.items()])


def contacted(engine, customer_id: int, user_id: int, at: datetime) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session, session.begin():
        session.add(Contact(customer_id=customer_id, staff_id="RM0001", user_id=user_id,
                            branch_code="S011", contacted_at=at, channel="call",
                            purpose="relationship", outcome="ok"))


def policy_in_db(engine) -> dict[Decimal, int]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return {p.min_aum: p.interval_days for p in session.scalars(select(ContactPolicy))}


def policy_events(engine) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    with Session(engine) as session:
        return [e.detail for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action == "contact_policy")
            .order_by(AuditEvent.id))]


@pytest.fixture
def metrics(engine, bank) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """AUM refreshed: 张三 C1 167,600; 李四 C2 50,000; 王五 C3 8,000; C4 0."""
    with Session(engine) as session, session.begin():
        refresh_metrics(session, BDATE)
    return bank.ids


def status(engine, customer_id: int):  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return contact_status(session, customer_id, AS_OF)


def overdue_set(engine) -> set[int]:  # type: ignore[no-untyped-def]
    """Overdue customers found set-based, as the book of business finds them."""
    with Session(engine) as session:
        policy = contact_policy.bands(session)
        return set(session.scalars(
            select(Customer.id)
            .outerjoin(CustomerMetrics, CustomerMetrics.customer_id == Customer.id)
            .where(contact_policy.overdue_for_contact(policy, AS_OF))))


# -- the rule --------------------------------------------------------------------------

def test_a_customer_exactly_at_a_threshold_is_in_that_band(engine, metrics) -> None:  # type: ignore[no-untyped-def]
    set_policy(engine, {Decimal("167600"): 30, Decimal("50000"): 90, Decimal("100"): 365})
    intervals = {name: status(engine, metrics[name]).interval_days
                 for name in ("C1", "C2", "C3", "C4")}
    assert intervals == {"C1": 30, "C2": 90, "C3": 365, "C4": None}
    set_policy(engine, {Decimal("167600.01"): 30, Decimal("50000.01"): 90})
    assert status(engine, metrics["C1"]).interval_days == 90  # a cent short of the top band
    assert status(engine, metrics["C2"]).interval_days is None


def test_overdue_at_exactly_the_interval(engine, metrics, users) -> None:  # type: ignore[no-untyped-def]
    set_policy(engine, {Decimal("50000"): 90})
    for days_before, at, overdue in [
        (90, time(0, 0), False),        # exactly the interval, the first moment of the day
        (90, time(23, 59, 59), False),  # exactly the interval
        (91, time(23, 59, 59), True),   # a day more
        (90, time(7, 30), False),       # the bank's day, though the previous day in UTC
        (0, time(8, 0), False),
    ]:
        with Session(engine) as session, session.begin():
            session.execute(delete(Contact))
        moment = datetime.combine(AS_OF - timedelta(days=days_before), at, tzinfo=BANK_TZ)
        contacted(engine, metrics["C2"], users["rm2"], moment)
        found = status(engine, metrics["C2"])
        assert found.overdue is overdue, moment
        assert found.next_due == AS_OF - timedelta(days=days_before) + timedelta(days=90)
        assert (metrics["C2"] in overdue_set(engine)) is overdue, moment


def test_never_contacted_is_overdue_only_within_a_band(engine, metrics) -> None:  # type: ignore[no-untyped-def]
    set_policy(engine, {Decimal("50000"): 90})
    assert status(engine, metrics["C2"]).overdue  # in the band, never contacted
    below = status(engine, metrics["C3"])         # 8,000: below every band
    assert (below.interval_days, below.overdue, below.never_contacted) == (None, False, True)
    assert overdue_set(engine) == {metrics["C1"], metrics["C2"]}


def test_the_latest_contact_counts(engine, metrics, users) -> None:  # type: ignore[no-untyped-def]
    set_policy(engine, dict(DEFAULT))
    old = datetime.combine(AS_OF - timedelta(days=400), time(10), tzinfo=timezone.utc)
    recent = datetime.combine(AS_OF - timedelta(days=10), time(10), tzinfo=timezone.utc)
    contacted(engine, metrics["C1"], users["rm1"], old)
    assert status(engine, metrics["C1"]).overdue
    contacted(engine, metrics["C1"], users["rm1"], recent)
    found = status(engine, metrics["C1"])
    assert (found.overdue, found.last_contact_at) == (False, recent)
    assert found.next_due == bank_date(recent) + timedelta(days=180)


def test_the_highest_band_reached_applies(engine, metrics, users) -> None:  # type: ignore[no-untyped-def]
    set_policy(engine, {Decimal("100000"): 30, Decimal("50000"): 180})
    # Contacted 60 days ago: fine for the 180-day band, overdue for 张三's 30-day band.
    moment = datetime.combine(AS_OF - timedelta(days=60), time(10), tzinfo=timezone.utc)
    contacted(engine, metrics["C1"], users["rm1"], moment)
    contacted(engine, metrics["C2"], users["rm2"], moment)
    assert status(engine, metrics["C1"]).overdue
    assert not status(engine, metrics["C2"]).overdue
    assert overdue_set(engine) == {metrics["C1"]}


def test_no_policy_or_no_refreshed_aum_means_nobody_is_overdue(engine, bank) -> None:  # type: ignore[no-untyped-def]
    found = status(engine, bank.ids["C1"])  # AUM not refreshed yet
    assert (found.aum, found.interval_days, found.overdue) == (None, None, False)
    with Session(engine) as session, session.begin():
        refresh_metrics(session, BDATE)
    assert status(engine, bank.ids["C1"]).overdue
    set_policy(engine, {})
    assert not status(engine, bank.ids["C1"]).overdue
    assert overdue_set(engine) == set()


def test_the_360_page_shows_the_status(client, login, engine, metrics, users) -> None:  # type: ignore[no-untyped-def]
    set_policy(engine, {Decimal("50000"): 90})
    login("rm1")
    page = client.get(f"/customers/{metrics['C1']}").get_data(as_text=True)
    assert 'id="contact-overdue"' in page and "90" in page
    page = client.get(f"/customers/{metrics['C4']}").get_data(as_text=True)
    assert 'id="contact-overdue"' not in page  # below every band


# -- administration: the page ----------------------------------------------------------

def test_admins_see_the_policy(client, login, users) -> None:  # type: ignore[no-untyped-def]
    login("admin")
    response = client.get("/admin/contact-policy")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "6,000,000.00" in page and "500,000.00" in page and "50,000.00" in page
    assert 'id="nav-contact-policy"' in page


def test_only_admins_manage_the_policy(app, engine, users) -> None:  # type: ignore[no-untyped-def]
    from tests.functional.conftest import PASSWORD

    with Session(engine) as session:
        band_id = session.scalar(select(ContactPolicy.id).limit(1))
    for username in ("rm1", "bm_b01", "analyst", "adv1"):
        client = app.test_client()
        client.post("/login", data={"username": username, "password": PASSWORD,
                                    "csrf_token": csrf_token(client, "/login")})
        token = csrf_token(client, "/")
        assert client.get("/admin/contact-policy").status_code == 403, username
        for path, data in [
                ("/admin/contact-policy", {"min_aum": "1000", "interval_days": "7"}),
                (f"/admin/contact-policy/{band_id}", {"interval_days": "7"}),
                (f"/admin/contact-policy/{band_id}/remove", {})]:
            assert client.post(path, data={**data, "csrf_token": token}).status_code == 403
    assert policy_in_db(engine) == DEFAULT
    assert policy_events(engine) == []


def test_signed_out_visitors_are_sent_to_sign_in(client, users) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/admin/contact-policy")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_an_admin_adds_changes_and_removes_bands(client, login, engine, users) -> None:  # type: ignore[no-untyped-def]
    login("admin")
    token = csrf_token(client, "/admin/contact-policy")
    before = utcnow()
    response = client.post("/admin/contact-policy", data={
        "csrf_token": token, "min_aum": "2000000.50", "interval_days": "45"})
    assert response.status_code == 302
    with Session(engine) as session:
        band = session.scalar(select(ContactPolicy).where(
            ContactPolicy.min_aum == Decimal("2000000.50")))
        assert (band.interval_days, band.updated_by) == (45, users["admin"])
        assert band.updated_at >= before
        band_id = band.id
    assert client.post(f"/admin/contact-policy/{band_id}", data={
        "csrf_token": token, "interval_days": "60"}).status_code == 302
    assert policy_in_db(engine)[Decimal("2000000.50")] == 60
    assert client.post(f"/admin/contact-policy/{band_id}/remove",
                       data={"csrf_token": token}).status_code == 302
    assert policy_in_db(engine) == DEFAULT
    assert [(e["change"], e["min_aum"], e["interval_days"]) for e in policy_events(engine)] == [
        ("add", "2000000.50", 45), ("interval", "2000000.50", 60), ("remove", "2000000.50", 60)]
    assert policy_events(engine)[1]["previous_interval_days"] == 45
    page = client.get("/admin/contact-policy").get_data(as_text=True)
    assert "2,000,000.50" not in page


def test_bad_bands_are_refused_and_change_nothing(client, login, engine, users) -> None:  # type: ignore[no-untyped-def]
    client.post("/language/en", data={"csrf_token": csrf_token(client, "/login")})
    login("admin")
    token = csrf_token(client, "/admin/contact-policy")
    for min_aum, interval, status, message in [
        ("-1", "30", 400, "at least 0"),
        ("1000.001", "30", 400, "at most 2 decimal places"),
        ("abc", "30", 400, ""),
        ("1000", "0", 400, "from 1 to 3650"),
        ("1000", "3651", 400, "from 1 to 3650"),
        ("1000", "", 400, "Enter the interval in days."),
        ("500000", "30", 409, "already exists"),  # the seeded band's minimum AUM
    ]:
        response = client.post("/admin/contact-policy", data={
            "csrf_token": token, "min_aum": min_aum, "interval_days": interval})
        assert response.status_code == status, (min_aum, interval)
        page = response.get_data(as_text=True)
        assert message in page and 'id="policy-error"' in page
    assert policy_in_db(engine) == DEFAULT
    assert policy_events(engine) == []


def test_a_bad_interval_change_is_refused(client, login, engine, users) -> None:  # type: ignore[no-untyped-def]
    login("admin")
    token = csrf_token(client, "/admin/contact-policy")
    with Session(engine) as session:
        band_id = session.scalar(select(ContactPolicy.id).where(
            ContactPolicy.min_aum == Decimal(500_000)))
    for days in ("0", "3651", "x"):
        response = client.post(f"/admin/contact-policy/{band_id}",
                               data={"csrf_token": token, "interval_days": days})
        assert response.status_code == 400
    assert client.post("/admin/contact-policy/999999", data={
        "csrf_token": token, "interval_days": "10"}).status_code == 404
    assert client.post("/admin/contact-policy/999999/remove",
                       data={"csrf_token": token}).status_code == 404
    assert policy_in_db(engine) == DEFAULT
    assert policy_events(engine) == []


def test_the_book_reads_the_changed_policy(client, login, engine, metrics, users) -> None:  # type: ignore[no-untyped-def]
    login("admin")
    token = csrf_token(client, "/admin/contact-policy")
    client.post("/admin/contact-policy", data={"csrf_token": token, "min_aum": "8000",
                                               "interval_days": "365"})
    with Session(engine) as session:
        assert contact_policy.interval_for(contact_policy.bands(session), Decimal(8000)) == 365
    assert status(engine, metrics["C3"]).interval_days == 365  # 王五 now has a band


# -- administration: the API -----------------------------------------------------------

def test_every_role_reads_the_policy(api, users) -> None:  # type: ignore[no-untyped-def]
    for username in ("rm1", "bm_b01", "analyst", "admin"):
        response = api(username, "get", "/api/v1/contact-policy")
        assert response.status_code == 200
        assert [(b["min_aum"], b["interval_days"]) for b in response.get_json()["bands"]] == [
            ("6000000.00", 30), ("500000.00", 90), ("50000.00", 180)]


def test_the_policy_api_needs_a_token(client, users) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/contact-policy").status_code == 401


def test_an_admin_replaces_the_policy(api, engine, users) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        kept = session.scalar(select(ContactPolicy).where(
            ContactPolicy.min_aum == Decimal(500_000)))
        kept_id, kept_at = kept.id, kept.updated_at
    response = api("admin", "put", "/api/v1/contact-policy", json={"bands": [
        {"min_aum": "1000000", "interval_days": 60}, {"min_aum": "500000", "interval_days": 90},
        {"min_aum": 10000, "interval_days": 365}]})
    assert response.status_code == 200, response.get_json()
    assert [(b["min_aum"], b["interval_days"], b["updated_by"])
            for b in response.get_json()["bands"]] == [
        ("1000000.00", 60, "admin"), ("500000.00", 90, None), ("10000.00", 365, "admin")]
    assert policy_in_db(engine) == {Decimal(1_000_000): 60, Decimal(500_000): 90,
                                    Decimal(10_000): 365}
    with Session(engine) as session:  # an unchanged band is left as it was
        kept = session.get(ContactPolicy, kept_id)
        assert (kept.updated_at, kept.updated_by) == (kept_at, None)
    [event] = policy_events(engine)
    assert event["change"] == "replace"
    assert event["before"][0] == {"min_aum": "6000000.00", "interval_days": 30}
    assert event["after"][-1] == {"min_aum": "10000.00", "interval_days": 365}


BAD_POLICIES = [
    [{"min_aum": "1000", "interval_days": 30}, {"min_aum": "1000.00", "interval_days": 60}],
    [{"min_aum": "-5", "interval_days": 30}],
    [{"min_aum": "1000", "interval_days": 0}],
    [{"min_aum": "1000", "interval_days": 3651}],
    [{"min_aum": "1000", "interval_days": "30"}],
    [{"min_aum": "1000", "interval_days": True}],
    [{"min_aum": "lots", "interval_days": 30}],
    [{"min_aum": "1000"}],
    ["1000"],
    "not a list",
]


def test_a_bad_policy_is_refused_whole(api, engine, users) -> None:  # type: ignore[no-untyped-def]
    for bands in BAD_POLICIES:
        response = api("admin", "put", "/api/v1/contact-policy", json={"bands": bands})
        assert response.status_code == 400, bands
        assert response.get_json()["error"]["code"] == "invalid"
    assert policy_in_db(engine) == DEFAULT
    assert policy_events(engine) == []


def test_only_admins_replace_the_policy(api, engine, users) -> None:  # type: ignore[no-untyped-def]
    for username in ("rm1", "bm_b01", "analyst"):
        response = api(username, "put", "/api/v1/contact-policy",
                       json={"bands": [{"min_aum": "1", "interval_days": 1}]})
        assert response.status_code == 403, username
    assert policy_in_db(engine) == DEFAULT


def test_an_empty_policy_is_allowed(api, engine, users) -> None:  # type: ignore[no-untyped-def]
    response = api("admin", "put", "/api/v1/contact-policy", json={"bands": []})
    assert response.status_code == 200 and response.get_json() == {"bands": []}
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(ContactPolicy)) == 0

