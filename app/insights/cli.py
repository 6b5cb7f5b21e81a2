"""``insights``: the brand intelligence commands (``insights export``, ``insights refresh``):
thin wrappers over the insights services."""

from __future__ import annotations

import itertools
import sys
from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup

from app.core.clock import now
from app.core.db import analytics_session, db
from app.core.errors import DomainError
from app.insights.export import cube_rows, write_csv
from app.insights.refresh import refresh

insights_group = AppGroup("insights", help="Brand intelligence: the rollup cube and its export.")


class _Day(click.ParamType):
    """A calendar day written YYYY-MM-DD; anything else is refused with the expected form."""

    name = "YYYY-MM-DD"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        text = str(value)
        try:
            if len(text) != 10:
                raise ValueError(text)
            return date.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is not a day written YYYY-MM-DD (like 2026-11-30).", param, ctx)


@insights_group.command("export", help="Write the cube's cells from --from to --to (both "
                                       "included) as CSV, read from the analytics database.")
@click.option("--from", "start", required=True, type=_Day(), help="First day, YYYY-MM-DD.")
@click.option("--to", "end", required=True, type=_Day(), help="Last day, YYYY-MM-DD.")
@click.option("--brand", "brand", default=None, help="Only this brand (slug); default: all.")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False, writable=True),
              help="File to write; default: standard output.")
def export(start: date, end: date, brand: str | None, out: str | None) -> None:
    session = analytics_session()
    rows = cube_rows(session, start, end, brand)
    try:
        # The first row is fetched before the file is opened: a bad range or brand writes nothing.
        first = next(rows, None)
    except DomainError as err:
        raise click.ClickException(err.message) from None

    every = itertools.chain([first] if first is not None else [], rows)
    if out is None:
        write_csv(every, sys.stdout)
        return
    with open(out, "w", newline="", encoding="utf-8") as stream:
        count = write_csv(every, stream)
    click.echo(f"{count} row(s) written to {out}", err=True)


@insights_group.command("refresh", help="Bring the rollup cube up to date now (the scheduler "
                                        "does it every minute); repeats until caught up.")
def refresh_command() -> None:
    while True:
        report = refresh(db.session, current_app.config, now())
        # Each round commits its cells with its marks: stopped midway, the next run goes on.
        db.session.commit()
        click.echo(report.summary())
        if not report.pending:
            return
