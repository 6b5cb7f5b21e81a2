"""The fact a real tap becomes: item, product, timing, in the brand's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.catalog.views import BrandView, ItemView, ProductView
from app.journeys.facts import tap_fact
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
