"""Cron expressions of schedules, checked on their own (the schedule tests check them in place)."""

from __future__ import annotations

import pytest

from app.journeys.language.cron import cron_field_ok, cron_problems, time_zones


@pytest.mark.parametrize(
    "cron",
    ["*/15 * * * *", "0 9-17/2 * * MON-FRI", "30 8 1,15 JAN,jul *", "0 0 * * 0,7", "0 9 * dec sun"],
)
def test_valid_crons_have_no_problem(cron: str) -> None:
    assert cron_problems(cron) == []


def test_cron_problems_name_the_field() -> None:
    assert cron_problems("0 9 * *") == [
        "cron '0 9 * *' needs 5 fields (minute hour day-of-month month weekday), not 4"
    ]
    assert cron_problems("0 24 0 * *") == [
        "cron '0 24 0 * *': the hour field '24' is not valid "
        "(use *, numbers 0-23, ranges a-b, lists a,b and steps */n)",
        "cron '0 24 0 * *': the day-of-month field '0' is not valid "
        "(use *, numbers 1-31, ranges a-b, lists a,b and steps */n)",
    ]


@pytest.mark.parametrize("part", ["*/0", "*/x", "5-1", "", "1,", "mon", "13"])
def test_bad_month_fields(part: str) -> None:
    assert not cron_field_ok(part, 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul",
                                           "aug", "sep", "oct", "nov", "dec"))


def test_month_names_count_from_one() -> None:
    months = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    assert cron_field_ok("jan-dec", 1, 12, months)
    assert cron_field_ok("DEC", 1, 12, months)


def test_time_zones_are_known_names() -> None:
    zones = time_zones()
    assert not zones or {"Europe/Paris", "America/New_York"} <= zones
