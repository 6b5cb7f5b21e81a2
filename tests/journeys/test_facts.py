"""The fact a real tap becomes: item, product, timing, in the brand's own time zone."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.catalog.views import BrandView, ItemView, ProductView
from app.journeys.facts import OWNED_SINCE_KEY, anniversary_days, tap_fact
from app.journeys.vocabulary import MOMENT_PATH
from app.rules import localise
from app.verify.service import GENUINE, TapOutcome


def outcome(at: datetime, **kw) -> TapOutcome:  # type: ignore[no-untyped-def]
    product = ProductView(1, "03760123450010", "Serum", "serum",
                          {"formulation": "niacinamide", "volume_ml": 30},
                          BrandView("b", "B"))
    item = ItemView(1, "S-1", "FR", True, product, created_at=at - timedelta(days=40))
    return TapOutcome(GENUINE, at, item=item, number=3, **kw)


def test_fact_carries_item_product_and_catalogue_attributes():
    at = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    fact = tap_fact(outcome(at, country="JP", previous_genuine_at=at - timedelta(days=12)))
    assert fact["tap.verdict"] == "genuine"
    assert fact["tap.number"] == 3
    assert fact["tap.days_since_last"] == 12
    assert fact["item.age_days"] == 40
    assert fact["tap.outside_market"] is True  # allocated to FR, tapped in JP
    assert fact["product.category"] == "serum"
    assert fact["product.formulation"] == "niacinamide"
    assert fact["product.volume_ml"] == 30


def test_local_time_follows_the_rulesets_time_zone():
    at = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)  # Monday 23:30 UTC
    fact = tap_fact(outcome(at))
    assert (fact["tap.local_hour"], fact["tap.weekday"]) == (23, "mon")
    tokyo = localise(fact, "Asia/Tokyo")
    assert (tokyo["tap.local_hour"], tokyo["tap.weekday"]) == (8, "tue")


def test_days_since_last_comes_from_the_items_previous_genuine_tap(client, db, keyring):
    from tests.factories import tagged_item
    from tests.tap.test_views import JSON, fresh

    tag = tagged_item(db)
    client.get(fresh(db, keyring, tag), headers=JSON)
    from sqlalchemy import select

    from app.verify.models import TapEvent
    from app.verify.service import TapInput, verify_tap

    first_at = db.scalar(select(TapEvent.at))
    url = fresh(db, keyring, tag)
    later = (first_at.replace(tzinfo=UTC) if first_at.tzinfo is None else first_at) \
        + timedelta(days=9, hours=1)
    result = verify_tap(db, keyring, TapInput(raw_query=url.split("?", 1)[1], at=later))
    assert result.verdict == "genuine"
    assert tap_fact(result)["tap.days_since_last"] == 9
    db.rollback()


# --- calendar facts: tap.date, tap.month, tap.weekday, tap.local_hour, anniversary -------------


def test_calendar_facts_are_the_local_day_in_the_rulesets_time_zone():
    # 31 December 23:30 in New York is already 1 January 04:30 in UTC.
    at = datetime(2027, 1, 1, 4, 30, tzinfo=UTC)
    fact = tap_fact(outcome(at))
    assert (fact["tap.date"], fact["tap.month"], fact["tap.weekday"], fact["tap.local_hour"]) \
        == ("2027-01-01", 1, "fri", 4)
    local = localise(fact, "America/New_York")
    assert (local["tap.date"], local["tap.month"], local["tap.weekday"], local["tap.local_hour"]) \
        == ("2026-12-31", 12, "thu", 23)
    assert local[MOMENT_PATH] == int(at.timestamp())


def test_anniversary_days_is_counted_on_the_rulesets_calendar():
    # Claimed 10 March 2025 at 23:30 in Paris (22:30 UTC); tapped 9 March 2026 at 23:30 in Paris.
    claimed = datetime(2025, 3, 10, 22, 30, tzinfo=UTC)
    at = datetime(2026, 3, 9, 22, 30, tzinfo=UTC)
    fact = {**tap_fact(outcome(at)), OWNED_SINCE_KEY: claimed}
    assert localise(fact, "Europe/Paris")["ownership.anniversary_days"] == 1
    # In Auckland (UTC+13) both moments are already the next day: still one day to go...
    assert localise(fact, "Pacific/Auckland")["ownership.anniversary_days"] == 1
    # ...but an hour later in Paris it is the day itself.
    later = {**fact, "_at": at + timedelta(hours=1)}
    assert localise(later, "Europe/Paris")["ownership.anniversary_days"] == 0
    # Nothing owned, nothing counted.
    assert "ownership.anniversary_days" not in localise(tap_fact(outcome(at)), "Europe/Paris")


@pytest.mark.parametrize(("start", "today", "days"), [
    (date(2024, 5, 1), date(2026, 5, 1), 0),      # the anniversary itself
    (date(2024, 5, 1), date(2026, 4, 30), 1),
    (date(2024, 5, 1), date(2026, 5, 2), 364),    # just past it: next year's
    (date(2023, 3, 1), date(2027, 3, 2), 365),    # the year to come has a 29 February
    (date(2024, 2, 29), date(2027, 2, 28), 0),    # no 29 February in 2027: the 28th
    (date(2024, 2, 29), date(2027, 2, 27), 1),
    (date(2024, 2, 29), date(2027, 3, 1), 365),   # next one: 29 February 2028
    (date(2024, 2, 29), date(2028, 2, 28), 1),    # 2028 has its 29 February
    (date(2024, 2, 29), date(2028, 2, 29), 0),
    (date(2026, 12, 31), date(2026, 12, 31), 0),  # the day of the claim
])
def test_anniversary_days(start, today, days):
    assert anniversary_days(start, today) == days


@given(st.dates(min_value=date(1970, 1, 1), max_value=date(2200, 12, 31)),
       st.integers(min_value=0, max_value=40_000))
def test_anniversary_days_is_within_a_year_and_zero_exactly_on_anniversaries(start, later):
    today = start + timedelta(days=later)
    assume(today <= date(2200, 12, 31))
    days = anniversary_days(start, today)
    assert 0 <= days <= 365
    is_anniversary = (today.month, today.day) == (start.month, start.day) or (
        (start.month, start.day) == (2, 29) and not calendar.isleap(today.year)
        and (today.month, today.day) == (2, 28))
    assert (days == 0) == is_anniversary
    # Counting down: tomorrow is one day closer, unless today was the anniversary.
    if days > 0:
        assert anniversary_days(start, today + timedelta(days=1)) == days - 1
