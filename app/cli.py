"""Top-level CLI: ``flask --app wsgi db upgrade``; domain packages add their own groups."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from functools import cached_property
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.core import outbox
from app.core.db import db
from app.core.migrate import current, upgrade
from app.insights import alerts as insights_alerts
from app.messages import delivery as messages_delivery

db_group = AppGroup("db", help="Database schema (Alembic migrations).")
mail_group = AppGroup("mail", help="Outgoing email: the outbox and its delivery worker.")


@db_group.command("upgrade", help="Migrate the database to the newest schema.")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    upgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"database at revision {revision}")


@db_group.command("current", help="Print the database's schema revision.")
def db_current() -> None:
    click.echo(current(current_app.config["DATABASE_URL"]) or "(not migrated)")


@mail_group.command("deliver", help="Send queued email, retrying failures, until stopped "
                                   "(SIGTERM or Ctrl-C); `make run` starts it.")
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
def mail_deliver(once: bool) -> None:
    assert db.sessionmaker is not None
    if once:
        report = outbox.deliver_due(db.sessionmaker, current_app.config)
        click.echo(f"{report.sent} sent, {report.retrying} to retry, {report.dead} dead")
        done = messages_delivery.deliver_due(db.sessionmaker, current_app.config)
        if done.delivered or done.retrying or done.failed or done.deferred or done.suppressed:
            click.echo(f"messages: {done.delivered} delivered, {done.retrying} to retry, "
                       f"{done.failed} failed, {done.deferred} deferred, "
                       f"{done.suppressed} suppressed")
        if notified := insights_alerts.deliver_pending(db.sessionmaker, current_app.config):
            click.echo(f"alerts: {notified} sent to the brands' CRM")
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s mail %(levelname)s %(message)s")
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    config, sessions = current_app.config, db.sessionmaker
    # The same worker delivers the schedules' messages (app/messages/delivery.py) and the
    # integrity alerts' CRM calls (app/insights/alerts.py).
    outbox.run_worker(db.sessionmaker, config, stop, float(config["MAIL_POLL_SECONDS"]),
                      also=[lambda: messages_delivery.deliver_due(sessions, config),
                            lambda: insights_alerts.deliver_pending(sessions, config)])


@mail_group.command("status", help="Count queued, sent and dead email.")
def mail_status() -> None:
    assert db.sessionmaker is not None
    with db.sessionmaker() as session:
        counts = outbox.counts(session)
    for state in (outbox.PENDING, outbox.SENT, outbox.DEAD):
        click.echo(f"{state}: {counts.get(state, 0)}")


class _LazyGroup(click.Group):
    """A command group imported when it is run, listed or helped, not when the app is built.

    Each `flask` command builds the whole app; importing every group too (the scheduler's
    APScheduler, the demo's history generator...) was a tenth of `tags tap`'s start-up
    (bench/cli_startup.py). ``load`` imports the module and returns its group.
    """

    def __init__(self, name: str, load: Callable[[], click.Group]) -> None:
        super().__init__(name)
        self._load = load

    @cached_property
    def group(self) -> click.Group:
        return self._load()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self.group.get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self.group.list_commands(ctx)

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.group.get_short_help_str(limit)

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.group.format_help_text(ctx, formatter)


def _brands() -> click.Group:
    from app.catalog import cli as catalog_cli

    return catalog_cli.brands_group


def _products() -> click.Group:
    from app.catalog import cli as catalog_cli

    return catalog_cli.products_group


def _tags() -> click.Group:
    from app.verify import cli as verify_cli

    return verify_cli.tags_group


def _sun() -> click.Group:
    from app.verify import cli as verify_cli

    return verify_cli.sun_group


def _taps() -> click.Group:
    from app.verify import cli as verify_cli

    return verify_cli.taps_group


def _demo() -> click.Group:
    from app.demo import cli as demo_cli

    return demo_cli.demo_group


def _insights() -> click.Group:
    from app.insights import cli as insights_cli

    return insights_cli.insights_group


def _commerce() -> click.Group:
    from app.insights import commerce_cli

    return commerce_cli.commerce_group


def _journeys() -> click.Group:
    from app.rules import cli as journeys_cli

    return journeys_cli.journeys_group


def _scheduler() -> click.Group:
    from app.scheduler import cli as scheduler_cli

    return scheduler_cli.scheduler_group


LAZY_GROUPS: dict[str, Callable[[], click.Group]] = {
    "brands": _brands, "products": _products, "tags": _tags, "sun": _sun, "taps": _taps,
    "demo": _demo, "insights": _insights, "commerce": _commerce, "journeys": _journeys,
    "scheduler": _scheduler,
}


def init_app(app: Flask) -> None:
    app.cli.add_command(db_group)
    app.cli.add_command(mail_group)
    for name, load in LAZY_GROUPS.items():
        app.cli.add_command(_LazyGroup(name, load))
