"""Schedules may test ``ownership.anniversary_days``: counted at the slot on the ruleset's
calendar (Tokyo here, UTC+9), as a tap counts it."""

from __future__ import annotations

from datetime import UTC, datetime

from app.messages.schedules import live_schedule
from app.messages.ticks import select_candidates
from tests.messages.helpers import BRAND, SLOT, owned_serum, publish_demo

RULESET = """brand: maison-aurelia
timezone: Asia/Tokyo
journeys:
  - {id: everyday, priority: 0, experience: authenticity}
schedules:
  - id: anniversary
    cron: "0 17 * * *"
    when: {ownership.anniversary_days: 0}
    message: refill_email
"""


def test_anniversary_schedule_selects_owners_on_the_rulesets_day(app, db):
    publish_demo(db, RULESET)
    # SLOT is 08:00 UTC on 1 December 2026: 17:00 in Tokyo.
    assert datetime(2026, 12, 1, 8, 0, tzinfo=UTC) == SLOT
    # Claimed at 05:00 on 1 December 2025 in Tokyo (still 30 November in UTC): its day.
    tokyo_day = owned_serum(db, started=datetime(2025, 11, 30, 20, 0, tzinfo=UTC))
    # Claimed at 01:00 on 2 December in Tokyo (1 December in UTC): tomorrow.
    owned_serum(db, started=datetime(2025, 12, 1, 16, 0, tzinfo=UTC))
    # A year and a day ago, and the day itself three years ago.
    owned_serum(db, started=datetime(2025, 11, 29, 20, 0, tzinfo=UTC))
    three_years = owned_serum(db, started=datetime(2023, 12, 1, 3, 0, tzinfo=UTC))
    schedule = live_schedule(db, BRAND, "anniversary").schedule
    chosen = select_candidates(db, BRAND, schedule, SLOT)
    assert sorted(c.ownership_id for c in chosen) == sorted(
        [tokyo_day.ownership_id, three_years.ownership_id])
    assert {c.fact["ownership.anniversary_days"] for c in chosen} == {0}
