"""``scheduler run``: the scheduler process, a thin wrapper over ``SchedulerProcess``."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from app.core.db import db
from app.messages.ticks import tick
from app.scheduler.process import SchedulerProcess

scheduler_group = AppGroup("scheduler", help="Scheduled messages and daily duties.")


@scheduler_group.command("run", help="Run scheduled messages and duties until stopped (SIGTERM "
                                     "or Ctrl-C); `make run` starts it. Run exactly one.")
@click.option("--once", is_flag=True, help="Run the slots due now (catch-up included), then exit.")
@click.option("--seconds", type=float, default=None,
              help="Stop by itself after this many seconds.")
def scheduler_run(once: bool, seconds: float | None) -> None:
    assert db.sessionmaker is not None
    rules = current_app.extensions["aftertap.rules"]
    process = SchedulerProcess(db.sessionmaker, current_app.config, rules.registry.rulesets, tick)
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
