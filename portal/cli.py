"""The `crm` console script: a Flask CLI group over create_app."""
from __future__ import annotations

import click
from flask.cli import FlaskGroup


def _create_app():  # type: ignore[no-untyped-def]
    from portal import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True,
             add_version_option=False)
def main() -> None:
    """Retail-bank CRM: feeds, customers, relationship managers."""
