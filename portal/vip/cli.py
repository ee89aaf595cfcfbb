"""`crm tiers …`: the tier engine's operator commands (evaluate, backfill, rules)."""
from __future__ import annotations

import json
from datetime import date
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from portal.extensions import db

tiers_group = AppGroup("tiers", help="VIP tiers: rules, monthly AUM aggregates, evaluation.")


def _business_date(session: Any, given: Any) -> date:
    from integration.queries import latest_business_date

    return given.date() if given else latest_business_date(session)


@tiers_group.command("evaluate")
@click.option("--month", "month_text", metavar="YYYY-MM",
              help="The month to evaluate (default: the last complete month).")
@click.option("--json", "as_json", is_flag=True)
def evaluate_command(month_text: str | None, as_json: bool) -> None:
    """Evaluate every customer's tier for a month (again, if it is the latest evaluated)."""
    from portal.audit import Actor
    from portal.errors import DomainError
    from portal.vip.evaluation import default_month, evaluate, parse_month

    with db.sessions() as session:
        try:
            today = _business_date(session, None)
            month = parse_month(month_text) or default_month(today)
            result = evaluate(session, month, business_date=today, actor=Actor(None, "cli"))
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
        session.commit()
    if as_json:
        click.echo(json.dumps(result.as_json()))
        return
    counts = ", ".join(f"{outcome} {n}" for outcome, n in result.as_json()["counts"].items()
                       if n)
    click.echo(f"{result.month:%Y-%m}: {result.customers} customers under rules version "
               f"{result.version}{' (re-evaluated)' if result.replaced else ''}: {counts}")


@tiers_group.command("backfill")
@click.option("--months", type=click.IntRange(1, 24), default=3, show_default=True,
              help="Complete months before the business date's month to rebuild.")
@click.option("--date", "business_date", type=click.DateTime(["%Y-%m-%d"]),
              help="Business date (default: the newest feed's).")
def backfill_command(months: int, business_date: Any) -> None:
    """Rebuild the monthly AUM aggregates from balances and the transaction history."""
    from portal.vip.aum import Margins, backfill

    with db.sessions() as session:
        day = _business_date(session, business_date)
        summary = backfill(session, day, months, Margins.from_config(current_app.config))
        session.commit()
    click.echo(f"backfilled {summary['rows']} rows for months "
               f"{', '.join(m[:7] for m in summary['months'])} (business date {day})")


@tiers_group.command("rules")
@click.option("--json", "as_json", is_flag=True)
@click.option("--all", "all_versions", is_flag=True, help="Every version, newest first.")
def rules_command(as_json: bool, all_versions: bool) -> None:
    """Show the tier rules in force (or every version)."""
    from portal.vip import rules

    with db.sessions() as session:
        sets = rules.versions(session) if all_versions else [rules.current(session)]
    if as_json:
        click.echo(json.dumps([s.as_json() for s in sets] if all_versions
                              else sets[0].as_json(), ensure_ascii=False))
        return
    for rule_set in sets:
        v = rule_set.version
        click.echo(f"version {v.id} ({v.created_at:%Y-%m-%d %H:%M} UTC"
                   f"{', by ' + rule_set.created_by if rule_set.created_by else ''}): "
                   f"window {v.window_months} months, grace {v.grace_months} months"
                   f"{' - ' + v.note if v.note else ''}")
        for t in reversed(rule_set.tiers):
            extra = [f"contribution >= {t.min_contribution}"] if t.min_contribution else []
            extra += [f"products >= {t.min_products}"] if t.min_products else []
            joiner = " and " if t.combine == "all" else " or "
            click.echo(f"  {t.rank}  {t.code:<12} {t.name_en} / {t.name_zh}: ADB >= "
                       f"{t.min_adb:,.2f}{joiner + joiner.join(extra) if extra else ''}")
