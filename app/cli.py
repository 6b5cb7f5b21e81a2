"""Top-level CLI: ``flask --app wsgi db upgrade``; domain packages add their own groups."""

from __future__ import annotations

import logging
import signal
import threading
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


def init_app(app: Flask) -> None:
    from app.catalog import cli as catalog_cli
    from app.demo import cli as demo_cli
    from app.insights import cli as insights_cli
    from app.insights import commerce_cli
    from app.rules import cli as journeys_cli
    from app.scheduler import cli as scheduler_cli
    from app.verify import cli as verify_cli

    app.cli.add_command(db_group)
    app.cli.add_command(mail_group)
    app.cli.add_command(catalog_cli.brands_group)
    app.cli.add_command(catalog_cli.products_group)
    app.cli.add_command(verify_cli.tags_group)
    app.cli.add_command(verify_cli.sun_group)
    app.cli.add_command(verify_cli.taps_group)
    app.cli.add_command(demo_cli.demo_group)
    app.cli.add_command(insights_cli.insights_group)
    app.cli.add_command(commerce_cli.commerce_group)
    app.cli.add_command(journeys_cli.journeys_group)
    app.cli.add_command(scheduler_cli.scheduler_group)
