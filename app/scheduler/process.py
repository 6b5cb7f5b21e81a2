"""The scheduler process: APScheduler 3 wakes jobs up; ``runs`` decides and records each slot.

APScheduler runs in this process only (never in a web worker), with an in-memory job store, so
no job store is ever shared. Its job defaults are explicit: ``coalesce`` (a job woken late runs
once, not once per missed fire), ``max_instances=1`` and ``misfire_grace_time`` equal to the
catch-up window. A wake-up, late or not, runs every due slot from the database's point of view
(``runs.run_due``), so coalescing never loses a slot within the window.

Every ``SCHEDULER_SYNC_SECONDS`` the jobs follow the live rulesets: a schedule added, changed or
removed by a newly published version is added, re-timed or removed. A job added while running
only takes slots from the moment it was added; at start-up every job catches up its slots of the
window that were not recorded (the process was down, or restarting).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.orm import Session

from app.core.clock import now as real_now
from app.scheduler.jobs import Rulesets, Tick, duty_jobs, schedule_jobs
from app.scheduler.runs import Job, Ran, run_due
from app.scheduler.slots import wake_trigger

log = logging.getLogger(__name__)

SYNC_JOB = "scheduler:sync"


def make_apscheduler(catch_up: timedelta) -> BackgroundScheduler:
    """Return an APScheduler with every job default set explicitly (see the module docstring)."""
    return BackgroundScheduler(timezone=UTC, job_defaults={
        "coalesce": True,
        "max_instances": 1,
        "misfire_grace_time": max(1, int(catch_up.total_seconds())),
    })


class SchedulerProcess:
    """The jobs of one scheduler process, kept in step with the live rulesets."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        settings: Mapping[str, Any],
        rulesets: Rulesets,
        tick: Tick,
        clock: Callable[[], datetime] = real_now,
        scheduler: BaseScheduler | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.rulesets = rulesets
        self.tick = tick
        self.clock = clock
        self.catch_up = timedelta(minutes=float(settings["SCHEDULER_CATCH_UP_MINUTES"]))
        self.aps = scheduler or make_apscheduler(self.catch_up)
        self.jobs: dict[str, Job] = {}
        self._since: dict[str, datetime | None] = {}
        self._lock = threading.Lock()

    def wanted(self) -> dict[str, Job]:
        """Return the jobs the live rulesets and the duties call for, by id."""
        jobs = duty_jobs(self.rulesets) + schedule_jobs(self.rulesets(), self.tick)
        return {job.id: job for job in jobs}

    def sync(self, starting: bool = False) -> tuple[list[str], list[str]]:
        """Add, re-time and remove jobs to match ``wanted``; return ``(added, removed)`` ids.

        A job whose cron or time zone cannot be used is logged and left out. Never raises.
        """
        with self._lock:
            wanted = self.wanted()
            at = self.clock()
            removed = sorted(set(self.jobs) - set(wanted))
            for job_id in removed:
                self.aps.remove_job(job_id)
                del self.jobs[job_id]
                self._since.pop(job_id, None)
            added = []
            for job_id, job in wanted.items():
                old = self.jobs.get(job_id)
                if old is not None and (old.cron, old.timezone, old.has_lead) == (
                        job.cron, job.timezone, job.has_lead):
                    self.jobs[job_id] = job
                    continue
                try:
                    # A job with a lead (messages) is also woken when its lead makes a slot due.
                    trig = wake_trigger(job.cron, job.timezone, early=job.has_lead)
                except (ValueError, KeyError) as exc:
                    log.error("job %s: cron %r in %s is not usable: %s",
                              job_id, job.cron, job.timezone, exc)
                    continue
                self.aps.add_job(self.fire, trig, args=[job_id], id=job_id, name=job_id,
                                 replace_existing=True)
                if old is None:
                    added.append(job_id)
                    self._since[job_id] = None if starting else at
                self.jobs[job_id] = job
            if added or removed:
                log.info("jobs added: %s; removed: %s", added or "none", removed or "none")
            return sorted(added), removed

    def fire(self, job_id: str) -> list[Ran]:
        """Run the due slots of job ``job_id`` (none when it is gone); return those run."""
        job = self.jobs.get(job_id)
        if job is None:
            return []
        return run_due(self.sessions, self.settings, job, self.clock(), self.catch_up,
                       self._since.get(job_id))

    def run_all_due(self) -> list[Ran]:
        """Run every job's due slots (the start-up catch-up); return those run."""
        return [ran for job_id in sorted(self.jobs) for ran in self.fire(job_id)]

    def start(self) -> list[Ran]:
        """Sync, catch up, then start waking jobs (in background threads); return the catch-up."""
        self.sync(starting=True)
        caught_up = self.run_all_due()
        self.aps.add_job(self.sync, IntervalTrigger(
            seconds=float(self.settings["SCHEDULER_SYNC_SECONDS"])), id=SYNC_JOB, name=SYNC_JOB)
        self.aps.start()
        return caught_up

    def shutdown(self) -> None:
        """Stop waking jobs and wait for the running ones to finish."""
        if self.aps.running:
            self.aps.shutdown(wait=True)
