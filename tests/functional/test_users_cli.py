"""`crm users …`: creating users safely, and what disabling or resetting does to the
sessions and tokens already out there."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import AuditEvent, User
from tests.functional.conftest import PASSWORD, csrf_token

NEW_PASSWORD = "a brand new passphrase"


def invoke(runner, *args: str, input: str | None = None) -> Any:  # type: ignore[no-untyped-def]
    return runner.invoke(args=["users", *args], input=input)


def user_row(engine, username: str) -> User | None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return session.scalars(select(User).where(User.username == username)).one_or_none()


def audit_actions(engine) -> list[tuple[str, Any]]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return [(e.action, e.detail.get("target"))
                for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def signed_in(client) -> bool:  # type: ignore[no-untyped-def]
    return client.get("/").status_code == 200  # type: ignore[no-any-return]


# --- create --------------------------------------------------------------------------------

def test_create_reads_the_password_from_stdin_and_hashes_it(runner, bank, engine, client,
                                                             login):
    result = invoke(runner, "create", "rm9", "--role", "rm", "--branch", "S011",
                    "--staff-id", "RM0009", "--name", "赵六", "--password-stdin",
                    input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "created rm9 (rm, branch S011)"
    assert PASSWORD not in result.output
    user = user_row(engine, "rm9")
    assert user is not None
    assert (user.role, user.branch_code, user.staff_id, user.display_name, user.active) == \
        ("rm", "S011", "RM0009", "赵六", True)
    assert PASSWORD not in user.password_hash and user.password_hash.startswith("pbkdf2:")
    assert audit_actions(engine) == [("user_create", "rm9")]
    assert login("rm9").status_code == 302 and signed_in(client)


def test_a_password_with_a_windows_line_ending_is_the_same_password(runner, bank, client,
                                                                     login):
    result = invoke(runner, "create", "ana", "--role", "analyst", "--branch", "HO",
                    "--password-stdin", input=PASSWORD + "\r\n")
    assert result.exit_code == 0, result.output
    assert login("ana").status_code == 302


def test_a_duplicate_username_is_a_clear_error(runner, users, engine):
    result = invoke(runner, "create", "rm1", "--role", "analyst", "--branch", "HO",
                    "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 1
    assert "Error: username 'rm1' or staff id None is taken" in result.output
    assert user_row(engine, "rm1").role == "rm"  # type: ignore[union-attr]


def test_a_duplicate_staff_id_is_a_clear_error(runner, users, engine):
    result = invoke(runner, "create", "rm1bis", "--role", "rm", "--branch", "S011",
                    "--staff-id", "RM0001", "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 1 and "staff id 'RM0001' is taken" in result.output
    assert user_row(engine, "rm1bis") is None


@pytest.mark.parametrize("password", ["", "short", "123456789"])
def test_a_too_short_password_is_a_clear_error(runner, bank, engine, password):
    result = invoke(runner, "create", "rm9", "--role", "analyst", "--branch", "HO",
                    "--password-stdin", input=password + "\n")
    assert result.exit_code == 1
    assert "Error: a password needs at least 10 characters" in result.output
    assert user_row(engine, "rm9") is None and audit_actions(engine) == []


@pytest.mark.parametrize("role", ["rm", "advisor"])
def test_an_rm_or_adviser_needs_a_staff_id(runner, bank, engine, role):
    result = invoke(runner, "create", "rm9", "--role", role, "--branch", "S011",
                    "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 1 and f"a {role} needs --staff-id" in result.output
    assert user_row(engine, "rm9") is None


def test_an_unknown_branch_is_a_clear_error(runner, bank, engine):
    result = invoke(runner, "create", "bm9", "--role", "branch_manager", "--branch", "NOPE",
                    "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 1 and "branch 'NOPE' is unknown" in result.output
    assert user_row(engine, "bm9") is None


@pytest.mark.parametrize("username", ["has space", "x" * 65, "tab\tname"])
def test_a_malformed_username_is_a_clear_error(runner, bank, engine, username):
    result = invoke(runner, "create", username, "--role", "analyst", "--branch", "HO",
                    "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 1 and "username must be" in result.output
    assert user_row(engine, username) is None


def test_an_unknown_role_is_refused_by_the_command_line(runner, bank, engine):
    result = invoke(runner, "create", "root", "--role", "superuser", "--branch", "HO",
                    "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 2 and "Invalid value for '--role'" in result.output
    assert user_row(engine, "root") is None


# --- disable, enable -----------------------------------------------------------------------

def test_disable_signs_the_user_out_everywhere(runner, users, client, login, token, engine):
    login("rm1")
    issued = token("rm1")
    assert signed_in(client)
    result = invoke(runner, "disable", "rm1")
    assert result.exit_code == 0 and result.output.strip() == "disabled rm1"
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.location
    api = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {issued}"})
    assert api.status_code == 401
    assert login("rm1").status_code == 401 and not signed_in(client)
    assert ("user_disable", "rm1") in audit_actions(engine)


def test_enable_lets_the_user_sign_in_again_and_clears_a_lock_out(runner, users, client,
                                                                  login, engine):
    for _ in range(5):
        login("rm1", "not the password")
    assert user_row(engine, "rm1").locked_until is not None  # type: ignore[union-attr]
    invoke(runner, "disable", "rm1")
    assert invoke(runner, "enable", "rm1").exit_code == 0
    assert user_row(engine, "rm1").locked_until is None  # type: ignore[union-attr]
    assert login("rm1").status_code == 302 and signed_in(client)
    assert [a for a in audit_actions(engine) if a[0].startswith("user_")] == \
        [("user_disable", "rm1"), ("user_enable", "rm1")]


def test_commands_on_an_unknown_user_are_clear_errors(runner, users):
    for args in (("disable", "ghost"), ("enable", "ghost")):
        result = invoke(runner, *args)
        assert result.exit_code == 1 and "Error: no user 'ghost'" in result.output
    result = invoke(runner, "reset-password", "ghost", "--password-stdin",
                    input=NEW_PASSWORD + "\n")
    assert result.exit_code == 1 and "no user 'ghost'" in result.output


# --- reset-password ------------------------------------------------------------------------

def test_reset_password_ends_old_sessions_and_tokens(app, runner, users, client, login, token):
    login("rm1")
    issued = token("rm1")
    result = invoke(runner, "reset-password", "rm1", "--password-stdin",
                    input=NEW_PASSWORD + "\n")
    assert result.exit_code == 0 and result.output.strip() == "password reset for rm1"
    assert not signed_in(client)
    assert client.get("/api/v1/audit",
                      headers={"Authorization": f"Bearer {issued}"}).status_code == 401
    assert login("rm1").status_code == 401
    fresh = app.test_client()
    fresh.post("/login", data={"username": "rm1", "password": NEW_PASSWORD,
                               "csrf_token": csrf_token(fresh)})
    assert signed_in(fresh)


def test_a_too_short_new_password_changes_nothing(runner, users, client, login):
    login("rm1")
    result = invoke(runner, "reset-password", "rm1", "--password-stdin", input="short\n")
    assert result.exit_code == 1 and "at least 10 characters" in result.output
    assert signed_in(client)


def test_reset_password_clears_a_lock_out(runner, users, login, engine):
    for _ in range(5):
        login("rm1", "not the password")
    invoke(runner, "reset-password", "rm1", "--password-stdin", input=NEW_PASSWORD + "\n")
    row = user_row(engine, "rm1")
    assert row is not None and row.locked_until is None and row.failed_logins == 0
    assert login("rm1", NEW_PASSWORD).status_code == 302


# --- list ----------------------------------------------------------------------------------

def test_list_shows_every_user_with_role_branch_and_state(runner, users):
    invoke(runner, "disable", "rm2")
    lines = invoke(runner, "list").output.splitlines()
    assert [line.split()[0] for line in lines] == sorted(users)
    by_name = {line.split()[0]: line.split() for line in lines}
    assert by_name["rm1"] == ["rm1", "rm", "S011", "RM0001", "active"]
    assert by_name["rm2"][-1] == "disabled"
    assert by_name["admin"] == ["admin", "admin", "HO", "-", "active"]
