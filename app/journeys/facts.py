"""Turn a tap outcome into the fact journeys are evaluated against.

A fact is a flat mapping of dotted paths to scalars (``tap.verdict``, ``product.category``...).
None means "not known" and is left out of the engine's event.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from app.journeys.vocabulary import MOMENT_PATH, WEEKDAYS, defaults
from app.verify.service import TapOutcome

# Catalogue attributes are exposed as product.<name>; these names are reserved for the product's
# own columns so an attribute cannot shadow them.
_RESERVED_PRODUCT_KEYS = {"gtin", "category", "name"}


_LIFECYCLE_PREFIXES = {"ownership", "owner", "warranty", "service"}

# The tap's moment, carried beside the fact (never sent to the engine) so local-time paths can be
# computed in the ruleset's own time zone.
AT_KEY = "_at"
# When the current ownership started, carried the same way, so the anniversary can be counted in
# the ruleset's time zone.
OWNED_SINCE_KEY = "_owned_since"


def _days(since: datetime | None, now: datetime) -> int | None:
    return None if since is None else max(0, (now - since).days)


def anniversary_days(start: date, today: date) -> int:
    """Return the days from ``today`` until the next anniversary of ``start`` (0 on the day).

    A 29 February start has its anniversary on 28 February in years without one. The result is
    0 to 365; on ``start`` itself it is 0.
    """
    upcoming = _anniversary_in(start, today.year)
    if upcoming < today:
        upcoming = _anniversary_in(start, today.year + 1)
    return (upcoming - today).days


def _anniversary_in(start: date, year: int) -> date:
    if (start.month, start.day) == (2, 29) and not calendar.isleap(year):
        return date(year, 2, 28)
    return start.replace(year=year)


def local_facts(at: datetime, zone: tzinfo, owned_since: datetime | None = None) -> dict[str, Any]:
    """Return the paths that depend on the calendar where the tap happened: ``tap.date``,
    ``tap.month``, ``tap.weekday``, ``tap.local_hour`` and, when ``owned_since`` is given,
    ``ownership.anniversary_days``, all in ``zone``; and the tap's moment (``MOMENT_PATH``)."""
    local = at.astimezone(zone)
    today = local.date()
    fact: dict[str, Any] = {
        "tap.date": today.isoformat(),
        "tap.month": local.month,
        "tap.weekday": WEEKDAYS[local.weekday()],
        "tap.local_hour": local.hour,
        MOMENT_PATH: int(at.timestamp()),
    }
    if owned_since is not None:
        fact["ownership.anniversary_days"] = anniversary_days(
            owned_since.astimezone(zone).date(), today)
    return fact


def tap_fact(outcome: TapOutcome) -> dict[str, Any]:
    """Return the fact for ``outcome``: tap, item and product paths."""
    fact: dict[str, Any] = {
        "tap.verdict": outcome.verdict,
        "tap.number": outcome.number,
        "tap.country": outcome.country,
        "tap.mode": outcome.sun.mode if outcome.sun else None,
        "tap.tamper": outcome.sun.tamper if outcome.sun else None,
        # UTC until the brand's ruleset says which time zone it thinks in (see app.rules).
        **local_facts(outcome.at, UTC),
        "tap.days_since_last": _days(outcome.previous_genuine_at, outcome.at),
        AT_KEY: outcome.at,
    }
    item = outcome.item
    if item is not None:
        product = item.product
        fact.update(
            {
                "item.gtin": product.gtin,
                "item.serial": item.serial,
                "item.market": item.market,
                "item.released": item.released,
                "item.stolen": item.stolen,
                "item.age_days": _days(item.created_at, outcome.at),
                "product.gtin": product.gtin,
                "product.category": product.category,
                "product.name": product.name,
            }
        )
        for key, value in (product.attributes or {}).items():
            if key not in _RESERVED_PRODUCT_KEYS and isinstance(value, str | int | float | bool):
                fact[f"product.{key}"] = value
        if item.market and outcome.country:
            fact["tap.outside_market"] = item.market != outcome.country
        # Ownership, owner, warranty and service facts start from their documented defaults;
        # a genuine tap then overlays the item's real state (app.tap.facts), so a live tap
        # and a ruleset test with the same given agree.
        for path, value in defaults().items():
            if path.split(".", 1)[0] in _LIFECYCLE_PREFIXES:
                fact.setdefault(path, value)
    return fact
