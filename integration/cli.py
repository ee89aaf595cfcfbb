"""Operator commands of the data centre: db, import, stats, batches, quarantine, demo,
scheduler.  Heavy imports stay inside the commands."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from portal.extensions import db as database

db_group = AppGroup("db", help="Database schema (Alembic migrations).")
quarantine_group = AppGroup("quarantine", help="Records held back from feeds.")


def register(app: Flask) -> None:
    for command in (db_group, quarantine_group, import_command, validate_command, stats_command,
                    batches_command, demo_command, scheduler_command, nightly_command):
        app.cli.add_command(command)


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: the newest)."""
    from integration.migrate import current, upgrade

    upgrade(database.engine, revision)
    click.echo(f"database at revision {current(database.engine)}")


@db_group.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the database back to REVISION (e.g. base)."""
    from integration.migrate import current, downgrade

    downgrade(database.engine, revision)
    click.echo(f"database at revision {current(database.engine)}")


@db_group.command("current")
def db_current() -> None:
    """Show the database's revision."""
    from integration.migrate import current

    click.echo(current(database.engine) or "empty (run crm db upgrade)")


def _progress_bar(path: Path) -> Any:
    """A progress bar on a terminal, nothing when output is piped or in CI."""
    if not sys.stderr.isatty():
        return None
    return click.progressbar(length=path.stat().st_size, label=path.name, file=sys.stderr,
                             show_eta=True, show_percent=True)


def run_imports(paths: list[Path], adapter: str, as_json: bool) -> int:
    from integration.pipeline import exit_code, import_file

    results = []
    for path in paths:
        bar = _progress_bar(path)
        done = 0

        def progress(position: int) -> None:
            nonlocal done
            if bar is not None and position > done:
                bar.update(position - done)
                done = position

        if bar is not None:
            bar.__enter__()
        try:
            result = import_file(database.engine, path, adapter=adapter,
                                 max_bytes=current_app.config["FEED_MAX_BYTES"],
                                 chunk=current_app.config["INGEST_CHUNK"], progress=progress)
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
        results.append(result)
        if as_json:
            click.echo(json.dumps(result.as_json(), ensure_ascii=False))
        else:
            line = (f"{path.name}: {result.status} batch {result.batch_id} "
                    f"{result.source or '-'}#{result.sequence or '-'} read {result.read} "
                    f"applied {result.applied} quarantined {result.quarantined}")
            if result.released:
                line += f" released {result.released}"
            if result.reason:
                line += f" — {result.reason}"
            click.echo(line)
            for warning in result.warnings:
                click.echo(f"  warning: {warning}")
    return exit_code(results)


@click.command("import")
@with_appcontext
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--adapter", type=click.Choice(["auto", "cbs", "camt053"]), default="auto",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file.")
def import_command(files: tuple[Path, ...], adapter: str, as_json: bool) -> None:
    """Import feed files. Exit 0 all applied, 3 some records quarantined, 2 a file rejected."""
    sys.exit(run_imports(list(files), adapter, as_json))


@click.command("validate")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def validate_command(files: tuple[Path, ...]) -> None:
    """Check feed files strictly against the feed XSD (exit 1 if any is invalid)."""
    from integration.adapters.xsd import validate_file

    bad = 0
    for path in files:
        errors = validate_file(path, current_app.config["FEED_MAX_BYTES"])
        click.echo(f"{path.name}: {'valid' if not errors else 'INVALID'}")
        for error in errors:
            click.echo(f"  {error}")
        bad += bool(errors)
    sys.exit(1 if bad else 0)


@click.command("stats")
@with_appcontext
@click.option("--json", "as_json", is_flag=True)
def stats_command(as_json: bool) -> None:
    """Counts held now."""
    from integration.queries import stats

    with database.engine.connect() as conn:
        counts = stats(conn)
    if as_json:
        click.echo(json.dumps(counts))
    else:
        for name, value in counts.items():
            click.echo(f"{name:>14}  {value}")


@click.command("batches")
@with_appcontext
@click.option("--limit", default=20, show_default=True)
@click.option("--source")
@click.option("--json", "as_json", is_flag=True)
def batches_command(limit: int, source: str | None, as_json: bool) -> None:
    """What loaded: the newest feed batches first."""
    from integration.queries import recent_batches

    with database.engine.connect() as conn:
        rows = recent_batches(conn, limit, source)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, default=str))
        return
    click.echo(f"{'id':>5} {'source':<6} {'seq':>5} {'date':<10} {'status':<9} "
               f"{'read':>8} {'applied':>8} {'quar.':>6} {'ms':>7}  file / reason")
    for r in rows:
        click.echo(
            f"{r['id']:>5} {r['source'] or '-':<6} {r['sequence'] or '-':>5} "
            f"{str(r['business_date'] or '-'):<10} {r['status']:<9} {r['records_read']:>8} "
            f"{r['records_applied']:>8} {r['records_quarantined']:>6} "
            f"{r['duration_ms'] or 0:>7}  {os.path.basename(r['file_name'])}"
            + (f" — {r['reason']}" if r["reason"] else "")
        )


@quarantine_group.command("list")
@click.option("--status", type=click.Choice(["waiting", "applied", "discarded", "superseded",
                                             "all"]), default="waiting", show_default=True)
@click.option("--batch", "batch_id", type=int)
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def quarantine_list(status: str, batch_id: int | None, limit: int, as_json: bool) -> None:
    """Quarantined records and why."""
    from integration.queries import quarantined_records

    with database.engine.connect() as conn:
        rows = quarantined_records(conn, status, batch_id, limit)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, default=str))
        return
    for r in rows:
        click.echo(f"{r['id']:>6} batch {r['batch_id']:<5} {r['source']:<6} {r['kind']:<11} "
                   f"{r['record_key']:<20} {r['status']:<10} {r['reason']}")
    if not rows:
        click.echo("no quarantined records")


def _ids(ids: tuple[int, ...], all_waiting: bool) -> list[int]:
    from integration.queries import waiting_ids

    if all_waiting:
        with database.engine.connect() as conn:
            return waiting_ids(conn)
    if not ids:
        raise click.UsageError("name record ids, or --all")
    return list(ids)


@quarantine_group.command("release")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "all_waiting", is_flag=True, help="Every waiting record.")
@click.option("--operator", default=lambda: os.environ.get("USER", "operator"))
def quarantine_release(ids: tuple[int, ...], all_waiting: bool, operator: str) -> None:
    """Try quarantined records again now; those that still fail stay, with their reason."""
    from integration.quarantine import operator_release

    chosen = _ids(ids, all_waiting)
    result = operator_release(database.engine, chosen, operator)
    click.echo(f"applied {result.applied}, still waiting {result.still_waiting}")
    if result.still_waiting:
        sys.exit(3)


@quarantine_group.command("discard")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "all_waiting", is_flag=True)
@click.option("--reason", required=True, help="Why these records will never be applied.")
@click.option("--operator", default=lambda: os.environ.get("USER", "operator"))
def quarantine_discard(ids: tuple[int, ...], all_waiting: bool, reason: str,
                       operator: str) -> None:
    """Give up on quarantined records (kept, marked discarded)."""
    from integration.quarantine import operator_discard

    count = operator_discard(database.engine, _ids(ids, all_waiting), operator, reason)
    click.echo(f"discarded {count}")


@click.command("demo")
@with_appcontext
@click.option("--seed", default=20261120, show_default=True)
@click.option("--customers", default=2000, show_default=True, type=click.IntRange(50))
@click.option("--months", default=12, show_default=True, type=click.IntRange(1, 36))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write the feed files (default: instance/demo).")
@click.option("--no-load", is_flag=True, help="Write the files only.")
@click.option("--json", "as_json", is_flag=True)
def demo_command(seed: int, customers: int, months: int, out: Path | None, no_load: bool,
                 as_json: bool) -> None:
    """Write a realistic demo bank as feed files and load it through the pipeline."""
    from integration.demo import DemoSpec, write_demo
    from integration.migrate import upgrade

    out = out or Path(current_app.config["INSTANCE_PATH"]) / "demo"
    files = write_demo(DemoSpec(seed=seed, customers=customers, months=months), out)
    if not as_json:
        click.echo(f"wrote {len(files)} feed files to {out}")
    if no_load:
        for path in files:
            click.echo(str(path))
        return
    upgrade(database.engine)
    sys.exit(run_imports(files, "auto", as_json))


@click.command("scheduler")
@with_appcontext
@click.option("--once", is_flag=True, help="Run the inbox job once and exit.")
def scheduler_command(once: bool) -> None:
    """Run the job scheduler (inbox pick-up every CRM_SCHEDULER_INBOX_SECONDS)."""
    from integration.scheduler import pick_up_inbox, run_scheduler

    if once:
        results = pick_up_inbox(database.engine, current_app.config)
        for r in results:
            click.echo(json.dumps(r.as_json(), ensure_ascii=False))
        return
    run_scheduler(current_app._get_current_object())  # type: ignore[attr-defined]


@click.command("nightly")
@with_appcontext
@click.option("--date", "business_date", type=click.DateTime(["%Y-%m-%d"]),
              help="Business date to run for (default: the newest feed's).")
@click.option("--job", "jobs", multiple=True, help="Run only this job (repeatable).")
@click.option("--json", "as_json", is_flag=True)
def nightly_command(business_date: Any, jobs: tuple[str, ...], as_json: bool) -> None:
    """Run the after-feeds jobs now (the scheduler runs them after each import)."""
    from integration.jobs import NightlyBusy, nightly_jobs, run_nightly
    from integration.queries import latest_business_date

    known = {job.name for job in nightly_jobs()}
    unknown = sorted(set(jobs) - known)
    if unknown:
        raise click.UsageError(f"unknown job {unknown[0]!r}; jobs: {', '.join(sorted(known))}")
    with database.engine.connect() as conn:
        day = business_date.date() if business_date else latest_business_date(conn)
    try:
        results = run_nightly(database.engine, day, set(jobs) or None)
    except NightlyBusy as exc:
        raise click.ClickException(f"{exc}; try again when it has finished") from None
    if as_json:
        click.echo(json.dumps({"business_date": day.isoformat(), "jobs": results},
                              ensure_ascii=False, default=str))
    else:
        for name, summary in results.items():
            click.echo(f"{name}: {summary}")
    if any(isinstance(summary, dict) and "error" in summary for summary in results.values()):
        sys.exit(1)
