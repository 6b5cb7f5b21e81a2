"""``flask scheduler run``: once in-process, and the real process loop in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from app.scheduler.models import SchedulerRun

REPO = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).parent / "flask")


def _env(settings: dict[str, object]) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in settings.items():
        if key != "TESTING":
            env[f"AFTERTAP_{key}"] = (json.dumps(value) if isinstance(value, bool | dict)
                                      else str(value))
    return env


def test_run_once_runs_the_due_slots_then_nothing_twice(app, runner, db):
    # A window of a week: every duty has a slot in it.
    app.config["SCHEDULER_CATCH_UP_MINUTES"] = 7 * 24 * 60
    # One moment for both runs: the insights refresh is due every minute, so a second run in
    # the next minute would rightly run that new slot.
    moment = datetime.now(UTC).replace(second=30, microsecond=0).isoformat()
    first = runner.invoke(args=["scheduler", "run", "--once", "--now", moment])
    assert first.exit_code == 0, first.output
    assert "rewards:seeds " in first.output and "verify:tap-detail " in first.output
    recorded = db.scalar(select(func.count()).select_from(SchedulerRun))
    assert recorded
    second = runner.invoke(args=["scheduler", "run", "--once", "--now", moment])
    assert second.exit_code == 0
    assert db.scalar(select(func.count()).select_from(SchedulerRun)) == recorded


def _start(settings: dict[str, object], *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([FLASK, "--app", "wsgi", "scheduler", "run", *args], cwd=REPO,
                            env=_env(settings), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    # Never hang the suite on a process that does not start or stop.
    watchdog = threading.Timer(60, proc.kill)
    watchdog.daemon = True
    watchdog.start()
    return proc


def test_the_process_stops_cleanly_on_sigterm(settings):
    proc = _start(settings)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "scheduler started" in line:
            break
    assert any("scheduler started" in line for line in seen), "".join(seen)
    proc.send_signal(signal.SIGTERM)
    rest = proc.stdout.read()
    assert proc.wait(timeout=30) == 0, "".join(seen) + rest
    assert "scheduler stopped" in rest


def test_the_process_loop_stops_by_itself_after_seconds(settings):
    proc = _start(settings, "--seconds", "0.5")
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "scheduler started" in output and "scheduler stopped" in output
