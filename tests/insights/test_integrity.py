"""Integrity detectors on hand-built taps, each with a case that must flag and one that must not
(no database: the detectors are pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask_babel import force_locale
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core import i18n
from app.insights.integrity import (
    GENUINE,
    REPLAY_WINDOW,
    REPLAYED,
    Kind,
    TapRecord,
    clone_suspects,
    describe,
    detect,
    off_market,
    stolen_seen,
    travel_time,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def tap(country: str | None, after: timedelta = timedelta(0), *, item: int = 1,
        verdict: str = GENUINE, counter: int | None = None, market: str | None = None,
        stolen_at: datetime | None = None, by_owner: bool | None = None) -> TapRecord:
    return TapRecord(item_id=item, at=T0 + after, verdict=verdict, counter=counter,
                     country=country, market=market, stolen_at=stolen_at, by_owner=by_owner)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


# --- clone suspects: travel ----------------------------------------------------------------------

def test_paris_then_tokyo_three_hours_later_is_a_clone_suspect():
    [finding] = clone_suspects([tap("FR", counter=1), tap("JP", hours(3), counter=2)])
    assert (finding.item_id, finding.kind, finding.day) == (1, Kind.CLONE_SUSPECT, T0.date())
    assert (finding.first, finding.second, finding.gap) == ("FR", "JP", hours(3))
    assert finding.needed is not None and finding.needed > hours(11)
    assert finding.key == "clone_suspect:1:2026-11-02"


def test_paris_then_tokyo_twenty_hours_later_is_a_flight():
    assert clone_suspects([tap("FR", counter=1), tap("JP", hours(20), counter=2)]) == []


def test_the_order_of_the_trip_does_not_matter():
    assert len(clone_suspects([tap("JP", hours(3), counter=2), tap("FR", counter=1)])) == 1


def test_geneva_then_annecy_half_an_hour_later_is_a_border_crossing():
    # Switzerland and France are neighbours: no travel time at all between them.
    assert travel_time("CH", "FR") == timedelta(0)
    assert clone_suspects([tap("CH", counter=1), tap("FR", timedelta(minutes=30), counter=2)]) == []


def test_neighbours_never_flag_even_across_a_desert():
    # Algeria and Mauritania share a border, though their nearest towns are 700 km apart: where
    # along it each tap was is unknown, so nothing can be said.
    assert travel_time("DZ", "MR") == timedelta(0)
    assert clone_suspects([tap("DZ", counter=1), tap("MR", hours(1), counter=2)]) == []


def test_a_short_crossing_needs_no_airport():
    # Calais to Dover is not a land border (GeoNames lists no neighbour), but the tunnel takes
    # far less than a flight with its airports: an hour apart never flags.
    assert clone_suspects([tap("FR", counter=1), tap("GB", hours(1), counter=2)]) == []


def test_a_large_country_is_measured_from_its_nearest_city():
    # Moscow to Tokyo is 7,500 km, but Sakhalin is a short hop from Hokkaido: 3 hours is enough.
    assert travel_time("RU", "JP") < hours(3)
    assert clone_suspects([tap("RU", counter=1), tap("JP", hours(3), counter=2)]) == []


@pytest.mark.parametrize("first, second", [(None, "JP"), ("FR", None), ("FR", "QQ")])
def test_an_unknown_country_never_makes_a_clone_suspect(first, second):
    assert clone_suspects([tap(first, counter=1), tap(second, hours(1), counter=2)]) == []


def test_failed_taps_say_nothing_about_travel():
    assert clone_suspects([tap("FR", counter=1),
                           tap("JP", hours(1), verdict="invalid")]) == []


def test_taps_of_two_items_are_never_compared():
    assert clone_suspects([tap("FR", item=1, counter=1), tap("JP", hours(1), item=2)]) == []


def test_an_impossible_trip_between_taps_that_are_not_next_to_each_other_flags():
    # France to Germany, then Germany to Poland: neighbours each. But France and Poland share
    # no border, and 90 minutes is less than any train or flight between them takes.
    assert travel_time("FR", "PL") > hours(1.5)
    taps = [tap("FR", counter=1), tap("DE", hours(1), counter=2),
            tap("PL", hours(1.5), counter=3)]
    assert [(f.first, f.second) for f in clone_suspects(taps)] == [("FR", "PL")]


# --- clone suspects: replays ---------------------------------------------------------------------

def test_a_counter_first_read_in_france_replayed_from_germany_is_a_clone_suspect():
    [finding] = clone_suspects([tap("FR", counter=7),
                                tap("DE", timedelta(days=2), verdict=REPLAYED, counter=7)])
    assert (finding.first, finding.second, finding.needed) == ("FR", "DE", None)
    assert finding.day == date(2026, 11, 4)


def test_a_replay_from_the_same_country_is_a_reload():
    assert clone_suspects([tap("FR", counter=7),
                           tap("FR", timedelta(days=2), verdict=REPLAYED, counter=7)]) == []


def test_a_replay_after_the_window_is_an_old_link():
    assert clone_suspects([tap("FR", counter=7),
                           tap("DE", REPLAY_WINDOW + hours(1), verdict=REPLAYED,
                               counter=7)]) == []
    assert len(clone_suspects([tap("FR", counter=7),
                               tap("DE", REPLAY_WINDOW, verdict=REPLAYED, counter=7)])) == 1


def test_only_a_replayed_reading_counts_as_a_replay():
    assert clone_suspects([tap("FR", counter=7),
                           tap("DE", hours(30), verdict="invalid", counter=7)]) == []


def test_a_replay_of_another_counter_says_nothing():
    assert clone_suspects([tap("FR", counter=7),
                           tap("DE", hours(30), verdict=REPLAYED, counter=6)]) == []


@pytest.mark.parametrize("first, second", [("FR", None), (None, "DE")])
def test_a_replay_with_an_unknown_country_says_nothing(first, second):
    assert clone_suspects([tap(first, counter=7),
                           tap(second, hours(30), verdict=REPLAYED, counter=7)]) == []


def test_a_replay_before_its_genuine_reading_says_nothing():
    # Recorded out of order (clock skew): not evidence of a copy made after the reading.
    assert clone_suspects([tap("FR", hours(30), counter=7),
                           tap("DE", verdict=REPLAYED, counter=7)]) == []


# --- off-market ----------------------------------------------------------------------------------

def test_a_japanese_item_tapped_in_france_is_off_market():
    [finding] = off_market([tap("FR", market="JP")])
    assert (finding.kind, finding.first, finding.second) == (Kind.OFF_MARKET, "FR", "JP")
    assert finding.key == "off_market:1:2026-11-02"


def test_a_french_item_tapped_in_france_is_at_home():
    assert off_market([tap("FR", market="FR")]) == []


@pytest.mark.parametrize("country, market", [(None, "JP"), ("FR", None), (None, None)])
def test_an_unknown_country_or_market_is_never_off_market(country, market):
    assert off_market([tap(country, market=market)]) == []


def test_only_a_genuine_tap_is_off_market():
    assert off_market([tap("FR", market="JP", verdict="invalid"),
                       tap("FR", market="JP", verdict=REPLAYED)]) == []


def test_two_off_market_taps_on_one_day_are_one_finding_on_two_days_two():
    same_day = off_market([tap("FR", market="JP"), tap("FR", hours(5), market="JP")])
    assert [f.at for f in same_day] == [T0]  # the earliest tap stands for the day
    two_days = off_market([tap("FR", market="JP"), tap("FR", hours(24), market="JP")])
    assert [f.day for f in two_days] == [date(2026, 11, 2), date(2026, 11, 3)]
    assert len({f.key for f in two_days}) == 2


def test_items_are_counted_apart():
    assert len(off_market([tap("FR", item=1, market="JP"), tap("FR", item=2, market="JP")])) == 2


# --- stolen items --------------------------------------------------------------------------------

def test_a_stolen_item_tapped_is_seen():
    [finding] = stolen_seen([tap("IT", hours(2), stolen_at=T0)])
    assert (finding.kind, finding.first, finding.key) == (
        Kind.STOLEN_SEEN, "IT", "stolen_seen:1:2026-11-02")


def test_any_verdict_of_a_stolen_item_is_a_sighting():
    assert len(stolen_seen([tap(None, hours(2), verdict=REPLAYED, stolen_at=T0)])) == 1


def test_an_item_not_stolen_is_not_seen():
    assert stolen_seen([tap("IT")]) == []


def test_a_tap_before_the_theft_was_reported_is_not_a_sighting():
    assert stolen_seen([tap("IT", stolen_at=T0 + hours(1))]) == []


def test_the_owner_tapping_their_own_stolen_item_is_not_a_sighting():
    assert stolen_seen([tap("IT", hours(2), stolen_at=T0, by_owner=True)]) == []
    assert len(stolen_seen([tap("IT", hours(2), stolen_at=T0, by_owner=False)])) == 1


# --- all together and properties -----------------------------------------------------------------

def test_detect_runs_every_detector():
    taps = [tap("FR", counter=1, market="JP", stolen_at=T0), tap("JP", hours(3), counter=2,
                                                                  market="JP", stolen_at=T0)]
    assert {f.kind for f in detect(taps)} == set(Kind)


_COUNTRIES = st.sampled_from(["FR", "JP", "DE", "CH", "US", "BR", "AU", None])
_TAPS = st.lists(
    st.builds(
        TapRecord,
        item_id=st.integers(1, 3),
        at=st.integers(0, 10 * 24 * 60).map(lambda m: T0 + timedelta(minutes=m)),
        verdict=st.sampled_from([GENUINE, GENUINE, REPLAYED, "invalid"]),
        counter=st.integers(1, 6),
        country=_COUNTRIES,
        market=st.sampled_from(["FR", "JP", None]),
        stolen_at=st.sampled_from([None, T0 + timedelta(days=3)]),
        by_owner=st.sampled_from([None, True, False]),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(taps=_TAPS, data=st.data())
def test_findings_never_depend_on_the_order_of_the_taps(taps, data):
    shuffled = data.draw(st.permutations(taps))
    assert detect(shuffled) == detect(taps)


@settings(max_examples=150, deadline=None)
@given(taps=_TAPS, country=st.sampled_from(["FR", "JP", "US"]))
def test_a_single_country_history_never_yields_a_clone_suspect(taps, country):
    one_country = [TapRecord(t.item_id, t.at, t.verdict, t.counter, country) for t in taps]
    assert clone_suspects(one_country) == []


@settings(max_examples=150, deadline=None)
@given(taps=_TAPS)
def test_there_is_at_most_one_finding_per_item_kind_and_day(taps):
    keys = [f.key for f in detect(taps)]
    assert len(keys) == len(set(keys))


# --- words ---------------------------------------------------------------------------------------

@pytest.fixture
def bare() -> Flask:
    app = Flask(__name__)
    i18n.init_app(app)
    return app


def test_the_words_name_countries_and_durations(bare):
    clone = clone_suspects([tap("FR", counter=1), tap("JP", hours(3), counter=2)])[0]
    replay = clone_suspects([tap("FR", counter=7),
                             tap("DE", timedelta(days=2), verdict=REPLAYED, counter=7)])[0]
    grey = off_market([tap("FR", market="JP")])[0]
    stolen = stolen_seen([tap(None, stolen_at=T0)])[0]
    with bare.app_context():
        assert describe(clone) == (
            "Genuine taps in France then Japan only 3 hours apart, when the trip takes at "
            "least 12 hours: the chip may have been copied.")
        assert describe(replay) == ("A chip reading first used in France was replayed in "
                                    "Germany 2 days later: the chip may have been copied.")
        assert describe(grey) == ("Genuine tap in France of an item sold for Japan: it may "
                                  "have been sold outside its market.")
        assert describe(stolen) == ("This item, reported stolen, was tapped in an unknown "
                                    "country.")
        with force_locale("fr"):
            assert describe(clone) == (
                "Touchers authentiques dans un pays (France) puis dans un autre (Japon) à "
                "seulement 3\xa0heures d’intervalle, alors que le trajet prend au moins "
                "12\xa0heures : la puce a peut-être été copiée.")
            assert describe(stolen) == "Cet article, déclaré volé, a été touché (pays : inconnu)."
