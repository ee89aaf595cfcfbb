"""`crm workbench …`: operator commands of the RM workbench."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from portal.extensions import db

workbench_group = AppGroup("workbench", help="The RM workbench.")


@workbench_group.command("demo")
@click.option("--seed", default=20261125, show_default=True)
@click.option("--per-rm", default=12, show_default=True, type=click.IntRange(1, 200),
              help="Opportunities per RM.")
def demo_activity(seed: int, per_rm: int) -> None:
    """Write demo contacts, opportunities and tasks for the demo bank's RMs (once)."""
    from integration.queries import latest_business_date
    from portal.workbench.demo import write_demo_activity

    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException("demo activity is refused in production")
    with db.sessions() as session:
        try:
            written = write_demo_activity(session, latest_business_date(session), seed, per_rm)
        except ValueError as exc:
            click.echo(f"skipped: {exc}")
            return
        session.commit()
    click.echo(f"demo activity: {written.contacts} contacts, {written.opportunities} "
               f"opportunities, {written.tasks} tasks")
