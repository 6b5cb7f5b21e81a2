"""The fact vocabulary: paths, wildcards, suggestions, defaults, durations, and the docs' table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.journeys import vocabulary
from app.journeys.vocabulary import (
    FACTS,
    TYPES,
    complete_fact,
    defaults,
    fact_table_markdown,
    field_for,
    is_known_path,
    parse_duration,
    suggest,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "journeys.md"


def test_the_brief_paths_are_all_there() -> None:
    wanted = {
        "tap.verdict", "tap.number", "tap.tamper", "tap.country", "tap.outside_market",
        "tap.local_hour", "tap.weekday", "tap.days_since_last",
        "item.gtin", "item.serial", "item.market", "item.released", "item.age_days",
        "product.category", "product.gtin",
        "ownership.state", "ownership.ordinal", "ownership.days", "ownership.owner_taps",
        "owner.is_current", "owner.is_previous", "owner.email_opt_in", "owner.points",
        "owner.has_reviewed",
        "warranty.active", "warranty.days_left", "service.count", "service.days_since_last",
    }
    assert wanted <= set(FACTS)


def test_every_field_is_well_formed() -> None:
    for path, f in FACTS.items():
        assert f.path == path
        assert f.type in TYPES
        assert f.doc.endswith(".") and "\n" not in f.doc
        if f.values is not None:
            assert f.default is None or f.default in f.values
    assert FACTS["tap.verdict"].values == (
        "genuine", "invalid", "replayed", "revoked", "unknown_tag",
    )
    assert FACTS["tap.tamper"].values == (
        "secure", "tampered_closed", "tampered_open", "not_initialized", "unknown",
    )
    assert FACTS["tap.weekday"].values == ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def test_known_paths_and_wildcards() -> None:
    assert is_known_path("owner.is_current")
    assert is_known_path("product.material")
    assert is_known_path("product.vintage_year")
    assert not is_known_path("product.")
    assert not is_known_path("product.a.b")
    assert not is_known_path("owner.is_curent")
    assert not is_known_path("reward.review-reveal.available")
    assert is_known_path("reward.review-reveal.available", reward_ids=("review-reveal",))
    assert not is_known_path("reward.other.available", reward_ids=("review-reveal",))


def test_field_for() -> None:
    assert field_for("ownership.days") is FACTS["ownership.days"]
    assert field_for("product.category") is FACTS["product.category"]
    assert field_for("product.material") is vocabulary.PRODUCT_ATTRIBUTE
    assert field_for("reward.x.available") is vocabulary.REWARD_AVAILABLE
    assert field_for("nope") is None


def test_suggest() -> None:
    assert suggest("owner.is_curent") == "owner.is_current"
    assert suggest("ownership.day") == "ownership.days"
    assert suggest("tap.verdic") == "tap.verdict"
    assert suggest("reward.review-revea.available", ("review-reveal",)) == (
        "reward.review-reveal.available"
    )
    assert suggest("zzzz") is None


def test_defaults_and_complete_fact() -> None:
    assert defaults() == {
        "tap.verdict": "genuine",
        "item.released": True,
        "item.stolen": False,
        "ownership.state": "unclaimed",
        "owner.is_current": False,
        "owner.is_previous": False,
        "owner.email_opt_in": False,
        "owner.points": 0,
        "owner.has_reviewed": False,
        "warranty.active": False,
        "service.count": 0,
    }
    fact = complete_fact({"tap.verdict": "replayed", "ownership.days": 80})
    assert fact["tap.verdict"] == "replayed"
    assert fact["ownership.days"] == 80
    assert fact["owner.is_current"] is False
    assert "tap.tamper" not in fact
    with_rewards = complete_fact({"reward.a.available": False}, reward_ids=("a", "b"))
    assert with_rewards["reward.a.available"] is False
    assert with_rewards["reward.b.available"] is True


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("30d", 30), ("12w", 84), ("6m", 180), ("1y", 365), ("2y", 730), (77, 77), ("77", 77),
        (" 14d ", 14), ("0d", 0), (0, 0),
    ],
)
def test_parse_duration(text: object, days: int) -> None:
    assert parse_duration(text) == days


@pytest.mark.parametrize("text", ["soon", "30 days", "1.5y", "-3d", "d", "", True, 2.5, None, -1])
def test_parse_duration_refuses(text: object) -> None:
    with pytest.raises(ValueError, match=r"not a duration|cannot be negative"):
        parse_duration(text)


def test_parse_duration_message_is_plain() -> None:
    with pytest.raises(ValueError) as info:
        parse_duration("soon")
    assert str(info.value) == (
        "'soon' is not a duration: write days as a whole number or with a unit, "
        "like 30d, 12w, 6m (months of 30 days) or 1y"
    )


@given(st.integers(min_value=0, max_value=10_000), st.sampled_from("dwmy"))
def test_parse_duration_units(n: int, unit: str) -> None:
    assert parse_duration(f"{n}{unit}") == n * {"d": 1, "w": 7, "m": 30, "y": 365}[unit]


def test_docs_table_is_the_vocabulary() -> None:
    """docs/journeys.md carries the generated table verbatim; regenerate it when FACTS changes."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- facts:begin[^\n]*-->\n(.*?)<!-- facts:end -->", text, re.S)
    assert match, "docs/journeys.md lost its facts:begin / facts:end markers"
    assert match.group(1) == fact_table_markdown()
    documented = re.findall(r"^\| `([^`]+)` \|", match.group(1), re.M)
    assert documented == [*FACTS, "product.<name>", "reward.<reward-id>.available"]
