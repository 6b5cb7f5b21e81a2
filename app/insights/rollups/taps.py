"""The tap-event rollup: every metric counted from ``tap_events`` (``app.insights.metrics``,
"From tap events"), read incrementally by tap id.

One step reads the taps after the mark (at most ``INSIGHTS_REFRESH_MAX_TAPS``, none younger than
the settle window) with their item, product, brand and the ownership current at each tap. Sums
(taps, decisions, off-market, lifecycle) are counted from those rows. Distinct counts (items,
owners, routine owners, journey owners) count a thing at its first genuine tap in a period, by
id: the step asks which of its items, and of its owners' keys, already had a genuine tap in the
same local day, week or month before the batch (a few set-based queries, one row per item or
holding), then walks the batch in id order, counting a key the first time it meets it. A thing
is thus counted exactly once per period however taps are split between refreshes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, text
from sqlalchemy.orm import Session

from app.catalog.models import Brand, Item, Ownership, Product
from app.insights import metrics as m
from app.insights.rollups.common import (
    DAY,
    MONTH,
    WEEK,
    Cell,
    add_cells,
    day_start,
    local_day,
    lock_mark,
    move_mark,
    next_period,
    period_start,
    settle_cutoff,
    settled_upto,
    zone,
)
from app.verify.models import TapEvent

MARK = m.TAPS
# Verdict as ``app.verify.service`` records it (insights reads the table, not the module).
GENUINE = "genuine"
# LIFECYCLE_TAPS buckets: whole months owned, 0 to 24, then one bucket for longer.
LIFECYCLE_MONTHS = 24

_T = TapEvent.__table__
_I = Item.__table__
_P = Product.__table__
_B = Brand.__table__
_O = Ownership.__table__

# (time zone, unit, first day): a brand-local period.
Period = tuple[str, str, date]


@dataclass(frozen=True)
class TapsStep:
    """What one tap step did: taps read, cube cells changed, and whether settled taps remain
    past the cap (the next refresh takes them)."""

    taps: int
    cells: int
    pending: bool


def _owned_at(ownership: Any, tap: Any) -> Any:
    """The condition that ``ownership`` was the item's current one at ``tap``'s moment."""
    return and_(ownership.c.item_id == tap.c.item_id, ownership.c.started_at <= tap.c.at,
                or_(ownership.c.ended_at.is_(None), ownership.c.ended_at > tap.c.at))


def _range(tap: Any, lo: int, hi: int) -> Any:
    return and_(tap.c.id > lo, tap.c.id <= hi)


def _batch_rows(session: Session, lo: int, hi: int) -> list[Any]:
    """The taps ``lo < id <= hi`` of known items, in id order, with what their cells need."""
    query = (
        select(_T.c.id, _T.c.item_id, _T.c.at, _T.c.verdict, _T.c.country, _T.c.journey,
               _T.c.ruleset_version, _I.c.product_id, _I.c.market, _P.c.brand_id,
               _B.c.timezone, _O.c.owner_id, _O.c.started_at)  # the order ``count`` reads
        .select_from(_T.join(_I, _I.c.id == _T.c.item_id).join(_P, _P.c.id == _I.c.product_id)
                     .join(_B, _B.c.id == _P.c.brand_id).outerjoin(_O, _owned_at(_O, _T)))
        .where(_range(_T, lo, hi))
        .order_by(_T.c.id)
    )
    return list(session.execute(query).all())


def _periods(rows: Iterable[Any]) -> set[Period]:
    """Every local day, week and month from each zone's first genuine tap of ``rows`` to its
    last (a batch is a stretch of time: walking days beats converting every tap)."""
    spans: dict[str, tuple[datetime, datetime]] = {}
    for _id, _item, at, verdict, *_rest, tz, _owner, _started in rows:
        if verdict == GENUINE:
            if tz not in spans:
                spans[tz] = (at, at)
            first, last = spans[tz]
            if at < first or at > last:
                spans[tz] = (min(first, at), max(last, at))
    out: set[Period] = set()
    for tz, (first, last) in spans.items():
        day, end = local_day(first, tz), local_day(last, tz)
        while day <= end:
            out.update((tz, unit, period_start(day, unit)) for unit in (DAY, WEEK, MONTH))
            day = next_period(day, DAY)
    return out


# From this many taps, a batch's earlier taps are read in one pass, never item by item.
LARGE_BATCH = 2000
# Periods one query flags at most (one column each); more are asked in turns.
PERIODS_PER_QUERY = 40

Bounds = tuple[str, str, date, datetime, datetime]  # time zone, unit, first day, UTC bounds


@dataclass(frozen=True)
class _Earlier:
    """The taps before a batch that may share a period with it: ids up to ``last_id``, moments
    from ``since`` to ``until``; and the batch's ``periods`` with their UTC bounds.

    The constant bounds tell the planner how many taps they hold, so a large batch (most items)
    reads them in one pass along the time index, hashed against its items or owners, while a
    small one looks up each item's taps by index. Each earlier tap is flagged against every
    period by a conditional aggregate, per item or per ownership, whatever its time zone: which
    periods apply to an item (its brand's zone) is sorted out in Python. (Joining the periods as a
    table, or the brands for their zones, misled PostgreSQL's row estimates into plans 5 to 10
    times slower for a day of 30,000 taps.)"""

    last_id: int
    since: datetime
    until: datetime
    periods: list[Bounds]

    def taps(self) -> Any:
        """The genuine taps before the batch that may share one of its periods."""
        return (select(_T.c.item_id, _T.c.at, _T.c.journey, _T.c.ruleset_version)
                .where(_T.c.id <= self.last_id, _T.c.at >= self.since, _T.c.at < self.until,
                       _T.c.verdict == GENUINE)
                .subquery("prior"))

    def chunks(self) -> list[list[Bounds]]:
        return [self.periods[i:i + PERIODS_PER_QUERY]
                for i in range(0, len(self.periods), PERIODS_PER_QUERY)]


def _flags(tap: Any, chunk: list[Bounds]) -> list[Any]:
    """One column per period of ``chunk``: 1 when some ``tap`` of the group falls in it."""
    return [func.max(case((and_(tap.c.at >= begin, tap.c.at < end), 1), else_=0))
            for _tz, _unit, _start, begin, end in chunk]


def _earlier(periods: set[Period], lo: int) -> _Earlier | None:
    """Where the taps up to id ``lo`` in ``periods`` lie; None when none can."""
    bounds = [(tz, unit, start, day_start(start, tz), day_start(next_period(start, unit), tz))
              for tz, unit, start in sorted(periods)]
    if not bounds or lo <= 0:
        return None
    return _Earlier(lo, min(b[3] for b in bounds), max(b[4] for b in bounds), bounds)


def _by_zone(chunk: list[Bounds]) -> dict[str, list[tuple[int, str, date]]]:
    """Each zone's periods in ``chunk``: (column index, unit, first day)."""
    out: dict[str, list[tuple[int, str, date]]] = defaultdict(list)
    for index, (tz, unit, start, _begin, _end) in enumerate(chunk):
        out[tz].append((index, unit, start))
    return out


def _batch_items(lo: int, hi: int) -> Any:
    return select(_T.c.item_id).where(_range(_T, lo, hi), _T.c.verdict == GENUINE)


def _seen_items(session: Session, earlier: _Earlier, lo: int, hi: int,
                zones: Mapping[int, str]) -> set[tuple[Any, ...]]:
    """``("item", unit, first day, item)`` of each item of the batch ``lo < id <= hi`` with a
    genuine tap before the batch in that period (``zones``: each item's brand's zone)."""
    seen: set[tuple[Any, ...]] = set()
    for chunk in earlier.chunks():
        p = earlier.taps()
        query = (select(p.c.item_id, *_flags(p, chunk))
                 .where(p.c.item_id.in_(_batch_items(lo, hi))).group_by(p.c.item_id))
        mine = _by_zone(chunk)
        for item, *flags in session.execute(query).all():
            seen.update(("item", unit, start, item)
                        for index, unit, start in mine.get(zones[item], ()) if flags[index])
    return seen


def _seen_owners(session: Session, earlier: _Earlier, lo: int, hi: int) -> set[tuple[Any, ...]]:
    """The owner keys (``Seen``) of the genuine taps before the batch ``lo < id <= hi``, in a
    period of the batch, of items held then by an owner with a genuine tap in the batch."""
    batch, now_held = _T.alias("batch"), _O.alias("now_held")
    owners = (select(now_held.c.owner_id)
              .select_from(batch.join(now_held, _owned_at(now_held, batch)))
              .where(_range(batch, lo, hi), batch.c.verdict == GENUINE))
    # Every item those owners ever held, with its product, market, brand and zone.
    items = {row[0]: tuple(row) for row in session.execute(
        select(_I.c.id, _I.c.product_id, func.coalesce(_I.c.market, "").label("market"),
               _P.c.brand_id, _B.c.timezone)
        .select_from(_I.join(_P, _P.c.id == _I.c.product_id).join(_B, _B.c.id == _P.c.brand_id))
        .where(_I.c.id.in_(select(_O.c.item_id).where(_O.c.owner_id.in_(owners))))).all()}
    seen: set[tuple[Any, ...]] = set()
    days = [b for b in earlier.periods if b[1] == DAY]
    for chunk in earlier.chunks():
        p = earlier.taps()
        query = (select(_O.c.owner_id, _O.c.item_id, *_flags(p, chunk))
                 .select_from(p.join(_O, _owned_at(_O, p)))
                 .where(_O.c.owner_id.in_(owners)).group_by(_O.c.owner_id, _O.c.item_id))
        mine = _by_zone(chunk)
        for owner, item_id, *flags in session.execute(query).all():
            _id, product, market, brand, tz = items[item_id]
            for index, unit, start in mine.get(tz, ()):
                if flags[index]:
                    seen.add(("owner", unit, start, brand, owner))
                    seen.add(("owner", unit, start, brand, owner, product))
                    if unit == MONTH:
                        seen.add(("routine", start, brand, owner, product, market))
    # Journey owners are counted by day only: their earlier taps are the days' alone.
    if days:
        p = _T.alias("prior")
        first = min(b[3] for b in days)
        query = (select(_O.c.owner_id, _O.c.item_id, p.c.journey, p.c.ruleset_version,
                        *_flags(p, days))
                 .select_from(p.join(_O, _owned_at(_O, p)))
                 .where(p.c.id <= earlier.last_id, p.c.at >= first,
                        p.c.at < max(b[4] for b in days),
                        p.c.verdict == GENUINE, p.c.journey.is_not(None),
                        _O.c.owner_id.in_(owners))
                 .group_by(_O.c.owner_id, _O.c.item_id, p.c.journey, p.c.ruleset_version))
        mine = _by_zone(days)
        for owner, item_id, journey, version, *flags in session.execute(query).all():
            _id, _product, _market, brand, tz = items[item_id]
            seen.update(("journey", start, brand, owner, journey, version or "")
                        for index, _unit, start in mine.get(tz, ()) if flags[index])
    return seen


def whole_months(start: datetime, at: datetime, tz: str) -> int:
    """Return the whole calendar months from ``start`` to ``at`` on the wall clock of ``tz``
    (Jan 15 10:00 to Feb 15 09:59 is 0, to Feb 15 10:00 is 1)."""
    a, b = start.astimezone(zone(tz)), at.astimezone(zone(tz))
    months = (b.year - a.year) * 12 + b.month - a.month
    if (b.day, b.time()) < (a.day, a.time()):
        months -= 1
    return max(months, 0)


def _lifecycle_bucket(months: int) -> str:
    return str(months) if months <= LIFECYCLE_MONTHS else f"{LIFECYCLE_MONTHS + 1}+"


class Seen:
    """The keys already counted in each period: ``("item", unit, first day, item)``,
    ``("owner", unit, first day, brand, owner[, product])``, ``("routine", month, brand, owner,
    product, market)`` and ``("journey", day, brand, owner, journey, ruleset version)``."""

    def __init__(self, keys: Iterable[tuple[Any, ...]] = ()) -> None:
        self.keys: set[tuple[Any, ...]] = set(keys)


def count(rows: Iterable[Any], seen: Seen) -> dict[Cell, int]:
    """Return the cube additions of tap ``rows`` (``_batch_rows``, in id order), given what
    was ``seen`` before them (updated as they are counted)."""
    # The hot loop of a refresh (30,000 taps in a day): plain tuples and local names.
    cells: defaultdict[Cell, int] = defaultdict(int)
    keys = seen.keys
    starts: dict[date, tuple[date, date]] = {}
    owners_metrics = ((DAY, m.OWNERS_DAY), (WEEK, m.OWNERS_WEEK), (MONTH, m.OWNERS_MONTH))
    for (_id, item, at, verdict, country, journey, version, product, market, brand, tz,
         owner, started_at) in rows:
        market, country, journey = market or "", country or "", journey or ""
        day = at.astimezone(zone(tz)).date()
        cells[(brand, m.TAPS, day, product, market, country, journey, verdict)] += 1
        if verdict != GENUINE:
            continue
        if day not in starts:
            starts[day] = (period_start(day, WEEK), period_start(day, MONTH))
        week, month = starts[day]
        version = version or ""
        if journey:
            cells[(brand, m.DECISIONS, day, 0, "", "", journey, version)] += 1
        if market and country and market != country:
            cells[(brand, m.OFF_MARKET, day, product, market, country, "", "")] += 1
        for unit, start, metric in ((DAY, day, m.ITEMS_DAY), (WEEK, week, m.ITEMS_WEEK),
                                    (MONTH, month, m.ITEMS_MONTH)):
            key: tuple[Any, ...] = ("item", unit, start, item)
            if key not in keys:
                keys.add(key)
                # An item is one product's: the all-products row is the sum.
                cells[(brand, metric, start, product, "", "", "", "")] += 1
                cells[(brand, metric, start, 0, "", "", "", "")] += 1
        if owner is None:
            continue
        cells[(brand, m.LIFECYCLE_TAPS, month, product, market, "", "",
               _lifecycle_bucket(whole_months(started_at, at, tz)))] += 1
        for (unit, metric), start in zip(owners_metrics, (day, week, month), strict=True):
            key = ("owner", unit, start, brand, owner, product)
            if key not in keys:
                keys.add(key)
                cells[(brand, metric, start, product, "", "", "", "")] += 1
            key = ("owner", unit, start, brand, owner)
            if key not in keys:
                keys.add(key)
                cells[(brand, metric, start, 0, "", "", "", "")] += 1
        key = ("routine", month, brand, owner, product, market)
        if key not in keys:
            keys.add(key)
            cells[(brand, m.ROUTINE_OWNERS, month, product, market, "", "", "")] += 1
        key = ("journey", day, brand, owner, journey, version)
        if journey and key not in keys:
            keys.add(key)
            cells[(brand, m.JOURNEY_OWNERS, day, 0, "", "", journey, version)] += 1
    return cells


def step(session: Session, settings: Mapping[str, Any], now: datetime) -> TapsStep:
    """Count the settled taps after the mark (at most ``INSIGHTS_REFRESH_MAX_TAPS``) into the
    cube and move the mark past them, in the caller's transaction; return what it did."""
    lo = lock_mark(session, MARK)
    if session.get_bind().dialect.name == "postgresql":
        # Compiling these few-hundred-millisecond queries to machine code (JIT) cost more than
        # it saved (20 to 60 ms each, measured); for this transaction only.
        session.execute(text("SET LOCAL jit = off"))
    limit = int(settings.get("INSIGHTS_REFRESH_MAX_TAPS", 50_000))
    cutoff = settle_cutoff(settings, now)
    hi = settled_upto(session, _T.c.id, _T.c.at, lo, cutoff, limit)
    if hi == lo:
        move_mark(session, MARK, lo, now)
        return TapsStep(0, 0, pending=False)
    rows = _batch_rows(session, lo, hi)
    seen = Seen()
    earlier = _earlier(_periods(rows), lo)
    if earlier is not None:
        zones = {row.item_id: row.timezone for row in rows}
        large = len(rows) >= LARGE_BATCH and session.get_bind().dialect.name == "postgresql"
        if large:
            # A large batch's earlier taps are best read in one pass and hashed; with the
            # day's taps not analysed yet, PostgreSQL underestimates the batch and visits each
            # item's taps by index instead (1.3 s against 0.35 s for a day of 30,000 taps).
            session.execute(text("SET LOCAL enable_nestloop = off"))
        seen.keys |= _seen_items(session, earlier, lo, hi, zones)
        seen.keys |= _seen_owners(session, earlier, lo, hi)
        if large:
            session.execute(text("SET LOCAL enable_nestloop = on"))
    changed = add_cells(session, count(rows, seen))
    move_mark(session, MARK, hi, now)
    pending = settled_upto(session, _T.c.id, _T.c.at, hi, cutoff, 1) > hi
    return TapsStep(len(rows), changed, pending)
