"""Slots of a cron in a ruleset's time zone, DST days included (pins APScheduler 3's behaviour)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.scheduler.slots import slots_between, trigger, weekday_names

PARIS = "Europe/Paris"


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_daily_cron_fires_at_local_time_in_the_rulesets_time_zone():
    # 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer.
    assert slots_between("0 9 * * *", PARIS, _utc(2026, 1, 10), _utc(2026, 1, 11, 12)) == [
        _utc(2026, 1, 10, 8), _utc(2026, 1, 11, 8)]
    assert slots_between("0 9 * * *", PARIS, _utc(2026, 7, 10), _utc(2026, 7, 10, 12)) == [
        _utc(2026, 7, 10, 7)]


def test_spring_forward_a_missing_0230_fires_once_at_0330_summer_time():
    # Europe/Paris 2026-03-29: 02:00 CET becomes 03:00 CEST, so 02:30 does not exist. The slot
    # is not dropped: it fires once, at 01:30 UTC (03:30 CEST), the moment 02:30 CET would be.
    slots = slots_between("30 2 * * *", PARIS, _utc(2026, 3, 27, 12), _utc(2026, 3, 30, 12))
    assert slots == [_utc(2026, 3, 28, 1, 30), _utc(2026, 3, 29, 1, 30), _utc(2026, 3, 30, 0, 30)]


def test_fall_back_a_repeated_0230_fires_once_at_its_first_occurrence():
    # Europe/Paris 2026-10-25: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice;
    # APScheduler alone would fire at 00:30 and 01:30 UTC.
    slots = slots_between("30 2 * * *", PARIS, _utc(2026, 10, 24, 12), _utc(2026, 10, 26, 12))
    assert slots == [_utc(2026, 10, 25, 0, 30), _utc(2026, 10, 26, 1, 30)]


def test_bounds_exclude_the_lower_and_include_the_upper():
    assert slots_between("0 * * * *", "UTC", _utc(2026, 1, 1, 1), _utc(2026, 1, 1, 3)) == [
        _utc(2026, 1, 1, 2), _utc(2026, 1, 1, 3)]


@pytest.mark.parametrize(("field", "names"), [
    ("1", "mon"), ("0", "sun"), ("7", "sun"), ("MON", "mon"), ("1-5", "mon,tue,wed,thu,fri"),
    ("5-7", "sun,fri,sat"), ("*/2", "sun,tue,thu,sat"), ("sat,sun", "sun,sat"), ("*", "*"),
    ("0-6", "*"),
])
def test_weekdays_are_crontabs_not_apschedulers(field, names):
    assert weekday_names(field) == names


def test_weekday_1_is_monday_as_in_crontab():
    # APScheduler 3 alone takes 1 for Tuesday; 2026-11-30 is a Monday.
    assert slots_between("0 10 * * 1", PARIS, _utc(2026, 11, 29), _utc(2026, 12, 2)) == [
        _utc(2026, 11, 30, 9)]


def test_a_cron_without_five_fields_is_refused():
    with pytest.raises(ValueError, match="5 fields"):
        trigger("0 9 * *", PARIS)
