"""Dates in the language: journeys' ``from`` / ``until`` and the calendar facts' values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.journeys.language import Condition, journey_when
from app.journeys.vocabulary import MOMENT_PATH
from tests.journeys.language.helpers import one_problem, parse, problems, when_of


def _journey(window: str, timezone: str = "Europe/Paris") -> str:
    return (f"brand: b\ntimezone: {timezone}\njourneys:\n"
            f"  - {{id: j, priority: 1, experience: care, {window}}}\n")


def test_a_date_window_runs_from_local_midnight_to_the_end_of_the_last_day() -> None:
    (journey,) = parse(_journey("from: 2026-12-01, until: 2026-12-31")).journeys
    assert journey.window is not None
    # Paris is UTC+1 in winter: local midnight is 23:00 UTC the evening before.
    assert journey.window.starts == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert journey.window.ends == datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    assert journey.window.text == "from 2026-12-01 until 2026-12-31 (Europe/Paris)"
    low, high = journey_when(journey).children[:2]
    assert low == Condition(MOMENT_PATH, "gte", int(datetime(2026, 11, 30, 23, tzinfo=UTC)
                                                    .timestamp()))
    assert high == Condition(MOMENT_PATH, "lt", int(datetime(2026, 12, 31, 23, tzinfo=UTC)
                                                    .timestamp()))


def test_a_date_and_time_is_that_moment_and_either_bound_may_be_left_out() -> None:
    (start_only,) = parse(_journey("from: '2026-12-24T18:30'")).journeys
    assert start_only.window is not None and start_only.window.ends is None
    assert start_only.window.starts == datetime(2026, 12, 24, 17, 30, tzinfo=UTC)
    (end_only,) = parse(_journey("until: 2026-07-14 09:00")).journeys  # summer: UTC+2
    assert end_only.window is not None and end_only.window.starts is None
    assert end_only.window.ends == datetime(2026, 7, 14, 7, 0, tzinfo=UTC)
    (always,) = parse(_journey("when: {}")).journeys
    assert always.window is None and journey_when(always) == always.when


def test_without_a_timezone_dates_are_utc() -> None:
    doc = parse("brand: b\njourneys:\n"
                "  - {id: j, priority: 1, experience: care, from: 2026-12-01}\n")
    assert doc.journeys[0].window.starts == datetime(2026, 12, 1, tzinfo=UTC)  # type: ignore[union-attr]


def test_until_before_from_is_refused() -> None:
    assert one_problem(_journey("from: 2026-12-31, until: 2026-12-01")) == (
        "r.yaml:4:69: journey 'j': 'until' ('2026-12-01') must be later than 'from' "
        "('2026-12-31'): the journey would never run"
    )
    # The same day is fine: until takes in the whole day.
    parse(_journey("from: 2026-12-31, until: 2026-12-31"))
    assert one_problem(_journey("from: 2026-12-31T10:00, until: 2026-12-31T10:00")) == (
        "r.yaml:4:75: journey 'j': 'until' ('2026-12-31T10:00') must be later than 'from' "
        "('2026-12-31T10:00'): the journey would never run"
    )


@pytest.mark.parametrize(("written", "shown"), [
    ("2026-13-01", "'2026-13-01'"), ("2026-02-30", "'2026-02-30'"), ("december", "'december'"),
    ("2026-12-1", "'2026-12-1'"), ("'2026-12-01T25:00'", "'2026-12-01T25:00'"),
    ("'2026-12-01T10:00+01:00'", "'2026-12-01T10:00+01:00'"), ("[1]", "a list"),
])
def test_a_bound_that_is_not_a_date_is_refused(written: str, shown: str) -> None:
    assert one_problem(_journey(f"from: {written}")) == (
        "r.yaml:4:50: journey 'j': 'from' needs a date like 2026-12-01 or a date and time like "
        f"2026-12-01T09:00, in the ruleset's time zone, not {shown}")


def test_campaigns_in_different_months_neither_tie_nor_hide_each_other() -> None:
    parse("brand: b\njourneys:\n"
          "  - {id: nov, priority: 5, experience: care, from: 2026-11-01, until: 2026-11-30}\n"
          "  - {id: dec, priority: 5, experience: care, from: 2026-12-01, until: 2026-12-31}\n"
          "  - {id: later, priority: 1, experience: care, from: 2026-12-01}\n")
    # Overlapping windows at one priority still tie, and a window that covers another's hides it.
    assert problems("brand: b\njourneys:\n"
                    "  - {id: dec, priority: 5, experience: care, from: 2026-12-01}\n"
                    "  - {id: xmas, priority: 5, experience: care, from: 2026-12-24,"
                    " until: 2026-12-26}\n") == [
        "r.yaml:4:26: journey 'xmas' has the same priority (5) as journey 'dec' and both can "
        "match the same tap: give one of them a higher priority",
    ]
    assert problems("brand: b\njourneys:\n"
                    "  - {id: dec, priority: 5, experience: care, from: 2026-12-01}\n"
                    "  - {id: xmas, priority: 4, experience: care, from: 2026-12-24,"
                    " until: 2026-12-26}\n") == [
        "r.yaml:4:10: journey 'xmas' can never be chosen: journey 'dec' (priority 5) matches "
        "whenever it does",
    ]


# --- the calendar facts' values ----------------------------------------------------------------


def test_calendar_fact_values_are_normalised() -> None:
    (month, day, weekday) = when_of("""\
        tap.month: {between: [6, 8]}
        tap.date: {in: [2026-12-24, 2026-12-25]}
        tap.weekday: Saturday
    """).children
    assert month == Condition("tap.month", "between", (6, 8))
    assert day == Condition("tap.date", "in", ("2026-12-24", "2026-12-25"))
    assert weekday == Condition("tap.weekday", "eq", "sat")
    assert when_of("tap.weekday: Mon\n").children == (Condition("tap.weekday", "eq", "mon"),)
    assert when_of("ownership.anniversary_days: {lte: 7}\n").children == (
        Condition("ownership.anniversary_days", "lte", 7),)


@pytest.mark.parametrize(("line", "message"), [
    ("tap.month: 13", "tap.month needs a month from 1 (January) to 12 (December), not '13'"),
    ("tap.month: 0", "tap.month needs a month from 1 (January) to 12 (December), not '0'"),
    ("tap.month: december",
     "tap.month needs a month from 1 (January) to 12 (December), not 'december'"),
    ("tap.month: {gte: 13}",
     "tap.month: gte needs a month from 1 (January) to 12 (December), not '13'"),
    ("tap.date: 2026-12-32", "tap.date needs a date written YYYY-MM-DD, like 2026-12-24, "
     "not '2026-12-32'"),
    ("tap.date: 24/12/2026", "tap.date needs a date written YYYY-MM-DD, like 2026-12-24, "
     "not '24/12/2026'"),
    ("tap.date: {gte: 2026-12-01}", "tap.date holds a date, so it cannot be compared with 'gte'; "
     "give a value, or use in / not_in; for a range of dates, give the journey from: and until:"),
    ("tap.weekday: Tusday", "tap.weekday is never 'Tusday' (it is one of: mon, tue, wed, thu, "
     "fri, sat, sun); did you mean 'tuesday'?"),
    ("tap.local_hour: 24", "tap.local_hour needs an hour from 0 to 23, not '24'"),
    ("tap.monthe: 12", "unknown fact 'tap.monthe'; did you mean 'tap.month'?"),
])
def test_calendar_fact_values_are_checked(line: str, message: str) -> None:
    from tests.journeys.language.helpers import HEAD

    found = one_problem(HEAD + "      " + line + "\n")
    assert found.split(": ", 1)[1] == f"journey 'j': {message}", found


def test_the_moment_is_not_a_fact_marketers_write() -> None:
    from tests.journeys.language.helpers import HEAD

    assert "unknown fact 'tap.unix_time'" in one_problem(HEAD + "      tap.unix_time: 1\n")


def test_schedules_refuse_tap_dates_and_accept_the_anniversary() -> None:
    head = ("brand: b\njourneys:\n  - {id: a, priority: 1, experience: care}\nschedules:\n"
            "  - id: s\n    cron: \"0 9 * * *\"\n    message: refill_email\n    when:\n")
    assert one_problem(head + "      tap.month: 12\n") == (
        "r.yaml:9:7: schedule 's': tap.month is only known during a tap, and a schedule runs "
        "without one; test tap.days_since_last or the item, ownership and owner facts instead"
    )
    assert "tap.date is only known during a tap" in one_problem(
        head + "      tap.date: 2026-12-24\n")
    doc = parse(head + "      ownership.anniversary_days: 0\n")
    assert doc.schedules[0].when.children == (Condition("ownership.anniversary_days", "eq", 0),)
