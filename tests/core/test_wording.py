"""Words shown to people: articles, plural agreement, brand-local times (app.core.wording)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from app.core.wording import agree, article, brand_time, is_plural, with_article, zone_label


@pytest.mark.parametrize(("phrase", "expected"), [
    ("Aurelia Weekender Bag", "an"),
    ("Écharpe en soie", "an"),          # an accent does not hide the vowel
    ("ochre tote", "an"),
    ("Sérum Lumière 30 ml", "a"),
    ("bag", "a"),
    ("hour glass", "an"),                # a silent h
    ("heritage watch", "a"),
    ("unique piece", "a"),               # a vowel letter sounding "you"
    ("European cut", "a"),
    ("one-off edition", "a"),
    ("umbrella", "an"),
    ("", "a"),
])
def test_the_article_follows_the_sound_of_the_name(phrase: str, expected: str) -> None:
    assert article(phrase) == expected


def test_with_article_keeps_the_name_as_written() -> None:
    assert with_article("Aurelia Weekender Bag") == "an Aurelia Weekender Bag"
    assert with_article("Glen Aurelia 18 Year Old") == "a Glen Aurelia 18 Year Old"


def test_a_product_is_plural_only_when_its_catalogue_says_so() -> None:
    sneakers = SimpleNamespace(attributes={"plural": True})
    bag = SimpleNamespace(attributes={})
    # Only a real true counts: a stray string from an attribute column does not.
    odd = SimpleNamespace(attributes={"plural": "no"})
    assert is_plural(sneakers) and not is_plural(bag) and not is_plural(odd)
    assert agree(sneakers, "Is this", "Are these") == "Are these"
    assert agree(bag, "Is this", "Are these") == "Is this"


PARIS = SimpleNamespace(timezone="Europe/Paris")
NOON_UTC = datetime(2026, 11, 30, 13, 5, tzinfo=UTC)


def test_times_are_shown_in_the_brand_time_zone_readably() -> None:
    assert brand_time(NOON_UTC, PARIS) == "30 November 2026, 14:05 (Paris time)"
    assert brand_time(NOON_UTC, PARIS, "date") == "30 November 2026"
    assert brand_time(NOON_UTC, PARIS, "month") == "November 2026"
    assert brand_time(NOON_UTC, PARIS, "short_datetime") == "30 Nov 2026, 14:05"
    assert brand_time(NOON_UTC, "America/New_York") == "30 November 2026, 08:05 (New York time)"
    # Late in the evening in UTC is already the next day in Tokyo.
    late = datetime(2026, 12, 31, 20, 0, tzinfo=UTC)
    assert brand_time(late, "Asia/Tokyo", "date") == "1 January 2027"
    assert brand_time(late, "Asia/Tokyo", "month") == "January 2027"


def test_no_zone_a_bad_zone_or_a_naive_moment_fall_back_to_utc() -> None:
    assert brand_time(NOON_UTC, None) == "30 November 2026, 13:05 (UTC)"
    assert brand_time(NOON_UTC, "Not/AZone") == "30 November 2026, 13:05 (UTC)"
    naive = NOON_UTC.replace(tzinfo=None)
    assert brand_time(naive, PARIS) == "30 November 2026, 14:05 (Paris time)"
    assert brand_time(None, PARIS) == ""
    assert zone_label("Etc/UTC") == "UTC"
