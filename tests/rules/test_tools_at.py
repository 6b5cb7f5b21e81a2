"""``journeys simulate --at`` and ruleset tests with ``tap.date``: every date and count of days is
taken at that moment, in the ruleset's time zone, and dated journeys follow it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from app.aftersales.events import record_event
from app.catalog.models import Item, Ownership
from app.rules.service import parse_ruleset
from app.rules.tools import run_ruleset_tests
from tests.factories import tagged_item
from tests.tap.test_dated_journeys import RULESET, dated_app, local
from tests.tap.test_dated_journeys import _journey as tap_journey


@pytest.fixture
def dated(settings, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    yield from dated_app(settings, tmp_path, monkeypatch)


@pytest.fixture
def simulate(dated, tmp_path):  # type: ignore[no-untyped-def]
    app, _clock = dated
    path = tmp_path / "dated.yaml"
    path.write_text(RULESET)
    runner = app.test_cli_runner()

    def run(*args: str) -> dict:  # type: ignore[type-arg]
        result = runner.invoke(args=["journeys", "simulate", str(path), "--json", *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)  # type: ignore[no-any-return]

    return run


@pytest.mark.parametrize(("at", "journey", "facts"), [
    ("2026-11-30T23:59", "everyday", ("2026-11-30", 11, "mon", 23)),
    ("2026-12-01", "december", ("2026-12-01", 12, "tue", 0)),
    ("2026-12-31T23:59", "december", ("2026-12-31", 12, "thu", 23)),
    ("2027-01-01T00:00", "everyday", ("2027-01-01", 1, "fri", 0)),
    # An offset is honoured: 04:59 UTC is still 30 November in New York.
    ("2026-12-01T04:59:00+00:00", "everyday", ("2026-11-30", 11, "mon", 23)),
])
def test_simulate_at_is_a_moment_in_the_rulesets_time_zone(simulate, at, journey, facts):
    body = simulate("--fact", "ownership.state=owned", "--at", at)
    assert body["decision"]["journey"] == journey
    fact = body["fact"]
    assert (fact["tap.date"], fact["tap.month"], fact["tap.weekday"], fact["tap.local_hour"]) \
        == facts
    assert not any(path.startswith("_") for path in fact)
    window = next(r for r in body["explanation"] if r["id"] == "december")["conditions"][0]
    assert window["text"] == "runs from 2026-12-01 until 2026-12-31 (America/New_York)"
    assert (window["value"], window["held"]) == (facts[0], journey == "december")


def test_a_given_fact_wins_over_the_moment(simulate):
    body = simulate("--at", "2026-12-24", "--fact", "tap.month=6", "--fact",
                    "ownership.state=owned")
    assert (body["fact"]["tap.month"], body["fact"]["tap.date"]) == (6, "2026-12-24")


def test_simulate_item_at_takes_every_count_of_days_then(dated, simulate, db, keyring):
    app, clock = dated
    tag = tagged_item(db, serial="AT-1")
    clock[0] = local(2025, 12, 31, 23, 30)  # 04:30 UTC on 1 January 2026
    assert tap_journey(app.test_client(), db, keyring, tag) == "claim"
    claimed = clock[0].astimezone(UTC)
    db.execute(update(Ownership).where(Ownership.item_id == tag.item_id)
               .values(started_at=claimed))
    db.execute(update(Item).where(Item.id == tag.item_id).values(
        warranty_started_at=claimed, warranty_ends_at=claimed + timedelta(days=730)))
    record_event(db, tag.item_id, "repair", claimed + timedelta(days=100), settings=app.config)
    db.commit()

    def facts(at: str) -> dict:  # type: ignore[type-arg]
        body = simulate("--item", "AT-1", "--as", "owner", "--at", at)
        return body["fact"]  # type: ignore[no-any-return]

    on_the_day = facts("2026-12-31T12:00")  # 17:00 UTC
    assert on_the_day["ownership.anniversary_days"] == 0  # in UTC it would be 1
    assert on_the_day["ownership.days"] == 364
    assert on_the_day["tap.days_since_last"] == 364
    assert on_the_day["warranty.days_left"] == 730 - 365
    assert on_the_day["service.days_since_last"] == 264
    assert on_the_day["item.age_days"] >= 0

    a_month_on = facts("2027-01-30T12:00")
    assert a_month_on["ownership.anniversary_days"] == 335
    assert a_month_on["ownership.days"] == 394
    assert a_month_on["tap.days_since_last"] == 394
    assert a_month_on["warranty.days_left"] == 730 - 395

    # Before the claim, the item was nobody's and its warranty had not started: a stranger
    # sees it unclaimed, and simulating its owner then is refused (tests/tap/test_simulate.py).
    before = simulate("--item", "AT-1", "--as", "stranger", "--at", "2025-06-01")["fact"]
    assert before["ownership.state"] == "unclaimed"
    assert "ownership.days" not in before and "ownership.anniversary_days" not in before
    assert before["warranty.active"] is False and "warranty.days_left" not in before
    assert before.get("tap.days_since_last") is None  # not known
    assert "service.days_since_last" not in before and before["service.count"] == 0


def test_simulate_refuses_a_moment_it_cannot_read(dated, tmp_path):
    app, _clock = dated
    path = tmp_path / "dated.yaml"
    path.write_text(RULESET)
    result = app.test_cli_runner().invoke(
        args=["journeys", "simulate", str(path), "--at", "24/12/2026"])
    assert result.exit_code == 1
    assert "--at '24/12/2026': write a date like 2026-12-24 or 2026-12-24T18:30" in result.output


def test_ruleset_tests_that_give_a_date_tap_on_that_day() -> None:
    text = RULESET + """tests:
  - name: noon on the last day
    given: {ownership.state: owned, tap.date: 2026-12-31}
    expect: {journey: december}
  - name: 23:00 on the last day, still December in New York
    given: {ownership.state: owned, tap.date: 2026-12-31, tap.local_hour: 23}
    expect: {journey: december}
  - name: the day after
    given: {ownership.state: owned, tap.date: 2027-01-01, tap.local_hour: 0}
    expect: {journey: everyday}
  - name: without a date, no dated journey
    given: {ownership.state: owned}
    expect: {journey: everyday}
"""
    outcomes = run_ruleset_tests(parse_ruleset(text, "dated.yaml"))
    assert [(o.name, o.passed, o.actual["journey"]) for o in outcomes] == [
        ("noon on the last day", True, "december"),
        ("23:00 on the last day, still December in New York", True, "december"),
        ("the day after", True, "everyday"),
        ("without a date, no dated journey", True, "everyday"),
    ]


def test_moment_of_the_fixture_is_aware() -> None:
    assert local(2026, 12, 1).utcoffset() == timedelta(hours=-5)
    assert local(2026, 12, 1).astimezone(UTC) == datetime(2026, 12, 1, 5, tzinfo=UTC)
