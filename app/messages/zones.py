"""The owner's time zone: the one place that says which zone a message's timing is judged in.

A scheduled message reaches its owner at the slot's wall time (09:00 on day 77) in the owner's
*effective* zone, and never in quiet hours judged in that same zone. The effective zone is the
owner's own setting (``owners.timezone``, chosen on their page), else the zone of the country
they last tapped from (``COUNTRY_ZONES``), else the ruleset's.

Owners east of the ruleset's zone are due before the slot itself, so a message job runs ahead of
its slot by ``lead``: far enough for UTC+14, the earliest zone on Earth.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable, Collection
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from app.catalog.models import Owner, Ownership
from app.core.db import update_rows
from app.core.errors import N_, DomainError
from app.verify.models import TapEvent

# The demo's markets (see app/demo/service.py) and the zone an owner tapping from there most
# likely lives in. An owner in none of these gets the ruleset's time zone.
COUNTRY_ZONES = {
    "FR": "Europe/Paris", "DE": "Europe/Berlin", "CH": "Europe/Zurich", "GB": "Europe/London",
    "US": "America/New_York", "JP": "Asia/Tokyo", "CN": "Asia/Shanghai",
}

# The earliest zone on Earth (Kiribati, UTC+14): a wall time happens there first.
EARLIEST_OFFSET = timedelta(hours=14)
EARLIEST_ZONE = "Etc/GMT-14"  # POSIX sign: "GMT-14" is UTC+14

# Zones offered to owners: the geographic Area/City names (no Etc/, US/, posix/ aliases).
_AREAS = frozenset({"Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic",
                    "Australia", "Europe", "Indian", "Pacific"})

_LAST_COUNTRIES = (
    select(Ownership.id, TapEvent.country,
           func.row_number().over(partition_by=Ownership.id,
                                  order_by=(TapEvent.at.desc(), TapEvent.id.desc()))
           .label("rank"))
    .join(Ownership, Ownership.item_id == TapEvent.item_id)
    .where(Ownership.id.in_(bindparam("ownership_ids", expanding=True)),
           TapEvent.country.is_not(None))
    .subquery()
)
_LAST_COUNTRY_OF = (
    select(_LAST_COUNTRIES.c.id, _LAST_COUNTRIES.c.country)
    .where(_LAST_COUNTRIES.c.rank == 1).subquery()
)
# Every asked ownership, with its owner's own zone and its item's last tap country (or NULLs).
_ZONES_OF = (
    select(Ownership.id, Owner.timezone, _LAST_COUNTRY_OF.c.country)
    .join(Owner, Owner.id == Ownership.owner_id)
    .outerjoin(_LAST_COUNTRY_OF, _LAST_COUNTRY_OF.c.id == Ownership.id)
    .where(Ownership.id.in_(bindparam("ownership_ids", expanding=True)))
)


class UnknownZone(DomainError):
    """A time zone name that is not one of ``choices``."""


@functools.cache
def _known() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    """Return the zone called ``name``, or None when it is empty or not a known IANA name."""
    if not name or name not in _known():
        return None
    return zoneinfo.ZoneInfo(name)


def effective_zone(owner_timezone: str | None, country: str | None,
                   ruleset_timezone: str) -> zoneinfo.ZoneInfo:
    """Return the zone an owner's messages are timed in: their own setting, else their last tap
    country's (``COUNTRY_ZONES``), else the ruleset's. A stored name that is no longer known
    falls back to the next one (it never raises for the owner's or the country's part)."""
    return (_zone(owner_timezone) or _zone(COUNTRY_ZONES.get(country or ""))
            or zoneinfo.ZoneInfo(ruleset_timezone))


def zones_of(session: Session,
             ownership_ids: Collection[int]) -> dict[int, tuple[str | None, str | None]]:
    """Return ``{ownership_id: (owner timezone, last tap country)}`` for ``ownership_ids``, in
    one query. Unknown ids are missing; either part may be None."""
    if not ownership_ids:
        return {}
    return {row.id: (row.timezone, row.country) for row in session.execute(
        _ZONES_OF, {"ownership_ids": sorted(set(ownership_ids))})}


def _first_valid(local: datetime) -> datetime:
    """Return ``local`` (aware, fold=0) as UTC; a wall time the clocks skipped (spring forward)
    becomes the first instant after the gap."""
    zone = local.tzinfo
    moment = local.astimezone(UTC)
    if moment.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return moment
    # In a gap: fold=1 reads it with the offset after the jump (an earlier instant), fold=0
    # with the one before (a later one). The jump lies between: find it to the second.
    low = int(local.replace(fold=1).timestamp())
    high = int(moment.timestamp())
    after = moment.astimezone(zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def local_due(slot: datetime, ruleset_timezone: str, zone: zoneinfo.ZoneInfo) -> datetime:
    """Return when an owner in ``zone`` is due for ``slot`` (aware UTC): the slot's wall date
    and time in the ruleset's zone, read in ``zone``.

    A wall time ``zone`` skips (spring forward) moves on to the first instant after the gap; one
    it has twice (autumn) is its first occurrence.
    """
    wall = slot.astimezone(zoneinfo.ZoneInfo(ruleset_timezone))
    local = datetime.combine(wall.date(), time(wall.hour, wall.minute, wall.second), tzinfo=zone)
    return _first_valid(local)


def message_lead(ruleset_timezone: str) -> Callable[[datetime], timedelta]:
    """Return how long before each of its slots a message job of a ruleset in
    ``ruleset_timezone`` must run: until the slot's wall time in UTC+14, never negative.
    The zone is looked up per call, so an unknown one fails where the job's cron does."""

    def lead(slot: datetime) -> timedelta:
        offset = slot.astimezone(zoneinfo.ZoneInfo(ruleset_timezone)).utcoffset() or timedelta(0)
        return max(timedelta(0), EARLIEST_OFFSET - offset)

    return lead


def label(name: str) -> str:
    """Return an IANA zone name as owners read it: ``America/Argentina/Buenos_Aires`` ->
    "America · Argentina · Buenos Aires"."""
    return " · ".join(part.replace("_", " ") for part in name.split("/"))


@functools.cache
@functools.cache
def choices() -> tuple[tuple[str, str], ...]:
    """Return the zones an owner may choose, as ``(name, label)``, sorted by name."""
    return tuple((name, label(name)) for name in sorted(_known())
                 if "/" in name and name.split("/", 1)[0] in _AREAS)


def common_choices(current: str | None) -> tuple[tuple[str, str], ...]:
    """Return the few zones the owner page offers inline, as ``(name, label)`` sorted by label:
    the markets' zones and the owner's own choice. The full list (some 500 zones, 20 KB of
    page) has a page of its own (``grouped_choices``), so the owner page stays light."""
    names = set(COUNTRY_ZONES.values()) | ({current} if current in dict(choices()) else set())
    return tuple(sorted(((name, label(name)) for name in names), key=lambda c: c[1]))


@functools.cache
def grouped_choices() -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """Return every zone an owner may choose, by area: ``((area, ((name, place), ...)), ...)``,
    the place without its area (``Europe/Paris`` -> "Paris")."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for name, _label in choices():
        area, place = name.split("/", 1)
        groups.setdefault(area, []).append((name, label(place)))
    return tuple((area, tuple(places)) for area, places in sorted(groups.items()))


def owner_timezone(session: Session, owner_id: int) -> str | None:
    """Return owner ``owner_id``'s own time zone, or None (automatic)."""
    return session.scalar(select(Owner.timezone).where(Owner.id == owner_id))


def set_owner_timezone(session: Session, owner_id: int, name: str) -> None:
    """Set owner ``owner_id``'s own time zone to ``name`` (one of ``choices``), or clear it
    (``""``: automatic, from where they tap). The caller commits.

    Raises:
        UnknownZone: ``name`` is neither empty nor one of ``choices``.
    """
    if name and name not in dict(choices()):
        raise UnknownZone(N_("We do not know this time zone. Choose one from the list and save "
                          "again."))
    update_rows(session, update(Owner).where(Owner.id == owner_id)
                .values(timezone=name or None))
