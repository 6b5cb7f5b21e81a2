"""Top-level CLI: ``flask --app wsgi db upgrade``; domain packages add their own groups."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.core.migrate import current, upgrade

db_group = AppGroup("db", help="Database schema (Alembic migrations).")


@db_group.command("upgrade", help="Migrate the database to the newest schema.")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    upgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"database at revision {revision}")


@db_group.command("current", help="Print the database's schema revision.")
def db_current() -> None:
    click.echo(current(current_app.config["DATABASE_URL"]) or "(not migrated)")


def init_app(app: Flask) -> None:
    from app.demo import cli as demo_cli
    from app.rules import cli as journeys_cli
    from app.verify import cli as verify_cli

    app.cli.add_command(db_group)
    app.cli.add_command(verify_cli.tags_group)
    app.cli.add_command(verify_cli.sun_group)
    app.cli.add_command(verify_cli.taps_group)
    app.cli.add_command(demo_cli.demo_group)
    app.cli.add_command(journeys_cli.journeys_group)
