"""The scheduler's jobs with an injected clock: catch-up, double firing, and following rulesets."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.core.clock import now
from app.messages.ticks import TickReport
from app.rules.service import template_names
from app.rules.versions import publish
from app.scheduler.models import SchedulerRun
from app.scheduler.process import SYNC_JOB, SchedulerProcess, make_apscheduler
from app.scheduler.runs import Job, claim, run_due, run_slot
from tests.factories import tagged_item

T = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)  # a Tuesday, 09:30 in Paris
REFILL = "messages:maison-aurelia:refill-reminder"  # "0 9 * * *" in Europe/Paris


class FakeTick:
    """Records each (brand, schedule, slot) it is called for."""

    def __init__(self, fail: set[datetime] | None = None) -> None:
        self.calls: list[tuple[str, str, datetime]] = []
        self.fail = fail or set()
        self.lock = threading.Lock()

    def __call__(self, session: Any, settings: Any, brand: str, schedule_id: str,
                 slot: datetime, at: datetime) -> TickReport:
        if slot in self.fail:
            raise RuntimeError("tick failed")
        with self.lock:
            self.calls.append((brand, schedule_id, slot))
        return TickReport(selected=1, enqueued=1, suppressed=0)


def _process(app, tick, clock=lambda: T, **settings):  # type: ignore[no-untyped-def]
    config = {**app.config, **settings}
    return SchedulerProcess(app.extensions["aftertap.db"].sessionmaker, config,
                            app.extensions["aftertap.rules"].registry.rulesets, tick, clock)


def _refill_calls(tick: FakeTick) -> list[datetime]:
    return [slot for _, schedule, slot in tick.calls if schedule == "refill-reminder"]


def test_start_catches_up_missed_slots_within_the_window_and_not_beyond(app):
    tick = FakeTick()
    process = _process(app, tick, SCHEDULER_CATCH_UP_MINUTES=60)
    process.sync(starting=True)
    ran = process.run_all_due()
    # 08:00 UTC today is within the hour; yesterday's 08:00 and Monday's 10:00 are not.
    assert tick.calls == [
        ("maison-aurelia", "refill-reminder", datetime(2026, 12, 1, 8, tzinfo=UTC))]
    # The insights refresh runs every minute: its last minute only (its own window).
    assert {r.job for r in ran} == {REFILL, "ownership:expired-links", "insights:refresh"}
    assert [r.slot for r in ran if r.job == "insights:refresh"] == [T.replace(second=0,
                                                                             microsecond=0)]


def test_catch_up_resumes_after_the_last_recorded_slot(app, db):
    claim(db, REFILL, datetime(2026, 11, 29, 8, tzinfo=UTC), T)
    db.commit()
    tick = FakeTick()
    process = _process(app, tick, SCHEDULER_CATCH_UP_MINUTES=5 * 24 * 60)
    process.sync(starting=True)
    process.run_all_due()
    assert _refill_calls(tick) == [datetime(2026, 11, 30, 8, tzinfo=UTC),
                                   datetime(2026, 12, 1, 8, tzinfo=UTC)]


def test_a_restart_runs_nothing_twice(app):
    tick = FakeTick()
    for _ in range(2):
        process = _process(app, tick, SCHEDULER_CATCH_UP_MINUTES=60)
        process.sync(starting=True)
        process.run_all_due()
        process.fire(REFILL)
    assert _refill_calls(tick) == [datetime(2026, 12, 1, 8, tzinfo=UTC)]


def test_two_schedulers_firing_the_same_slot_at_once_run_it_once(app, db):
    tick = FakeTick()
    processes = [_process(app, tick, SCHEDULER_CATCH_UP_MINUTES=60) for _ in range(2)]
    for process in processes:
        process.sync(starting=True)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def fire(process: SchedulerProcess) -> None:
        try:
            start.wait(timeout=10)
            process.fire(REFILL)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fire, args=(p,)) for p in processes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert _refill_calls(tick) == [datetime(2026, 12, 1, 8, tzinfo=UTC)]
    runs = db.scalars(select(SchedulerRun).where(SchedulerRun.job == REFILL)).all()
    assert [(r.slot, r.summary) for r in runs] == [
        (datetime(2026, 12, 1, 8, tzinfo=UTC), "1 selected, 1 enqueued, 0 suppressed")]


def test_a_slot_fired_twice_runs_once_whoever_computed_it_due(app, db):
    # Two schedulers that both found the slot due before either committed: the key decides.
    calls: list[datetime] = []

    def action(session, settings, slot, at):  # type: ignore[no-untyped-def]
        calls.append(slot)
        return "ok"

    job = Job("test:daily", "0 8 * * *", "UTC", action)
    sessions = app.extensions["aftertap.db"].sessionmaker
    slot = datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert run_slot(sessions, app.config, job, slot, T) is not None
    assert run_slot(sessions, app.config, job, slot, T) is None
    assert calls == [slot]


def test_a_failed_slot_rolls_back_its_claim_and_the_next_slots_still_run(app, db):
    day1, day2 = (datetime(2026, 11, 30, 8, tzinfo=UTC), datetime(2026, 12, 1, 8, tzinfo=UTC))

    def action(session, settings, slot, at):  # type: ignore[no-untyped-def]
        if slot == day1:
            raise RuntimeError("boom")
        return "ok"

    job = Job("test:daily", "0 8 * * *", "UTC", action)
    sessions = app.extensions["aftertap.db"].sessionmaker
    ran = run_due(sessions, app.config, job, T, timedelta(days=2))
    assert [r.slot for r in ran] == [day2]
    assert db.scalars(select(SchedulerRun.slot).where(SchedulerRun.job == job.id)).all() == [day2]


def test_jobs_follow_a_newly_published_ruleset_version(app, db):
    tagged_item(db)  # the brand
    db.commit()
    clock = [T]
    tick = FakeTick()
    process = _process(app, tick, lambda: clock[0], SCHEDULER_CATCH_UP_MINUTES=24 * 60)
    process.sync(starting=True)
    assert REFILL in process.jobs
    ruleset = """brand: maison-aurelia
timezone: America/New_York
journeys:
  - id: all
    priority: 1
    when: {tap.verdict: genuine}
    experience: authenticity
schedules:
  - id: new-one
    cron: "0 3 * * *"
    when: {owner.is_current: true}
    message: refill_email
    channel: email
"""
    publish(db, ruleset, "maison-aurelia.yaml", author="test", at=now(),
            experiences=template_names("experiences"), messages=template_names("messages"))
    db.commit()
    app.extensions["aftertap.rules"].registry.refresh()
    clock[0] = T + timedelta(minutes=1)
    added, removed = process.sync()
    assert added == ["messages:maison-aurelia:new-one"]
    assert removed == ["messages:maison-aurelia:dormant-win-back", REFILL]
    job_ids = {j.id for j in process.aps.get_jobs()}
    assert "messages:maison-aurelia:new-one" in job_ids and REFILL not in job_ids
    new_job = process.aps.get_job("messages:maison-aurelia:new-one")
    assert "America/New_York" in repr(new_job.trigger)
    # 03:00 in New York (08:00 UTC) passed before the job existed: it is not caught up.
    assert process.fire("messages:maison-aurelia:new-one") == []
    clock[0] = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    process.fire("messages:maison-aurelia:new-one")
    assert tick.calls == [("maison-aurelia", "new-one", datetime(2026, 12, 2, 8, tzinfo=UTC))]
    assert process.fire(REFILL) == []  # a removed job runs nothing


def test_a_message_job_wakes_when_utc_plus_14_reaches_its_slot_and_at_the_slot(app):
    process = _process(app, FakeTick(), SCHEDULER_CATCH_UP_MINUTES=60)
    process.sync(starting=True)
    refill = process.aps.get_job(REFILL).trigger
    # After 09:30 in Paris on 1 December: the next slot (2 December, 08:00 UTC) is due from
    # 19:00 UTC the evening before, when it is 09:00 in UTC+14; its own 09:00 still wakes too.
    first = refill.get_next_fire_time(None, T)
    second = refill.get_next_fire_time(first, first + timedelta(seconds=1))
    assert (first, second) == (datetime(2026, 12, 1, 19, tzinfo=UTC),
                               datetime(2026, 12, 2, 8, tzinfo=UTC))
    # A duty has no lead: it wakes at its slots only.
    links = process.aps.get_job("ownership:expired-links").trigger
    assert links.get_next_fire_time(None, T) == datetime(2026, 12, 1, 9, 15, tzinfo=UTC)


def test_a_message_slot_is_due_from_its_lead_and_caught_up_by_its_own_time(app):
    tick = FakeTick()
    clock = [datetime(2026, 12, 1, 18, 59, tzinfo=UTC)]
    process = _process(app, tick, lambda: clock[0], SCHEDULER_CATCH_UP_MINUTES=60)
    process.sync(starting=True)
    assert process.fire(REFILL) == []  # 2 December's slot is due from 19:00 UTC
    clock[0] = datetime(2026, 12, 1, 19, tzinfo=UTC)
    assert [r.slot for r in process.fire(REFILL)] == [datetime(2026, 12, 2, 8, tzinfo=UTC)]
    assert process.fire(REFILL) == []
    # A process that was down at the lead still runs the slot up to the catch-up window after
    # the slot itself.
    clock[0] = datetime(2026, 12, 3, 8, 59, tzinfo=UTC)
    assert [r.slot for r in process.fire(REFILL)] == [datetime(2026, 12, 3, 8, tzinfo=UTC)]


def test_a_schedule_that_cannot_be_used_is_left_out_and_the_rest_run(app):
    good = Job("test:good", "0 8 * * *", "UTC", lambda *a: "ok")
    bad = Job("test:bad", "0 8 * * *", "Mars/Olympus_Mons", lambda *a: "ok")
    process = _process(app, FakeTick())
    process.wanted = lambda: {good.id: good, bad.id: bad}  # type: ignore[method-assign]
    assert process.sync(starting=True) == (["test:good"], [])
    assert set(process.jobs) == {"test:good"}


def test_apscheduler_defaults_are_explicit():
    aps = make_apscheduler(timedelta(minutes=360))
    assert aps._job_defaults == {"coalesce": True, "max_instances": 1,
                                 "misfire_grace_time": 360 * 60}


def test_start_adds_the_sync_job_and_shutdown_stops(app):
    process = _process(app, FakeTick(), SCHEDULER_CATCH_UP_MINUTES=60)
    process.start()
    try:
        assert process.aps.running
        assert process.aps.get_job(SYNC_JOB) is not None
        assert REFILL in {j.id for j in process.aps.get_jobs()}
    finally:
        process.shutdown()
    assert not process.aps.running
