"""Slots: the moments (UTC) a five-field cron fires in a time zone, DST days included.

APScheduler 3's ``CronTrigger`` computes the fire times, with two corrections:

* weekday numbers: the ruleset language follows crontab (0 and 7 are Sunday) but APScheduler 3
  counts 0 as Monday, so the weekday field is handed over as names (``mon,wed``), never numbers;
* a wall-clock time that happens twice (autumn, clocks go back) fires once, at its first
  occurrence: APScheduler would fire a ``30 2 * * *`` cron at 02:30 CEST and again at 02:30 CET.

A wall-clock time that does not exist (spring, clocks go forward) fires once, at the same
absolute moment as the time the clocks skipped to plus the gap: Europe/Paris on 2026-03-29 has
no 02:30, so ``30 2 * * *`` fires at 03:30 CEST (01:30 UTC), one hour after 01:30 CET would
have been 02:30. This is APScheduler's behaviour, pinned by ``tests/scheduler/test_slots.py``.

Also unlike crontab: when both day-of-month and weekday are restricted, a day must match both
(APScheduler), not either.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

from app.core.clock import utc
from app.journeys.language.cron import CRON_DAYS
from app.messages.zones import EARLIEST_ZONE

_ALL_DAYS = frozenset(range(7))


def _day_number(token: str) -> int:
    lowered = token.lower()
    return CRON_DAYS.index(lowered) if lowered in CRON_DAYS else int(token) % 7


def weekday_names(field: str) -> str:
    """Return a crontab weekday field (0 and 7 Sunday) as APScheduler day names, or ``*``.

    Raises:
        ValueError: a token that is neither a day number nor a day name.
    """
    days: set[int] = set()
    for piece in field.split(","):
        base, _, step_text = piece.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            first, last = 0, 6
        else:
            start, dash, end = base.partition("-")
            first = _day_number(start)
            # 7 closes a range as Sunday at its end: 5-7 is Friday to Sunday.
            last = (7 if end.strip() == "7" else _day_number(end)) if dash else (
                first if not step_text else 6)
        days.update(n % 7 for n in range(first, last + 1, step))
    if days == _ALL_DAYS:
        return "*"
    return ",".join(CRON_DAYS[n] for n in sorted(days))


def trigger(cron: str, timezone: str) -> CronTrigger:
    """Return the APScheduler trigger of a five-field crontab expression in ``timezone``.

    Raises:
        ValueError: not five fields, or a field APScheduler refuses.
    """
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"cron '{cron}' needs 5 fields")
    minute, hour, day, month, weekday = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=weekday_names(weekday), timezone=ZoneInfo(timezone))


def wake_trigger(cron: str, timezone: str, early: bool = False) -> BaseTrigger:
    """Return when the scheduler process wakes a job up: at its slots (``trigger``) and, when
    ``early``, also at each slot's wall time in UTC+14 (``EARLIEST_ZONE``), the moment a message
    job's lead makes the slot due. The slot's own wake-up stays, so a slot whose early wake-up
    was missed still runs.

    Raises:
        ValueError: see ``trigger``.
    """
    at_slot = trigger(cron, timezone)
    if not early:
        return at_slot
    return OrTrigger([at_slot, trigger(cron, EARLIEST_ZONE)])


def _repeated_wall_time(moment: datetime) -> bool:
    # The second occurrence of an ambiguous local time (fold=1 with another offset at fold=0).
    return bool(moment.fold) and moment.replace(fold=0).utcoffset() != moment.utcoffset()


def slots_between(cron: str, timezone: str, after: datetime, until: datetime) -> list[datetime]:
    """Return the fire times (aware UTC) with ``after < t <= until``, oldest first.

    Raises:
        ValueError: see ``trigger``.
    """
    tz = ZoneInfo(timezone)
    trig = trigger(cron, timezone)
    start, end = utc(after), utc(until)
    out: list[datetime] = []
    previous: datetime | None = None
    # APScheduler's next fire time is at or after ``now``; a microsecond past ``after`` makes the
    # lower bound exclusive.
    cursor = (start + timedelta(microseconds=1)).astimezone(tz)
    while True:
        fire = trig.get_next_fire_time(previous, cursor)
        if fire is None or utc(fire) > end:
            return out
        local = utc(fire).astimezone(tz)
        if not _repeated_wall_time(local):
            out.append(utc(fire).astimezone(UTC))
        previous = fire
        cursor = (utc(fire) + timedelta(microseconds=1)).astimezone(tz)
