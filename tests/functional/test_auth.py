"""Sign-in for people, attacked the way a bank's penetration test would: CSRF, brute force,
idle sessions, cookie flags, open redirects, user enumeration; and the language choice."""
from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from config import ConfigError, ProductionConfig
from portal.models import User
from portal.security import LOCKOUT, MAX_FAILED_LOGINS, AuthError, authenticate
from tests.functional.conftest import PASSWORD, csrf_token

WRONG = "not the password"


def signed_in(client) -> bool:  # type: ignore[no-untyped-def]
    response = client.get("/")
    return response.status_code == 200


def user_row(engine, username: str) -> User:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return session.scalars(select(User).where(User.username == username)).one()


def flash(response) -> str:  # type: ignore[no-untyped-def]
    match = re.search(r'<p class="flash error" role="status">(.*?)</p>',
                      response.get_data(as_text=True), re.S)
    assert match, "no error message on the page"
    return match.group(1)


class Clock:
    """portal.security's idea of now, moved by the test."""

    def __init__(self, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        self.now = datetime.now(timezone.utc)
        monkeypatch.setattr("portal.security.utcnow", lambda: self.now)


# --- signing in and out --------------------------------------------------------------------

def test_sign_in_then_sign_out(client, users, login):
    assert not signed_in(client)
    assert login("rm1").status_code == 302
    assert signed_in(client)
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 302 and urlsplit(response.location).path == "/login"
    assert not signed_in(client)


def test_a_signed_out_visitor_is_sent_to_the_sign_in_page(client, users):
    response = client.get("/audit")
    assert response.status_code == 302 and urlsplit(response.location).path == "/login"


# --- CSRF ----------------------------------------------------------------------------------

def test_sign_in_without_csrf_token_is_refused_and_counts_nothing(client, users, engine):
    client.get("/login")
    for password in (PASSWORD, WRONG):
        response = client.post("/login", data={"username": "rm1", "password": password})
        assert response.status_code == 400
    assert not signed_in(client)
    assert user_row(engine, "rm1").failed_logins == 0


def test_sign_in_with_a_forged_csrf_token_is_refused(client, users):
    client.get("/login")
    response = client.post("/login", data={"username": "rm1", "password": PASSWORD,
                                           "csrf_token": "forged." + "a" * 40})
    assert response.status_code == 400 and not signed_in(client)


def test_a_csrf_token_from_another_session_is_refused(app, users):
    other = app.test_client()
    stolen = csrf_token(other, "/login")
    victim = app.test_client()
    victim.get("/login")
    response = victim.post("/login", data={"username": "rm1", "password": PASSWORD,
                                           "csrf_token": stolen})
    assert response.status_code == 400 and not signed_in(victim)


def test_sign_out_without_csrf_token_is_refused_and_the_session_stays(client, users, login):
    login("rm1")
    assert client.post("/logout").status_code == 400
    assert signed_in(client)


def test_language_switch_without_csrf_token_is_refused(client, users, login):
    login("rm1")
    response = client.post("/language/en", data={"next": "/"})
    assert response.status_code == 400
    with client.session_transaction() as session:
        assert "lang" not in session


# --- brute force ---------------------------------------------------------------------------

def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(
        client, users, login, engine, monkeypatch):
    clock = Clock(monkeypatch)
    for attempt in range(1, MAX_FAILED_LOGINS + 1):
        response = login("rm1", WRONG)
        assert response.status_code == 401
        wrong_message = flash(response)
        row = user_row(engine, "rm1")
        assert (row.locked_until is not None) == (attempt == MAX_FAILED_LOGINS)
    response = login("rm1", PASSWORD)
    assert response.status_code == 401 and not signed_in(client)
    locked_message = flash(response)
    assert locked_message != wrong_message  # it says the account is locked
    assert flash(login("rm1", WRONG)) == locked_message  # no password oracle while locked

    clock.now += LOCKOUT - timedelta(seconds=1)
    assert login("rm1", PASSWORD).status_code == 401 and not signed_in(client)
    clock.now += timedelta(seconds=1)
    assert login("rm1", PASSWORD).status_code == 302 and signed_in(client)
    row = user_row(engine, "rm1")
    assert row.failed_logins == 0 and row.locked_until is None


def test_the_lock_out_is_per_account(client, users, login):
    for _ in range(MAX_FAILED_LOGINS):
        login("rm1", WRONG)
    assert login("rm2").status_code == 302


def test_failed_attempts_through_the_token_endpoint_lock_the_portal_too(client, users, login,
                                                                       engine):
    for _ in range(MAX_FAILED_LOGINS):
        response = client.post("/api/v1/auth/token", json={"username": "rm1", "password": WRONG})
        assert response.status_code == 401
    assert user_row(engine, "rm1").locked_until is not None
    assert login("rm1").status_code == 401 and not signed_in(client)
    locked = client.post("/api/v1/auth/token", json={"username": "rm1", "password": PASSWORD})
    assert locked.status_code == 401 and "locked" in locked.get_json()["error"]["message"]


def test_parallel_guesses_cannot_outrun_the_lock_out(app, users, engine):
    """A burst of simultaneous wrong passwords: at most five are ever judged, and on a
    database with row locks (PostgreSQL, Oracle) the account ends locked."""
    from portal.extensions import db

    attempts = 12
    barrier = threading.Barrier(attempts)
    answers: list[str] = []

    def guess() -> None:
        answer = ""
        with app.app_context():
            session = db.sessions()
            try:
                barrier.wait()
                try:
                    authenticate(session, "rm1", WRONG,
                                 password_method=app.config["PASSWORD_METHOD"])
                except AuthError as exc:
                    answer = str(exc)
                session.commit()
            except Exception as exc:  # SQLite: a stale reader may not write
                session.rollback()
                answer = f"{answer} (then {type(exc).__name__})"
            finally:
                session.close()
        answers.append(answer)

    threads = [threading.Thread(target=guess) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == attempts
    judged = sum(answer.startswith("wrong username or password") for answer in answers)
    assert judged <= MAX_FAILED_LOGINS, answers
    row = user_row(engine, "rm1")
    if engine.dialect.name != "sqlite":
        # Row locks queue the attempts: exactly five judged, the rest find the lock.
        assert judged == MAX_FAILED_LOGINS and row.locked_until is not None
        assert answers.count("account locked after repeated failures; try again later") == \
            attempts - MAX_FAILED_LOGINS
    else:
        committed = answers.count("wrong username or password")
        assert committed == (MAX_FAILED_LOGINS if row.locked_until else row.failed_logins)


# --- user enumeration ----------------------------------------------------------------------

def test_unknown_user_and_wrong_password_answer_alike(client, users, login):
    unknown, wrong = login("nobody-here", WRONG), login("rm1", WRONG)
    assert unknown.status_code == wrong.status_code == 401
    assert flash(unknown) == flash(wrong)
    api_unknown = client.post("/api/v1/auth/token", json={"username": "nobody", "password": WRONG})
    api_wrong = client.post("/api/v1/auth/token", json={"username": "rm1", "password": WRONG})
    assert api_unknown.status_code == api_wrong.status_code == 401
    assert api_unknown.get_json() == api_wrong.get_json()


# --- idle timeout --------------------------------------------------------------------------

def test_an_idle_session_is_signed_out(app, client, users, login):
    login("rm1")
    timeout = app.config["IDLE_TIMEOUT_SECONDS"]
    with client.session_transaction() as session:
        session["seen"] -= timeout - 30  # idle, but not for long enough
    assert signed_in(client)
    with client.session_transaction() as session:
        session["seen"] -= timeout + 1
    response = client.get("/")
    assert response.status_code == 302 and urlsplit(response.location).path == "/login"
    assert not signed_in(client)
    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_the_idle_timeout_comes_from_the_settings(config, engine, users):
    from portal import create_app

    config.IDLE_TIMEOUT_SECONDS = 5
    app = create_app(config)
    client = app.test_client()
    token = csrf_token(client)
    client.post("/login", data={"username": "rm1", "password": PASSWORD, "csrf_token": token})
    assert signed_in(client)
    with client.session_transaction() as session:
        session["seen"] -= 6
    assert not signed_in(client)
    app.extensions["crm.db"][0].dispose()


# --- cookies -------------------------------------------------------------------------------

def session_cookie(response, name: str = "session") -> str:  # type: ignore[no-untyped-def]
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(name + "=")]
    assert cookies, f"no {name} cookie set"
    return cookies[-1]


def test_the_session_cookie_is_httponly_and_samesite_lax(client, users):
    response = client.post("/login", data={"username": "rm1", "password": PASSWORD,
                                           "csrf_token": csrf_token(client)})
    cookie = session_cookie(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the test profile speaks plain HTTP


def test_production_cookies_are_secure(database_url, tmp_path):
    from portal import create_app

    env = {"CRM_SECRET_KEY": "s" * 48, "CRM_DATABASE_URL": database_url,
           "CRM_INSTANCE_PATH": str(tmp_path / "prod")}
    config = ProductionConfig(env)
    config.check()
    assert (config.SESSION_COOKIE_SECURE, config.REMEMBER_COOKIE_SECURE,
            config.SESSION_COOKIE_HTTPONLY, config.SESSION_COOKIE_SAMESITE) == \
        (True, True, True, "Lax")
    app = create_app(config)
    response = app.test_client().get("/login", base_url="https://crm.bank.example")
    cookie = session_cookie(response)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    app.extensions["crm.db"][0].dispose()


def test_production_refuses_insecure_cookies(database_url, tmp_path):
    config = ProductionConfig({"CRM_SECRET_KEY": "s" * 48, "CRM_DATABASE_URL": database_url,
                               "CRM_INSTANCE_PATH": str(tmp_path), "CRM_INSECURE_COOKIES": "1"})
    with pytest.raises(ConfigError, match="CRM_INSECURE_COOKIES"):
        config.check()


# --- redirects -----------------------------------------------------------------------------

@pytest.mark.parametrize("target", [
    "//evil.example", "//evil.example/login", "https://evil.example/", "http:evil.example",
    "/\\evil.example", "\\\\evil.example", "/\t/evil.example", "/\n/evil.example",
    "%2F%2Fevil.example", " //evil.example", "javascript:alert(1)",
])
def test_next_never_leaves_the_site(client, users, target):
    token = csrf_token(client)
    response = client.post("/login", query_string={"next": target},
                           data={"username": "rm1", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    location = response.headers["Location"]
    parts = urlsplit(location.replace("\t", "").replace("\n", ""))
    assert parts.netloc in ("", "localhost") and not location.lstrip().startswith("//"), location
    assert parts.scheme in ("", "http")


def test_a_same_site_next_is_followed(client, users):
    token = csrf_token(client)
    response = client.post("/login", query_string={"next": "/audit?page=2"},
                           data={"username": "rm1", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/audit?page=2"


def test_the_language_switch_never_redirects_off_site(client, users, login):
    login("rm1")
    token = csrf_token(client, "/")
    response = client.post("/language/en", data={"csrf_token": token,
                                                  "next": "/\t/evil.example"})
    assert response.status_code == 302 and urlsplit(response.location).netloc in ("", "localhost")
    assert not response.location.startswith("//")


# --- language ------------------------------------------------------------------------------

def page_language(response) -> str:  # type: ignore[no-untyped-def]
    match = re.search(r'<html lang="([^"]+)"', response.get_data(as_text=True))
    assert match
    return match.group(1)


@pytest.mark.parametrize("header,expected", [
    ("en-US,en;q=0.9", "en"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
    ("en-GB,zh;q=0.5", "en"),          # regression: an exact "zh" at q=0.5 used to win
    ("en-US,zh-CN;q=0.9", "en"), ("fr-FR,en;q=0.8,zh;q=0.5", "en"), ("zh-TW", "zh-CN"),
    ("fr", "zh-CN"), ("", "zh-CN"),
])
def test_the_browser_language_decides_when_nobody_chose(client, header, expected):
    assert page_language(client.get("/login", headers={"Accept-Language": header})) == expected


def test_a_language_chosen_on_the_sign_in_page_survives_signing_in(client, users, engine):
    headers = {"Accept-Language": "zh-CN"}
    token = csrf_token(client)
    client.post("/language/en", data={"csrf_token": token, "next": "/login"}, headers=headers)
    assert page_language(client.get("/login", headers=headers)) == "en"
    client.post("/login", data={"username": "rm1", "password": PASSWORD,
                                "csrf_token": csrf_token(client)}, headers=headers)
    assert signed_in(client)
    # Regression: signing in cleared the session and with it the choice.
    assert page_language(client.get("/", headers=headers)) == "en"
    assert user_row(engine, "rm1").locale == "en"


def test_the_users_stored_language_applies_at_the_next_sign_in(app, client, users, login):
    login("rm1")
    client.post("/language/en", data={"csrf_token": csrf_token(client, "/"), "next": "/"})
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    fresh = app.test_client()
    token = csrf_token(fresh)
    fresh.post("/login", data={"username": "rm1", "password": PASSWORD, "csrf_token": token},
               headers={"Accept-Language": "zh-CN"})
    assert page_language(fresh.get("/", headers={"Accept-Language": "zh-CN"})) == "en"


def test_a_session_cookie_copied_before_sign_out_is_dead_after_it(client, users, login,
                                                                  token):
    # Regression: the session is a signed cookie, so signing out used to end only the
    # browser's copy; a stolen copy stayed valid until the idle timeout.
    login("rm1")
    stolen = client.get_cookie("session").value
    issued = token("rm1")
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    client.set_cookie("session", stolen)
    response = client.get("/")
    assert response.status_code == 302 and urlsplit(response.location).path == "/login"
    assert client.get("/api/v1/audit",
                      headers={"Authorization": f"Bearer {issued}"}).status_code == 401
    assert login("rm1").status_code == 302 and signed_in(client)
