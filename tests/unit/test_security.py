"""Passwords, lock-out and tokens without a database: a fake session holds the users."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.security import check_password_hash

from portal import security
from portal.models import User
from portal.security import (
    LOCKOUT,
    MAX_FAILED_LOGINS,
    AuthError,
    TokenSettings,
    authenticate,
    hash_password,
    issue_token,
    user_from_token,
)

METHOD = "pbkdf2:sha256:1000"
PASSWORD = "correct horse battery"
SECRET = "unit-test-secret-long-enough-for-every-hmac-algorithm-0123456789"
SETTINGS = TokenSettings(secret=SECRET, lifetime=timedelta(minutes=15))
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


class FakeSession:
    """Just what security.py asks of a session: get, scalar(select user by name), flush."""

    def __init__(self, *users: User) -> None:
        self.users = {user.id: user for user in users}
        self.flushes = 0

    def get(self, _model: type, ident: int) -> User | None:
        return self.users.get(ident)

    def scalar(self, statement: Any) -> User | None:
        (username,) = statement.compile().params.values()
        return next((u for u in self.users.values() if u.username == username), None)

    def flush(self) -> None:
        self.flushes += 1


def make_user(**overrides: Any) -> User:
    values: dict[str, Any] = dict(
        id=7, username="rm1", password_hash=hash_password(PASSWORD, METHOD), role="rm",
        branch_code="S011", staff_id="RM0001", active=True, failed_logins=0, locked_until=None,
        session_version=1)
    values.update(overrides)
    return User(**values)


# --- passwords -----------------------------------------------------------------------------

def test_passwords_are_hashed_with_the_method_asked_for_and_verify():
    hashed = hash_password(PASSWORD, "scrypt")
    assert hashed.startswith("scrypt:") and PASSWORD not in hashed
    assert check_password_hash(hashed, PASSWORD)
    assert not check_password_hash(hashed, PASSWORD + "x")


def test_a_short_password_is_refused():
    with pytest.raises(ValueError, match="at least 10 characters"):
        hash_password("x" * 9, METHOD)
    assert hash_password("x" * 10, METHOD).startswith("pbkdf2:sha256:1000$")


# --- lock-out ------------------------------------------------------------------------------

def test_the_fifth_wrong_password_locks_the_account_for_the_lock_period():
    user = make_user()
    session = FakeSession(user)
    for attempt in range(1, MAX_FAILED_LOGINS):
        with pytest.raises(AuthError, match="wrong username or password"):
            authenticate(session, "rm1", "wrong password!", now=T0, password_method=METHOD)
        assert user.failed_logins == attempt and user.locked_until is None
    with pytest.raises(AuthError, match="wrong username or password"):
        authenticate(session, "rm1", "wrong password!", now=T0, password_method=METHOD)
    assert user.locked_until == T0 + LOCKOUT == T0 + timedelta(minutes=15)
    # Locked: even the right password is refused, until the very end of the period.
    for moment in (T0, T0 + LOCKOUT - timedelta(seconds=1)):
        with pytest.raises(AuthError, match="locked"):
            authenticate(session, "rm1", PASSWORD, now=moment, password_method=METHOD)
    assert authenticate(session, "rm1", PASSWORD, now=T0 + LOCKOUT,
                        password_method=METHOD) is user
    assert user.failed_logins == 0 and user.locked_until is None
    assert user.last_login_at == T0 + LOCKOUT


def test_a_wrong_password_while_locked_does_not_extend_the_lock():
    user = make_user(locked_until=T0 + LOCKOUT)
    with pytest.raises(AuthError, match="locked"):
        authenticate(FakeSession(user), "rm1", "wrong password!", now=T0 + timedelta(minutes=14),
                     password_method=METHOD)
    assert user.locked_until == T0 + LOCKOUT and user.failed_logins == 0


def test_a_successful_sign_in_resets_the_failure_count():
    user = make_user()
    session = FakeSession(user)
    for _ in range(MAX_FAILED_LOGINS - 1):
        with pytest.raises(AuthError):
            authenticate(session, "rm1", "wrong password!", now=T0, password_method=METHOD)
    authenticate(session, "rm1", PASSWORD, now=T0, password_method=METHOD)
    for _ in range(MAX_FAILED_LOGINS - 1):
        with pytest.raises(AuthError):
            authenticate(session, "rm1", "wrong password!", now=T0, password_method=METHOD)
    assert user.locked_until is None and user.failed_logins == MAX_FAILED_LOGINS - 1


def test_a_disabled_user_cannot_sign_in_even_with_the_right_password():
    user = make_user(active=False)
    with pytest.raises(AuthError, match="disabled"):
        authenticate(FakeSession(user), "rm1", PASSWORD, now=T0, password_method=METHOD)
    assert user.last_login_at is None


def test_an_unknown_user_gets_the_wrong_password_answer():
    session = FakeSession(make_user())
    with pytest.raises(AuthError) as unknown:
        authenticate(session, "nobody", PASSWORD, now=T0, password_method=METHOD)
    with pytest.raises(AuthError) as wrong:
        authenticate(session, "rm1", "wrong password!", now=T0, password_method=METHOD)
    assert str(unknown.value) == str(wrong.value) == "wrong username or password"


@pytest.mark.parametrize("method", ["scrypt", METHOD])
def test_an_unknown_user_costs_a_hash_check_of_the_configured_method(monkeypatch, method):
    # Regression: the decoy hash was always cheap PBKDF2 while real hashes are scrypt, so
    # the answer time told which usernames exist.
    checked: list[str] = []
    monkeypatch.setattr(security, "check_password_hash",
                        lambda hashed, password: checked.append(hashed) or False)
    with pytest.raises(AuthError):
        authenticate(FakeSession(), "nobody", PASSWORD, now=T0, password_method=method)
    assert len(checked) == 1 and checked[0].startswith(method + "$" if "pbkdf2" in method
                                                       else "scrypt:")


# --- tokens --------------------------------------------------------------------------------

def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """A JWT built by hand, signed with HMAC-SHA256 over ``key`` (or unsigned)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = b"" if key is None else hmac.new(key, signing_input.encode(),
                                                 hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def claims(user: User, **overrides: Any) -> dict[str, Any]:
    now = int(datetime.now(timezone.utc).timestamp())
    values = {"sub": str(user.id), "ver": user.session_version, "role": user.role,
              "iss": security.TOKEN_ISSUER, "aud": security.TOKEN_AUDIENCE, "iat": now,
              "exp": now + 600}
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def assert_refused(user: User, token: str, message: str = "invalid token") -> None:
    with pytest.raises(AuthError) as exc:
        user_from_token(FakeSession(user), token, SETTINGS)
    assert str(exc.value) == message


def test_a_valid_token_names_its_user_and_lives_the_configured_time():
    user = make_user()
    token = issue_token(user, SETTINGS)
    assert user_from_token(FakeSession(user), token, SETTINGS) is user
    decoded = jwt.decode(token, SECRET, algorithms=["HS256"], audience=security.TOKEN_AUDIENCE)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert decoded["exp"] - decoded["iat"] == 15 * 60


def test_the_hand_forged_control_token_is_accepted():
    # Proves forge() makes a valid token, so the refusals below are about what they change.
    user = make_user()
    assert user_from_token(FakeSession(user), forge({"alg": "HS256", "typ": "JWT"},
                                                    claims(user), SECRET.encode()),
                           SETTINGS) is user


def test_alg_none_is_refused():
    user = make_user()
    assert_refused(user, forge({"alg": "none", "typ": "JWT"}, claims(user), None))
    assert_refused(user, forge({"alg": "None", "typ": "JWT"}, claims(user), None))


@pytest.mark.parametrize("alg", ["HS512", "HS384"])
def test_another_hmac_algorithm_with_the_right_key_is_refused(alg):
    user = make_user()
    assert_refused(user, jwt.encode(claims(user), SECRET, algorithm=alg))


def test_rs256_tokens_are_refused_both_genuine_and_key_confused():
    user = make_user()
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_refused(user, jwt.encode(claims(user), private, algorithm="RS256"))
    # The classic confusion: an RS256 header over an HMAC made with the server's secret.
    assert_refused(user, forge({"alg": "RS256", "typ": "JWT"}, claims(user), SECRET.encode()))


def test_an_expired_token_is_refused():
    user = make_user()
    token = issue_token(user, SETTINGS, now=datetime.now(timezone.utc) - timedelta(minutes=16))
    assert_refused(user, token, "token expired")


def test_a_token_signed_with_another_key_is_refused():
    user = make_user()
    other = TokenSettings(secret="another-key-entirely-" + "0123456789abcdef" * 3,
                          lifetime=SETTINGS.lifetime)
    assert_refused(user, issue_token(user, other))


@pytest.mark.parametrize("claim,value", [("aud", "another-api"), ("iss", "another-issuer"),
                                         ("aud", None), ("iss", None), ("exp", None),
                                         ("sub", None), ("iat", None)])
def test_a_token_for_another_audience_or_issuer_or_missing_a_claim_is_refused(claim, value):
    user = make_user()
    assert_refused(user, jwt.encode(claims(user, **{claim: value}), SECRET, algorithm="HS256"))


@pytest.mark.parametrize("sub", ["8", "abc", "-7", "7 "])
def test_a_token_for_another_or_malformed_subject_is_refused(sub):
    user = make_user()
    assert_refused(user, jwt.encode(claims(user, sub=sub), SECRET, algorithm="HS256"))


def test_a_token_is_refused_once_the_user_is_disabled_or_the_password_reset():
    user = make_user()
    token = issue_token(user, SETTINGS)
    user.active = False
    assert_refused(user, token)
    user.active = True
    user.session_version += 1  # what disable and reset-password do
    assert_refused(user, token)
    assert user_from_token(FakeSession(user), issue_token(user, SETTINGS), SETTINGS) is user


@pytest.mark.parametrize("garbage", ["", "x", "a.b.c", "Bearer x", "..."])
def test_garbage_is_an_invalid_token(garbage):
    assert_refused(make_user(), garbage)
