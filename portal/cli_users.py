"""`crm users …`: create, disable, enable, reset-password, list."""
from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from portal.audit import Actor, record
from portal.errors import DomainError
from portal.extensions import db

users_group = AppGroup("users", help="Portal users.")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _run(event: str, action, *args):  # type: ignore[no-untyped-def]
    """Run one user change in its own unit of work, audited as ``event``."""
    session = db.sessions()
    try:
        user = action(session, *args)
        record(session, Actor(None, "cli"), event, branch_code=user.branch_code,
               target=user.username, role=user.role)
        session.commit()
        return user
    except DomainError as exc:
        session.rollback()
        raise click.ClickException(exc.message) from None
    finally:
        session.close()


@users_group.command("create")
@click.argument("username")
@click.option("--role", required=True,
              type=click.Choice(["rm", "advisor", "branch_manager", "analyst", "admin"]))
@click.option("--branch", "branch_code", required=True, help="Branch code (from the feeds).")
@click.option("--staff-id", help="Staff id the feeds use as Manager (rm and advisor).")
@click.option("--name", "display_name", help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create(username: str, role: str, branch_code: str, staff_id: str | None,
           display_name: str | None, password_stdin: bool) -> None:
    """Create a user."""
    from portal.users import create_user

    password = _password(password_stdin)

    def create_user_(session):  # type: ignore[no-untyped-def]
        return create_user(session, username, role, branch_code, password,
                           current_app.config["PASSWORD_METHOD"], staff_id, display_name)
    user = _run("user_create", create_user_)
    click.echo(f"created {user.username} ({user.role}, branch {user.branch_code})")


@users_group.command("disable")
@click.argument("username")
def disable(username: str) -> None:
    """Disable a user; their sessions and tokens stop working at once."""
    from portal.users import disable_user

    _run("user_disable", disable_user, username)
    click.echo(f"disabled {username}")


@users_group.command("enable")
@click.argument("username")
def enable(username: str) -> None:
    """Enable a user again (and clear a lock-out)."""
    from portal.users import enable_user

    _run("user_enable", enable_user, username)
    click.echo(f"enabled {username}")


@users_group.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True)
def reset(username: str, password_stdin: bool) -> None:
    """Set a new password; existing sessions and tokens stop working."""
    from portal.users import reset_password

    password = _password(password_stdin)

    def reset_password_(session, name):  # type: ignore[no-untyped-def]
        return reset_password(session, name, password, current_app.config["PASSWORD_METHOD"])
    _run("user_reset_password", reset_password_, username)
    click.echo(f"password reset for {username}")


@users_group.command("list")
def list_users() -> None:
    """Users with role, branch and state."""
    from sqlalchemy import select

    from portal.models import User

    with db.sessions() as session:
        for user in session.scalars(select(User).order_by(User.username)):
            state = "active" if user.active else "disabled"
            click.echo(f"{user.username:<20} {user.role:<15} {user.branch_code:<10} "
                       f"{user.staff_id or '-':<10} {state}")
