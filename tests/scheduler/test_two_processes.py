"""Two ``flask scheduler run --once`` processes at the same moment on one PostgreSQL database:
every message is queued once and every slot is recorded once.

PostgreSQL only: it is the database several schedulers may share (SQLite serves one process).
"""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.messages.models import Message
from app.scheduler.models import SchedulerRun
from tests.messages.helpers import BRAND, SLOT, owned_serum, publish_demo
from tests.scheduler.test_cli import FLASK, REPO, _env

OWNERS = 12
JOB = f"messages:{BRAND}:refill-reminder"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_schedulers_at_once_queue_every_message_exactly_once(settings, db):
    publish_demo(db)
    owned = {owned_serum(db, 77).ownership_id for _ in range(OWNERS)}
    now = (SLOT + timedelta(minutes=1)).isoformat()
    env = _env(settings)
    command = [FLASK, "--app", "wsgi", "scheduler", "run", "--once", "--now", now]
    procs = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = []
    for proc in procs:
        try:
            output, _ = proc.communicate(timeout=120)
        finally:
            proc.kill()
        assert proc.returncode == 0, output
        outputs.append(output)

    # The slot ran in exactly one of the two processes; the other found it taken.
    ran = [out for out in outputs if f"{JOB} {SLOT.isoformat()}:" in out]
    assert len(ran) == 1, outputs
    assert f"{OWNERS} selected, {OWNERS} enqueued" in ran[0]
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(SchedulerRun).where(
        SchedulerRun.job == JOB, SchedulerRun.slot == SLOT)) == 1
    # Every duty's slot too: no (job, slot) recorded twice (the unique key would refuse it,
    # and neither process failed).
    assert db.scalar(select(func.count()).select_from(SchedulerRun)) == db.scalar(
        select(func.count()).select_from(
            select(SchedulerRun.job, SchedulerRun.slot).distinct().subquery()))
    rows = db.execute(select(Message.ownership_id, func.count()).where(Message.brand == BRAND)
                      .group_by(Message.ownership_id)).all()
    assert {ownership_id for ownership_id, _ in rows} == owned
    assert all(count == 1 for _, count in rows), rows


def test_now_must_carry_an_offset(runner):
    result = runner.invoke(args=["scheduler", "run", "--once", "--now", "2026-12-01T08:01:00"])
    assert result.exit_code != 0 and "offset" in result.output
    result = runner.invoke(args=["scheduler", "run", "--once", "--now", "yesterday"])
    assert result.exit_code != 0 and "ISO 8601" in result.output
