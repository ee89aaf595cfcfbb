"""Bearer tokens over HTTP, attacked: every forged, stale or revoked token is a 401 JSON
error with a WWW-Authenticate challenge, and the same request with a good token works."""
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
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import User
from portal.security import TOKEN_AUDIENCE, TOKEN_ISSUER, TokenSettings, issue_token
from tests.functional.conftest import PASSWORD

PROBE = "/api/v1/audit"  # any endpoint behind token_required; bm_b01 may read it


def call(client: Any, token: str | None = None, header: str | None = None) -> Any:
    headers = {}
    if header is not None:
        headers["Authorization"] = header
    elif token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client.get(PROBE, headers=headers)


def assert_401(response) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == "unauthorized"
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


def claims_of(app: Any, username: str, **overrides: Any) -> dict[str, Any]:
    from portal.extensions import db

    with app.app_context():
        session = db.sessions()
        user = session.scalars(select(User).where(User.username == username)).one()
        now = int(datetime.now(timezone.utc).timestamp())
        values = {"sub": str(user.id), "ver": user.session_version, "role": user.role,
                  "iss": TOKEN_ISSUER, "aud": TOKEN_AUDIENCE, "iat": now, "exp": now + 300}
        session.close()
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = b"" if key is None else hmac.new(key, signing_input.encode(),
                                                 hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


@pytest.fixture
def secret(app) -> str:  # type: ignore[no-untyped-def]
    return app.config["SECRET_KEY"]  # type: ignore[no-any-return]


# --- the control: a genuine token works ----------------------------------------------------

def test_a_genuine_token_and_a_hand_made_hs256_one_are_accepted(app, client, users, token,
                                                                secret):
    assert call(client, token("bm_b01")).status_code == 200
    made = hand_made({"alg": "HS256", "typ": "JWT"}, claims_of(app, "bm_b01"), secret.encode())
    assert call(client, made).status_code == 200


def test_the_token_endpoint_answers_a_short_lived_token(app, client, users, secret):
    response = client.post("/api/v1/auth/token", json={"username": "rm1", "password": PASSWORD})
    body = response.get_json()
    assert response.status_code == 200 and body["token_type"] == "Bearer"
    assert body["expires_in"] == app.config["TOKEN_LIFETIME_SECONDS"] == 15 * 60
    claims = jwt.decode(body["access_token"], secret, algorithms=["HS256"],
                        audience=TOKEN_AUDIENCE, issuer=TOKEN_ISSUER)
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert "password" not in json.dumps(claims) and PASSWORD not in json.dumps(claims)


# --- forged tokens -------------------------------------------------------------------------

def test_alg_none_is_refused(app, client, users):
    for alg in ("none", "None", "NONE"):
        assert_401(call(client, hand_made({"alg": alg, "typ": "JWT"},
                                          claims_of(app, "bm_b01"), None)))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the test key
@pytest.mark.parametrize("alg", ["HS512", "HS384"])
def test_another_hmac_algorithm_is_refused_even_with_our_key(app, client, users, secret, alg):
    assert_401(call(client, jwt.encode(claims_of(app, "bm_b01"), secret, algorithm=alg)))


def test_rs256_is_refused_genuine_or_key_confused(app, client, users, secret):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_401(call(client, jwt.encode(claims_of(app, "bm_b01"), private, algorithm="RS256")))
    assert_401(call(client, hand_made({"alg": "RS256", "typ": "JWT"}, claims_of(app, "bm_b01"),
                                      secret.encode())))


def test_a_token_signed_with_another_key_is_refused(app, client, users):
    other = "an-attackers-guess-at-the-key-0123456789abcdef"
    assert_401(call(client, jwt.encode(claims_of(app, "bm_b01"), other, algorithm="HS256")))


def test_an_expired_token_is_refused(app, client, users, secret):
    from portal.extensions import db

    with app.app_context(), db.sessions() as session:
        user = session.scalars(select(User).where(User.username == "bm_b01")).one()
        stale = issue_token(user, TokenSettings(secret, timedelta(minutes=15)),
                            now=datetime.now(timezone.utc) - timedelta(minutes=15, seconds=1))
    assert assert_401(call(client, stale))["message"] == "token expired"


@pytest.mark.parametrize("claim,value", [
    ("aud", "another-api"), ("iss", "someone-else"), ("aud", ["another-api"]),
    ("aud", None), ("iss", None), ("exp", None), ("sub", None),
])
def test_a_token_for_another_audience_or_issuer_or_without_a_claim_is_refused(
        app, client, users, secret, claim, value):
    forged = jwt.encode(claims_of(app, "bm_b01", **{claim: value}), secret, algorithm="HS256")
    assert_401(call(client, forged))


def test_a_token_cannot_be_edited_to_name_someone_else(app, client, users, token):
    genuine = token("rm1")
    header, payload, signature = genuine.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims.update(sub=str(users["admin"]), role="admin")
    assert_401(call(client, f"{header}.{b64(json.dumps(claims).encode())}.{signature}"))


def test_a_token_with_a_forged_role_claim_gets_the_users_real_role(app, client, users, secret):
    # The role claim is informative only: rights come from the database.
    forged = jwt.encode(claims_of(app, "rm1", role="admin"), secret, algorithm="HS256")
    response = call(client, forged)
    assert response.status_code == 403


# --- revoked tokens ------------------------------------------------------------------------

def test_a_token_of_a_user_disabled_after_issue_is_refused(client, users, token, runner):
    issued = token("bm_b01")
    assert call(client, issued).status_code == 200
    assert runner.invoke(args=["users", "disable", "bm_b01"]).exit_code == 0
    assert_401(call(client, issued))
    # Enabling the account again does not revive the old token.
    assert runner.invoke(args=["users", "enable", "bm_b01"]).exit_code == 0
    assert_401(call(client, issued))
    assert call(client, token("bm_b01")).status_code == 200


def test_a_token_issued_before_a_password_reset_is_refused(client, users, token, runner):
    issued = token("bm_b01")
    result = runner.invoke(args=["users", "reset-password", "bm_b01", "--password-stdin"],
                           input="a brand new passphrase\n")
    assert result.exit_code == 0, result.output
    assert_401(call(client, issued))
    assert call(client, token("bm_b01", "a brand new passphrase")).status_code == 200


def test_a_disabled_user_gets_no_new_token(client, users, runner):
    runner.invoke(args=["users", "disable", "bm_b01"])
    response = client.post("/api/v1/auth/token",
                           json={"username": "bm_b01", "password": PASSWORD})
    assert_401(response)


# --- how the token is presented ------------------------------------------------------------

@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Basic YWRtaW46YWRtaW4=", "Token abc", "Bearer garbage",
    "Bearer a.b.c", "Bearer ....", "Bearer " + "A" * 5000,
])
def test_a_missing_or_garbage_authorization_header_is_a_401(client, users, header):
    assert_401(call(client, header=header))


def test_the_scheme_is_case_insensitive(client, users, token):
    assert call(client, header=f"bearer {token('bm_b01')}").status_code == 200


def test_a_token_in_the_query_string_is_not_accepted(client, users, token):
    response = client.get(PROBE, query_string={"access_token": token("bm_b01")})
    assert_401(response)


def test_a_signed_in_browser_session_does_not_open_the_api(client, users, login):
    # The API is CSRF-exempt because it takes bearer tokens only; a cookie must not do.
    login("bm_b01")
    assert client.get("/audit").status_code == 200
    assert_401(client.get(PROBE))


# --- the token endpoint --------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {"data": "username=rm1&password=x", "content_type": "application/x-www-form-urlencoded"},
    {"data": "not json", "content_type": "application/json"},
    {"json": ["rm1", PASSWORD]},
    {"json": {"username": "rm1"}},
    {"json": {"username": "rm1", "password": 12345678901}},
    {"json": {"username": None, "password": PASSWORD}},
])
def test_the_token_endpoint_refuses_malformed_requests(client, users, kwargs):
    response = client.post("/api/v1/auth/token", **kwargs)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid"


def test_wrong_credentials_are_a_401_that_names_no_cause(client, users):
    unknown = client.post("/api/v1/auth/token", json={"username": "ghost", "password": "x" * 12})
    wrong = client.post("/api/v1/auth/token", json={"username": "rm1", "password": "x" * 12})
    assert assert_401(unknown) == assert_401(wrong)


def test_the_token_endpoint_counts_failures(client, users, engine):
    client.post("/api/v1/auth/token", json={"username": "rm1", "password": "x" * 12})
    with Session(engine) as session:
        assert session.scalar(select(User.failed_logins).where(User.username == "rm1")) == 1


# --- error shape ---------------------------------------------------------------------------

def test_unknown_api_paths_and_methods_answer_json_errors(client, users):
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    method = client.delete("/api/v1/auth/token")
    assert method.status_code == 405 and "error" in method.get_json()
