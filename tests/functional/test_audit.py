"""The audit trail: append-only in the database itself, written for every sign-in and
token, and read by admins (everything) and branch managers (their subtree) only."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from portal.models import AuditEvent, User
from tests.functional.conftest import PASSWORD, csrf_token

WRONG = "not the password"


def events(engine, **where: Any) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        query = select(AuditEvent).order_by(AuditEvent.id)
        for name, value in where.items():
            query = query.where(getattr(AuditEvent, name) == value)
        return list(session.scalars(query))


def seed(app: Any, username: str, action: str, count: int = 1, **kwargs: Any) -> None:
    """Events by ``username`` (its branch unless given), as a service would write them."""
    from portal import audit
    from portal.extensions import db

    with app.app_context():
        session = db.sessions()
        user = session.scalars(select(User).where(User.username == username)).one()
        for _ in range(count):
            audit.record(session, audit.Actor.of(user, "10.0.0.9", "pytest"), action, **kwargs)
        session.commit()
        session.close()


# --- the log is append-only --------------------------------------------------------------

def test_the_database_refuses_to_change_or_remove_audit_events(app, users, login, engine):
    login("rm1")
    (event,) = events(engine, action="sign_in")
    for statement in (update(AuditEvent).where(AuditEvent.id == event.id)
                      .values(username="someone-else"),
                      update(AuditEvent).values(action="nothing"),
                      delete(AuditEvent).where(AuditEvent.id == event.id),
                      delete(AuditEvent)):
        with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="append-only"):
                conn.execute(statement)
            conn.rollback()
    with engine.connect() as conn:
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("UPDATE audit_events SET ip = '6.6.6.6'"))
    (after,) = events(engine, action="sign_in")
    assert (after.id, after.username, after.action, after.ip) == \
        (event.id, "rm1", "sign_in", event.ip)


def test_the_orm_cannot_edit_an_event_either(app, users, login, engine):
    login("rm1")
    with Session(engine) as session:
        event = session.scalars(select(AuditEvent)).one()
        event.username = "tampered"
        with pytest.raises(DBAPIError, match="append-only"):
            session.commit()
    assert events(engine)[0].username == "rm1"


# --- what is written -----------------------------------------------------------------------

def test_sign_in_success_and_failures_are_recorded_with_who_and_where(client, users, login,
                                                                        engine):
    login("rm1", WRONG)
    login("ghost", WRONG)
    login("rm1")
    failed, ghost, ok = events(engine)
    assert (failed.action, failed.user_id, failed.username, failed.branch_code) == \
        ("sign_in_failed", users["rm1"], "rm1", "S011")
    assert failed.detail == {"reason": "wrong username or password"}
    assert (ghost.action, ghost.user_id, ghost.username, ghost.branch_code) == \
        ("sign_in_failed", None, "ghost", None)
    assert (ok.action, ok.user_id, ok.username, ok.branch_code) == \
        ("sign_in", users["rm1"], "rm1", "S011")
    assert ok.ip == "127.0.0.1" and ok.at.tzinfo is not None
    assert abs(ok.at - datetime.now(timezone.utc)) < timedelta(minutes=1)


def test_a_failed_sign_in_is_recorded_although_the_request_fails(client, users, login, engine):
    # The answer is 401, which rolls back; the failure count and its audit must stay.
    response = login("rm1", WRONG)
    assert response.status_code == 401
    assert [e.action for e in events(engine)] == ["sign_in_failed"]
    with Session(engine) as session:
        assert session.scalar(select(User.failed_logins).where(User.username == "rm1")) == 1


def test_a_refused_csrf_post_records_nothing(client, users, engine):
    client.get("/login")
    client.post("/login", data={"username": "rm1", "password": PASSWORD})
    assert events(engine) == []


def test_sign_out_is_recorded(client, users, login, engine):
    login("rm1")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert [e.action for e in events(engine)] == ["sign_in", "sign_out"]


def test_tokens_issued_and_refused_are_recorded(client, users, engine):
    client.post("/api/v1/auth/token", json={"username": "rm2", "password": PASSWORD},
                headers={"User-Agent": "batch-job/1.0"})
    client.post("/api/v1/auth/token", json={"username": "rm2", "password": WRONG})
    client.post("/api/v1/auth/token", json={"username": "ghost", "password": WRONG})
    issued, refused, ghost = events(engine)
    assert (issued.action, issued.user_id, issued.branch_code, issued.user_agent) == \
        ("token_issued", users["rm2"], "S012", "batch-job/1.0")
    assert (refused.action, refused.user_id, refused.branch_code, refused.detail) == \
        ("token_refused", users["rm2"], "S012", {"reason": "wrong username or password"})
    assert (ghost.action, ghost.user_id, ghost.username) == ("token_refused", None, "ghost")


# --- who reads it: the API -----------------------------------------------------------------

def get(api, username: str, **params: Any):  # type: ignore[no-untyped-def]
    return api(username, "get", "/api/v1/audit", query_string=params)


def test_admins_read_every_event_newest_first(app, api, users, engine):
    seed(app, "rm1", "view_customer")
    seed(app, "rm3", "view_customer")
    response = get(api, "admin", per_page=100)
    assert response.status_code == 200
    body = response.get_json()
    everything = events(engine)
    assert body["total"] == len(everything) == len(body["items"])
    assert [item["id"] for item in body["items"]] == [e.id for e in reversed(everything)]
    first = body["items"][-1]
    assert set(first) >= {"id", "at", "user_id", "username", "action", "customer_id",
                          "branch_code", "detail", "ip", "user_agent"}
    assert datetime.fromisoformat(first["at"]).tzinfo is not None


def test_branch_managers_read_their_subtree_only(app, api, users, bank):
    seed(app, "rm1", "view_customer", customer_id=bank.ids["C1"])      # S011, in B01
    seed(app, "rm2", "export")                                          # S012, in B01
    seed(app, "rm3", "view_customer", customer_id=bank.ids["C3"])      # S021, in B02
    seed(app, "bm_b02", "reveal", customer_id=bank.ids["C3"])          # B02
    body = get(api, "bm_b01", per_page=100).get_json()
    seen = {(item["username"], item["action"]) for item in body["items"]}
    assert ("rm1", "view_customer") in seen and ("rm2", "export") in seen
    assert not {"rm3", "bm_b02"} & {item["username"] for item in body["items"]}
    assert {item["branch_code"] for item in body["items"]} <= {"B01", "S011", "S012"}
    b02 = {(item["username"], item["action"])
           for item in get(api, "bm_b02", per_page=100).get_json()["items"]}
    assert ("rm3", "view_customer") in b02 and ("rm1", "view_customer") not in b02


def test_branch_managers_read_events_about_customers_in_their_scope(app, api, users, bank):
    # Someone outside the subtree touched a customer of B01 (head office, say).
    seed(app, "analyst", "export", customer_id=bank.ids["C2"])
    seed(app, "analyst", "export")
    items = get(api, "bm_b01", user="analyst").get_json()["items"]
    assert [(i["customer_id"], i["branch_code"]) for i in items] == [(bank.ids["C2"], "HO")]
    assert get(api, "bm_b02", user="analyst").get_json()["total"] == 0


@pytest.mark.parametrize("username", ["rm1", "adv1", "analyst"])
def test_other_roles_may_not_read_the_log(app, api, users, username):
    seed(app, username, "view_customer")
    response = get(api, username)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_reading_the_log_needs_a_token(client, users):
    response = client.get("/api/v1/audit")
    assert response.status_code == 401 and "Bearer" in response.headers["WWW-Authenticate"]
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_the_events_of_one_customer(app, api, users, bank):
    c1, c2 = bank.ids["C1"], bank.ids["C2"]
    seed(app, "rm1", "view_customer", count=3, customer_id=c1)
    seed(app, "rm2", "view_customer", customer_id=c2)
    body = get(api, "bm_b01", customer=c1).get_json()
    assert body["total"] == 3 and {i["customer_id"] for i in body["items"]} == {c1}
    assert get(api, "admin", customer=c1).get_json()["total"] == 3


def test_a_customer_outside_the_managers_scope_is_a_404_like_a_missing_one(app, api, users,
                                                                           bank):
    seed(app, "rm3", "view_customer", customer_id=bank.ids["C3"])
    outside = get(api, "bm_b01", customer=bank.ids["C3"])
    missing = get(api, "bm_b01", customer=987654)
    assert outside.status_code == missing.status_code == 404
    assert outside.get_json() == missing.get_json()
    assert get(api, "admin", customer=bank.ids["C3"]).get_json()["total"] == 1


def test_filters_by_user_action_and_time(app, api, users, engine):
    seed(app, "rm1", "view_customer", count=2)
    seed(app, "rm1", "export")
    seed(app, "rm2", "export")
    assert get(api, "admin", user="rm1").get_json()["total"] == 3
    assert get(api, "admin", action="export").get_json()["total"] == 2
    assert get(api, "admin", user="rm1", action="export").get_json()["total"] == 1
    newest = events(engine)[-1].at
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()
    assert get(api, "admin", since=tomorrow).get_json()["total"] == 0
    assert get(api, "admin", since="2000-01-01").get_json()["total"] == len(events(engine))
    assert get(api, "admin", since=newest.isoformat()).get_json()["total"] == 1
    naive = newest.astimezone(timezone.utc).replace(tzinfo=None).isoformat()
    assert get(api, "admin", since=naive).get_json()["total"] == 1  # no zone: UTC


def test_pages_are_complete_disjoint_and_newest_first(app, api, users, engine):
    seed(app, "rm1", "view_customer", count=23)
    seen: list[int] = []
    for page in (1, 2, 3):
        body = get(api, "admin", user="rm1", page=page, per_page=10).get_json()
        assert (body["total"], body["page"], body["per_page"]) == (23, page, 10)
        assert len(body["items"]) == (10 if page < 3 else 3)
        seen += [item["id"] for item in body["items"]]
    assert seen == sorted(seen, reverse=True) == \
        [e.id for e in reversed(events(engine, username="rm1"))]
    beyond = get(api, "admin", user="rm1", page=4, per_page=10).get_json()
    assert beyond["items"] == [] and beyond["total"] == 23
    assert get(api, "admin").get_json()["per_page"] == app.config["API_PAGE_SIZE"]


@pytest.mark.parametrize("params", [
    {"page": "0"}, {"page": "x"}, {"page": "-1"}, {"per_page": "0"}, {"per_page": "101"},
    {"per_page": "1e3"}, {"customer": "abc"}, {"customer": "1 OR 1=1"}, {"since": "yesterday"},
    {"since": "2026-13-01"},
])
def test_malformed_parameters_are_a_400(api, users, params):
    response = get(api, "admin", **params)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid"


def test_sql_metacharacters_in_filters_are_just_text(app, api, users):
    seed(app, "rm1", "export")
    for value in ("' OR '1'='1", "rm1' --", "%", "_"):
        assert get(api, "admin", user=value).get_json()["total"] == 0
        assert get(api, "admin", action=value).get_json()["total"] == 0


# --- who reads it: the page ----------------------------------------------------------------

def rows(response) -> list[str]:  # type: ignore[no-untyped-def]
    page = response.get_data(as_text=True)
    table = page[page.index('id="audit-events"'):page.index("</table>")]
    return re.findall(r"<tr>\s*<td>.*?</tr>", table, re.S)


def test_the_page_follows_the_same_rules(app, client, users, login, bank):
    seed(app, "rm3", "view_customer", customer_id=bank.ids["C3"])
    seed(app, "rm1", "view_customer", customer_id=bank.ids["C1"])
    login("bm_b01")
    response = client.get("/audit")
    assert response.status_code == 200
    shown = rows(response)
    assert any("<td>rm1</td>" in row for row in shown)
    assert not any("<td>rm3</td>" in row for row in shown)
    assert client.get("/audit", query_string={"customer": bank.ids["C3"]}).status_code == 404
    assert client.get("/audit", query_string={"page": "0"}).status_code == 400


def test_admins_see_everything_on_the_page_with_filters(app, client, users, login):
    seed(app, "rm3", "view_customer")
    seed(app, "rm1", "export")
    login("admin")
    shown = rows(client.get("/audit"))
    assert any("<td>rm3</td>" in row for row in shown)
    assert any("<td>rm1</td>" in row for row in shown)
    filtered = rows(client.get("/audit", query_string={"user": "rm3"}))
    assert len(filtered) == 1 and "view_customer" in filtered[0]


def test_the_page_escapes_what_it_shows(app, client, users, login):
    seed(app, "rm1", "export", note="<script>alert(1)</script>")
    login("admin")
    page = client.get("/audit").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_the_page_pages(app, client, users, login):
    seed(app, "rm1", "export", count=45)
    login("admin")
    first = client.get("/audit")
    assert len(rows(first)) == app.config["API_PAGE_SIZE"]
    assert 'rel="next"' in first.get_data(as_text=True)
    last = client.get("/audit", query_string={"page": 3})
    assert len(rows(last)) == 46 - 2 * app.config["API_PAGE_SIZE"]  # 45 + the sign-in
    assert 'rel="next"' not in last.get_data(as_text=True)


@pytest.mark.parametrize("username", ["rm1", "analyst", "adv1"])
def test_other_roles_get_a_403_page_and_no_link(client, users, login, username):
    login(username)
    assert client.get("/audit").status_code == 403
    assert 'href="/audit"' not in client.get("/").get_data(as_text=True)


def test_managers_and_admins_get_the_link(client, users, login):
    login("bm_b01")
    assert 'href="/audit"' in client.get("/").get_data(as_text=True)


def test_filtering_by_a_name_nobody_has(api, users, login):
    login("ghost", WRONG)
    login("rm1", WRONG)
    body = get(api, "admin", user="ghost").get_json()
    assert [(i["username"], i["action"], i["user_id"]) for i in body["items"]] == \
        [("ghost", "sign_in_failed", None)]
    assert get(api, "admin", user="rm1").get_json()["total"] == 1
