"""`crm users demo`: portal users for the demo bank's staff, so `make run` can sign in."""
from __future__ import annotations

import click
from flask import current_app
from sqlalchemy import select

from portal.audit import Actor, record
from portal.cli_users import users_group
from portal.errors import DomainError
from portal.extensions import db
from portal.models import User

DEMO_PASSWORD = "crm-demo-2026"


@users_group.command("demo")
@click.option("--seed", default=20261120, show_default=True)
@click.option("--customers", default=2000, show_default=True)
@click.option("--password", default=DEMO_PASSWORD, show_default=True)
def demo_users(seed: int, customers: int, password: str) -> None:
    """Create a user for every member of the demo bank's staff (and `admin`); idempotent."""
    from integration.demo import DemoSpec, staff_directory
    from portal.users import create_user

    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException("demo users are refused in production")
    staff = staff_directory(DemoSpec(seed=seed, customers=customers))
    head_office = next(s["branch"] for s in staff if s["role"] == "analyst")
    wanted = [(s["staff_id"].lower(), s["role"], s["branch"], s["staff_id"], s["name"])
              for s in staff]
    wanted.append(("admin", "admin", head_office, None, "系统管理员"))
    session = db.sessions()
    try:
        existing = set(session.scalars(select(User.username)))
        created = 0
        for username, role, branch, staff_id, name in wanted:
            if username in existing:
                continue
            create_user(session, username, role, branch, password,
                        current_app.config["PASSWORD_METHOD"],
                        staff_id if role in ("rm", "advisor") else None, name)
            created += 1
        record(session, Actor(None, "cli"), "user_demo", created=created)
        session.commit()
    except DomainError as exc:
        session.rollback()
        raise click.ClickException(exc.message) from None
    finally:
        session.close()
    by_role: dict[str, list[str]] = {}
    for username, role, *_ in wanted:
        by_role.setdefault(role, []).append(username)
    click.echo(f"demo users ({created} new), password {password!r}:")
    for role, names in by_role.items():
        shown = ", ".join(names[:4]) + (f", … ({len(names)} in all)" if len(names) > 4 else "")
        click.echo(f"  {role:<15} {shown}")
