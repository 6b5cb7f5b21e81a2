"""Runs: which slots of a job are due, and running each exactly once (``scheduler_runs``).

A slot is due when it lies after the job's last recorded slot, within the catch-up window
(``SCHEDULER_CATCH_UP_MINUTES``) and, for a job this process added while running, after the
moment it was added. A job with a ``lead`` runs each slot that long before it (a message job:
owners east of the ruleset's zone are due before the slot); the window and the bounds still
apply to the slot itself.

Each due slot is claimed with insert-or-ignore in the same transaction as its
work: a second scheduler (or thread) claiming the same slot waits for the first to commit, then
finds the key taken and skips it; if the work fails, the claim rolls back with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.core.clock import utc
from app.core.db import insert_ignore, update_rows
from app.scheduler.models import SchedulerRun
from app.scheduler.slots import slots_between

log = logging.getLogger(__name__)

Action = Callable[[Session, Mapping[str, Any], datetime, datetime], str]
"""A job's work for one slot: ``(session, settings, slot, now)``; returns a one-line summary and
leaves committing to its caller."""

Lead: TypeAlias = timedelta | Callable[[datetime], timedelta]
"""How long before a slot a job runs it: fixed, or computed per slot (never negative)."""

# The longest lead a per-slot ``Lead`` may give: from UTC-12 to UTC+14, the farthest apart two
# zones' wall clocks are. Slots this far ahead are looked at; a longer lead runs late, not never.
MAX_LEAD = timedelta(hours=26)


@dataclass(frozen=True)
class Job:
    """What runs when: a cron in a time zone, the action run once per slot, and how long
    before each slot it runs (``lead``; none by default)."""

    id: str
    cron: str
    timezone: str
    action: Action = field(compare=False)
    lead: Lead = field(default=timedelta(0), compare=False)
    # At most this far back, whatever the scheduler's window (None: the window).
    catch_up: timedelta | None = field(default=None, compare=False)

    @property
    def has_lead(self) -> bool:
        """Whether the job may run slots before their time."""
        return callable(self.lead) or self.lead > timedelta(0)

    def lead_at(self, slot: datetime) -> timedelta:
        """Return how long before ``slot`` this job runs it."""
        return self.lead(slot) if callable(self.lead) else self.lead


@dataclass(frozen=True)
class Ran:
    """One slot run by this process: its job, its slot and the action's summary."""

    job: str
    slot: datetime
    summary: str


def last_slot(session: Session, job_id: str) -> datetime | None:
    """Return the newest slot recorded for ``job_id``, or None when it never ran."""
    value = session.execute(
        select(func.max(SchedulerRun.slot)).where(SchedulerRun.job == job_id)
    ).scalar()
    return utc(value) if value is not None else None


def claim(session: Session, job_id: str, slot: datetime, at: datetime) -> bool:
    """Record that ``slot`` of ``job_id`` runs; return False when it was recorded already."""
    return bool(insert_ignore(session, SchedulerRun.__table__,
                              {"job": job_id, "slot": utc(slot), "ran_at": utc(at),
                               "summary": ""}))


def due_slots(
    session: Session, job: Job, now: datetime, catch_up: timedelta, since: datetime | None = None,
) -> list[datetime]:
    """Return the slots of ``job`` to run at ``now``, oldest first: each slot ``s`` with
    ``s - lead <= now`` that lies after the last recorded slot, after ``since`` and within
    ``catch_up`` (or the job's own, when shorter) of ``now``.

    Raises:
        ValueError: the job's cron or time zone is not usable.
    """
    if job.catch_up is not None:
        catch_up = min(catch_up, job.catch_up)
    lower = utc(now) - catch_up
    for bound in (last_slot(session, job.id), since):
        if bound is not None and bound > lower:
            lower = bound
    if not job.has_lead:
        return slots_between(job.cron, job.timezone, lower, now)
    ahead = MAX_LEAD if callable(job.lead) else job.lead
    # A slot's run time (slot - lead) never goes backwards as slots go forwards (a message
    # job's run time is the slot's wall time in UTC+14), so after the last recorded slot no
    # slot with an earlier run time is skipped.
    return [slot for slot in slots_between(job.cron, job.timezone, lower, utc(now) + ahead)
            if slot - job.lead_at(slot) <= utc(now)]


def run_slot(
    sessions: Callable[[], Session],
    settings: Mapping[str, Any],
    job: Job,
    slot: datetime,
    now: datetime,
) -> Ran | None:
    """Claim ``slot`` of ``job`` and run its action in one transaction, then commit.

    Returns the run, or None when the slot was claimed already (by another scheduler, thread or
    an earlier run) or its action raised: that is logged and rolled back, claim included.
    """
    # Leaving the ``with`` without a commit closes the session, which rolls back.
    with sessions() as session:
        try:
            if not claim(session, job.id, slot, now):
                return None
            summary = job.action(session, settings, slot, now)[:200]
            update_rows(session, update(SchedulerRun)
                        .where(SchedulerRun.job == job.id, SchedulerRun.slot == utc(slot))
                        .values(summary=summary))
            session.commit()
        except Exception:
            log.exception("job %s, slot %s failed", job.id, slot.isoformat())
            return None
    log.info("job %s, slot %s: %s", job.id, slot.isoformat(), summary)
    return Ran(job.id, slot, summary)


def run_due(
    sessions: Callable[[], Session],
    settings: Mapping[str, Any],
    job: Job,
    now: datetime,
    catch_up: timedelta,
    since: datetime | None = None,
) -> list[Ran]:
    """Run each due slot of ``job`` once (``run_slot``), oldest first; return those run.

    Raises:
        ValueError: the job's cron or time zone is not usable.
    """
    with sessions() as session:
        slots = due_slots(session, job, now, catch_up, since)
        session.rollback()
    return [ran for slot in slots
            if (ran := run_slot(sessions, settings, job, slot, now)) is not None]
