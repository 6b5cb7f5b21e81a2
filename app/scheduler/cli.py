"""``scheduler run``: the scheduler process, a thin wrapper over ``SchedulerProcess``."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from app.core.clock import now as real_now
from app.core.db import db
from app.messages.ticks import tick
from app.scheduler.process import SchedulerProcess


def _moment(text: str) -> datetime:
    """Return ``text`` (ISO 8601 with an offset) as an aware UTC datetime. Raises
    click.BadParameter otherwise."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 moment",
                                 param_hint="--now") from exc
    if moment.tzinfo is None:
        # A naive moment is ambiguous: which zone it means decides which slots are due.
        raise click.BadParameter("give an offset, like 2026-12-01T08:01:00+00:00",
                                 param_hint="--now")
    return moment.astimezone(UTC)


scheduler_group = AppGroup("scheduler", help="Scheduled messages and daily duties.")


@scheduler_group.command("run", help="Run scheduled messages and duties until stopped (SIGTERM "
                                     "or Ctrl-C); `make run` starts it. Run exactly one.")
@click.option("--once", is_flag=True, help="Run the slots due now (catch-up included), then exit.")
@click.option("--seconds", type=float, default=None,
              help="Stop by itself after this many seconds.")
@click.option("--now", "fixed_now", type=str, default=None, metavar="ISO",
              help="For tests and dry runs: take this moment (ISO 8601 with an offset) as now.")
def scheduler_run(once: bool, seconds: float | None, fixed_now: str | None) -> None:
    assert db.sessionmaker is not None
    rules = current_app.extensions["aftertap.rules"]
    clock = real_now
    if fixed_now is not None:
        moment = _moment(fixed_now)
        clock = lambda: moment  # noqa: E731 - a fixed clock
    process = SchedulerProcess(db.sessionmaker, current_app.config, rules.registry.rulesets, tick,
                               clock=clock)
    if once:
        process.sync(starting=True)
        for ran in process.run_all_due():
            click.echo(f"{ran.job} {ran.slot.isoformat()}: {ran.summary}")
        return
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s scheduler %(levelname)s %(message)s")
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    process.start()
    click.echo(f"scheduler started: {len(process.jobs)} job(s)", err=True)
    try:
        stop.wait(seconds)
    finally:
        process.shutdown()
    click.echo("scheduler stopped", err=True)
