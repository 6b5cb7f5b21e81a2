"""State metrics of the cube: recomputed, not counted incrementally.

Activation, the funnel and abandonment describe cohorts of items and ownerships whose numbers
keep changing long after the day they are filed under (an item sold two years ago is tapped for
the first time today; a first owner confirms their email, resells). Rewards, points, messages
and lift are filed under the day of an event but their cells still move for a while (a message
is sent days after its slot and followed within 7 days; a lift outcome counts within 30 days of
the exposure). None of these can be added up from a mark the way taps are, so ``refresh_state``
recomputes them: for each brand, one set-based query per metric counts the days that can still
change, and the metric's cells over those days become exactly that (rows that differ are
deleted, updated or inserted), in the caller's transaction (a crash keeps the old cells or the
new ones, never half). Running it twice leaves the same cells.

What each metric counts is ``app.insights.metrics``; the day is the brand's local calendar day
(``brands.timezone``). ``lift_report`` turns the LIFT cells of a date range into what the Lift
panel shows, through ``app.insights.lift``.

Another domain's tables are read through ``app.insights.sources`` only.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    Table,
    and_,
    bindparam,
    case,
    distinct,
    exists,
    func,
    literal_column,
    or_,
    select,
    true,
    type_coerce,
    union,
)
from sqlalchemy.orm import Session

from app.catalog.models import Brand, Item, Owner, Ownership, Product
from app.core.clock import utc
from app.core.i18n import N_, translate
from app.insights import metrics as m
from app.insights.lift import Lift, measure, sentence
from app.insights.models import CommerceEvent, CubeCell, RefreshMark
from app.insights.rollups.common import add_cells, lock_mark, move_mark
from app.insights.sources import (
    loyalty_entries,
    messages,
    product_reviews,
    provenance_records,
    reward_exposures,
    reward_grants,
    reward_pools,
    service_events,
    service_requests,
)
from app.verify.models import TapEvent

log = logging.getLogger(__name__)

GENUINE: Final = "genuine"  # the verdict, as app.verify records it
# Every refresh recomputes these days back from today (brand-local): the longest window after
# which a cell may still change is lift's 30 days of outcomes after the exposure day; 35 leaves
# room for the day boundary in any time zone and for a refresh that did not run for a few days.
# Older days are final, so each run reads only about five weeks of grants, entries, messages
# and exposures, whatever the history.
RECENT_DAYS: Final = 35
# Activation, funnel and abandonment read every item and ownership of a brand: recomputed at most
# every INSIGHTS_STATE_MINUTES (settings), the time a panel's numbers may lag. This mark holds
# when that last happened; each metric's own mark (named after it) says how fresh its cells are.
COHORTS_MARK: Final = "state:cohorts"
COHORT_METRICS: Final = (m.SOLD, m.ACTIVATION_LAG, m.FUNNEL, m.ABANDONMENT)
RECENT_METRICS: Final = (m.REWARD_GRANTS, m.REWARD_REVEALS, m.REWARD_WINS, m.REWARD_REDEEMED,
                         m.POINTS, m.MESSAGES, m.MESSAGES_FOLLOWED, m.LIFT)
LAG_CAP_DAYS: Final = 730  # ACTIVATION_LAG's last bucket: first taps this late or later
BURST_DAYS, BURST_TAPS, STOPPED_DAYS = 30, 3, 60  # ABANDONMENT
FOLLOW_DAYS: Final = 7  # MESSAGES_FOLLOWED
OUTCOME_DAYS: Final = 30  # LIFT
# Messages that went out: ``accepted`` (the SMTP server took an email) and ``sent`` (the CRM
# answered 2xx) are each channel's last good state.
WENT_OUT: Final = ("accepted", "sent")
SPENT: Final = ("spend", "expire")  # POINTS counts them positive
TREATMENT, HOLDOUT = "treatment", "holdout"
# The cube's text columns: a longer value is cut (and cells it then shares are added up) rather
# than refused by PostgreSQL, which would stop every refresh.
_WIDTH: Final = {"journey": 80, "bucket": 80, "market": 2}

Cell = tuple[int, str, date, int, str, str, str, str]  # the cube's primary key, in order
_KEY: Final = ("brand_id", "metric", "day", "product_id", "market", "country", "journey",
               "bucket")
_CUBE: Final[Table] = CubeCell.__table__  # type: ignore[assignment]


def refresh_state(session: Session, settings: Mapping[str, Any], now: datetime) -> dict[str, int]:
    """Recompute the state metrics of every brand as of ``now``; return, per metric recomputed,
    how many cube rows changed (added, updated or removed: 0 when its numbers stood still).

    Activation, funnel and abandonment (``COHORT_METRICS``) are recomputed only when
    ``INSIGHTS_STATE_MINUTES`` have passed since they last were (absent from the result
    otherwise), over all days; the others (``RECENT_METRICS``) every call, over the days from
    ``RECENT_DAYS`` before the previous call (the first call: all days). Each metric's mark
    (named after it) gets ``now`` as its ``refreshed_at``, the freshness its panel shows.

    Writes in the caller's transaction, which commits. Two callers at once take turns: the
    marks are locked first (``lock_mark``), always in the same order."""
    now = utc(now)
    minutes = float(settings.get("INSIGHTS_STATE_MINUTES", 15))
    brands = session.execute(select(Brand.id, Brand.slug, Brand.timezone).order_by(Brand.id)).all()
    written: dict[str, int] = {}
    for name in RECENT_METRICS:
        lock_mark(session, name)
    # RECENT_DAYS before the last run, not before today: after days without a refresh the days
    # that changed meanwhile are recomputed too, and a first run fills the whole history.
    last = _oldest_refresh(session, RECENT_METRICS)
    for brand in brands:
        earliest = min(last or now, now) - timedelta(days=RECENT_DAYS)
        if last is None:
            earliest = min(earliest, _first_moment(session, brand.id) or now)
        local = _Local.for_brand(session, brand.timezone, now, earliest)
        since = local.day_of(earliest) if last is not None else None
        start = local.midnight(since) if since is not None else None
        for metric, count in _RECENT.items():
            cells = Cells(brand.id, metric)
            count(session, _Brand(brand.id, brand.slug, local), start, now, cells)
            written[metric] = written.get(metric, 0) + _replace(session, cells, since)
    for name in RECENT_METRICS:
        move_mark(session, name, 0, now)
    if _cohorts_due(session, now, minutes):
        for name in COHORT_METRICS:
            lock_mark(session, name)
        for brand in brands:
            first = _first_moment(session, brand.id)
            local = _Local.for_brand(session, brand.timezone, now, first or now)
            for metric, count in _COHORTS.items():
                cells = Cells(brand.id, metric)
                if first is not None:
                    count(session, _Brand(brand.id, brand.slug, local), None, now, cells)
                written[metric] = written.get(metric, 0) + _replace(session, cells, None)
        for name in (*COHORT_METRICS, COHORTS_MARK):
            move_mark(session, name, 0, now)
    return written


def _oldest_refresh(session: Session, names: tuple[str, ...]) -> datetime | None:
    """Return the oldest ``refreshed_at`` of the marks ``names`` (None: one never ran)."""
    times = list(session.execute(select(RefreshMark.refreshed_at)
                                 .where(RefreshMark.name.in_(names))).scalars())
    if len(times) < len(names) or any(t is None for t in times):
        return None
    return min(utc(t) for t in times if t is not None)


def _cohorts_due(session: Session, now: datetime, minutes: float) -> bool:
    """Lock the cohorts' mark and return whether their last recompute is ``minutes`` old (or
    never happened, or is dated after ``now``: a clock set back must not stop it for ever)."""
    lock_mark(session, COHORTS_MARK)
    last = session.execute(select(RefreshMark.refreshed_at)
                           .where(RefreshMark.name == COHORTS_MARK)).scalar_one()
    return last is None or last > now or now - last >= timedelta(minutes=minutes)


# --- cells ------------------------------------------------------------------------------------


class Cells:
    """The cells one metric of one brand counts: values added by key, cut to the cube's widths."""

    def __init__(self, brand_id: int, metric: str) -> None:
        self.brand_id, self.metric = brand_id, metric
        self.values: Counter[Cell] = Counter()

    def add(self, day: date, value: int, *, product: int = 0, market: str = "",
            journey: str = "", bucket: str = "") -> None:
        """Add ``value`` to the cell of ``day`` and the dimensions given ("" and 0: none)."""
        fitted = [_fit(name, text) for name, text in
                  (("market", market), ("journey", journey), ("bucket", bucket))]
        self.values[(self.brand_id, self.metric, day, product, fitted[0], "", fitted[1],
                     fitted[2])] += value


def _fit(column: str, text: str) -> str:
    width = _WIDTH[column]
    if len(text) <= width:
        return text
    log.warning("insights: a %s of %d characters was cut to %d", column, len(text), width)
    return text[:width]


def _replace(session: Session, cells: Cells, since: date | None) -> int:
    """Make the brand's cells of the metric from day ``since`` on (None: all days) be exactly
    ``cells``; return how many rows that changed (added, updated or removed).

    As a delete of the old cells and an insert of the new ones, but only where they differ:
    most cells of a recompute are what they were, and reading them is far cheaper than
    writing them again (on PostgreSQL, every rewritten row is a dead tuple to vacuum)."""
    where = [_CUBE.c.brand_id == cells.brand_id, _CUBE.c.metric == cells.metric]
    if since is not None:
        where.append(_CUBE.c.day >= since)
    old: dict[Cell, int] = {tuple(row[:-1]): row[-1] for row in session.execute(
        select(*(_CUBE.c[name] for name in _KEY), _CUBE.c.value).where(*where))}
    new = {key: n for key, n in cells.values.items() if n}
    gone = [dict(zip(_KEY, key, strict=True)) for key in old if key not in new]
    changed = [dict(zip(_KEY, key, strict=True), value=n) for key, n in new.items()
               if key in old and old[key] != n]
    by_key = and_(*(_CUBE.c[name] == bindparam(f"k_{name}") for name in _KEY))
    if gone:
        session.execute(_CUBE.delete().where(by_key),
                        [{f"k_{k}": v for k, v in row.items()} for row in gone])
    if changed:
        session.execute(_CUBE.update().where(by_key).values(value=bindparam("v")),
                        [{**{f"k_{k}": row[k] for k in _KEY}, "v": row["value"]}
                         for row in changed])
    added = add_cells(session, {key: n for key, n in new.items() if key not in old})
    return len(gone) + len(changed) + added


# --- the brand's calendar in SQL ----------------------------------------------------------------


@dataclass(frozen=True)
class _Local:
    """A brand's calendar as SQL both backends run: a moment's local day is its UTC time plus
    the zone's offset then, and the offset is a CASE over the zone's changes (from Python's
    tz database) in the span the data covers. No per-row Python, no SQLite extension, and the
    same answer on both backends, whatever PostgreSQL's own tz database says."""

    dialect: str
    zone: ZoneInfo
    today: date
    # (from, offset seconds), newest first; the last one also holds before its ``from``.
    changes: tuple[tuple[datetime, int], ...]

    @classmethod
    def for_brand(cls, session: Session, tz: str, now: datetime, first: datetime) -> _Local:
        """Return the calendar of the brand in zone ``tz`` for moments from ``first`` on."""
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            # Brands' zones are checked when made; one that vanished from the tz database must
            # not stop every brand's refresh.
            log.warning("insights: a brand's time zone is unknown; its days are UTC")
            zone = ZoneInfo("UTC")
        # From two days before the first moment filed (a local day starts up to 14 hours
        # before its UTC one) to two days ahead (messages' slots may be a little ahead).
        return cls(session.get_bind().dialect.name, zone, now.astimezone(zone).date(),
                   _offsets(zone, first - timedelta(days=2), now + timedelta(days=2)))

    def day_of(self, moment: datetime) -> date:
        """Return the local day ``moment`` falls on (Python, not SQL)."""
        return moment.astimezone(self.zone).date()

    def midnight(self, day: date) -> datetime:
        """Return the UTC moment local ``day`` begins."""
        return datetime.combine(day, time(), self.zone).astimezone(UTC)

    def _shift(self, moment: Any,
               seconds: Callable[[int], ColumnElement[Any]]) -> ColumnElement[Any]:
        *newer, oldest = self.changes
        if not newer:
            return seconds(oldest[1])
        return case(*((moment >= since, seconds(offset)) for since, offset in newer),
                    else_=seconds(oldest[1]))

    def _local(self, moment: Any) -> ColumnElement[Any]:
        """PostgreSQL only: the local wall time of ``moment``, as a timestamp."""
        return func.timezone("UTC", moment) + self._shift(
            moment, lambda s: literal_column(f"interval '{int(s)} seconds'"))

    def day(self, moment: Any) -> ColumnElement[date]:
        """SQL for the local day ``moment`` falls on."""
        if self.dialect == "postgresql":
            return type_coerce(func.date(self._local(moment)), Date())
        return type_coerce(func.date(moment, self._shift(
            moment, lambda s: literal_column(f"'{int(s):+d} seconds'"))), Date())

    def month(self, moment: Any) -> ColumnElement[date]:
        """SQL for the first day of the local month ``moment`` falls in."""
        if self.dialect == "postgresql":
            return type_coerce(func.date(func.date_trunc("month", self._local(moment))), Date())
        return type_coerce(func.date(moment, self._shift(
            moment, lambda s: literal_column(f"'{int(s):+d} seconds'")), "start of month"),
            Date())

    def within(self, later: Any, earlier: Any, days: int, *,
               inclusive: bool) -> ColumnElement[bool]:
        """SQL for ``later`` being at most (``inclusive``) or less than ``days`` days after
        ``earlier`` (any sign: say ``later >= earlier`` too where it matters)."""
        if self.dialect == "postgresql":
            bound: ColumnElement[Any] = earlier + literal_column(f"interval '{int(days)} days'")
            moment: ColumnElement[Any] = later
            return moment <= bound if inclusive else moment < bound
        gap: ColumnElement[float] = func.julianday(later) - func.julianday(earlier)
        return gap <= days if inclusive else gap < days


def _offsets(zone: ZoneInfo, begin: datetime, end: datetime) -> tuple[tuple[datetime, int], ...]:
    """Return the UTC offsets (seconds) of ``zone`` from ``begin`` to ``end``: (from, offset),
    newest first. A day's step finds each change (zones change at most twice a year), halving
    to the second finds its moment."""

    def offset(epoch: int) -> int:
        moment = datetime.fromtimestamp(epoch, UTC).astimezone(zone)
        return int(moment.utcoffset().total_seconds())  # type: ignore[union-attr]

    at, stop, day = int(begin.timestamp()), int(end.timestamp()), 86400
    found = [(at, offset(at))]
    while at < stop:
        step = min(at + day, stop)
        if offset(step) != found[-1][1]:
            low, high = at, step
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if offset(middle) == found[-1][1] else (low, middle)
            found.append((high, offset(high)))
        at = step
    return tuple((datetime.fromtimestamp(epoch, UTC), off) for epoch, off in reversed(found))


def _first_moment(session: Session, brand_id: int) -> datetime | None:
    """Return the earliest moment a cohort metric may file under: the brand's first item made or
    sold (taps, ownerships and the rest come after an item exists); None: no items."""
    row = session.execute(
        select(func.min(Item.created_at), func.min(Item.sold_at))
        .join(Product, Product.id == Item.product_id).where(Product.brand_id == brand_id)).one()
    moments = [utc(v) for v in row if v is not None]
    return min(moments) if moments else None


@dataclass(frozen=True)
class _Brand:
    id: int
    slug: str
    local: _Local


# Counts one metric of one brand into ``Cells``: (session, brand, the first moment to read (None:
# all), now, cells).
Count = Callable[[Session, _Brand, datetime | None, datetime, Cells], None]


def _rows(session: Session, inner: Select[*tuple[Any, ...]],
          *counts: Callable[[Any], ColumnElement[Any]]) -> list[Any]:
    """Run ``inner`` (one row per thing counted, its cell's dimensions labelled) grouped by every
    column, with ``counts`` (built on ``sub``, the subquery) or a row count; return the rows.

    Grouping the subquery's columns, not the expressions, keeps PostgreSQL from seeing the
    same CASE twice with different parameters (and refusing the GROUP BY)."""
    sub = inner.subquery()
    keys = [c for c in sub.c if not c.key.startswith("_")]
    measures = [count(sub) for count in counts] if counts else [func.count().label("n")]
    return list(session.execute(select(*keys, *measures).group_by(*keys)))


def _from(moment: Any, start: datetime | None) -> ColumnElement[bool]:
    """SQL for ``moment`` being ``start`` or later (None: any moment)."""
    return true() if start is None else moment >= start


def _brand_items(brand: _Brand) -> ColumnElement[bool]:
    return Item.product_id.in_(select(Product.id).where(Product.brand_id == brand.id))


def _pool_ids(brand: _Brand) -> Select[int]:
    return select(reward_pools.c.id).where(reward_pools.c.brand == brand.slug)


def _market() -> ColumnElement[str]:
    return func.coalesce(Item.market, "")


def _owned(tap: Any, ownership: Any) -> ColumnElement[bool]:
    """A tap made while ``ownership`` held its item."""
    return and_(tap.item_id == ownership.item_id, tap.at >= ownership.started_at,
                or_(ownership.ended_at.is_(None), tap.at < ownership.ended_at))


# --- cohorts: every item and ownership of the brand -------------------------------------------


def _sold(session: Session, brand: _Brand, _start: datetime | None, _now: datetime,
          cells: Cells) -> None:
    inner = select(brand.local.day(Item.sold_at).label("day"), Item.product_id.label("product"),
                   _market().label("market"), func.coalesce(Item.channel, "").label("channel")) \
        .where(_brand_items(brand), Item.sold_at.is_not(None))
    for r in _rows(session, inner):
        cells.add(r.day, r.n, product=r.product, market=r.market, bucket=r.channel)


def _activation_lag(session: Session, brand: _Brand, _start: datetime | None, _now: datetime,
                    cells: Cells) -> None:
    # Taps before the sale (a boutique checking its stock) are not an activation.
    first = select(TapEvent.item_id, func.min(TapEvent.at).label("at")) \
        .join(Item, Item.id == TapEvent.item_id) \
        .where(_brand_items(brand), TapEvent.verdict == GENUINE, Item.sold_at.is_not(None),
               TapEvent.at >= Item.sold_at) \
        .group_by(TapEvent.item_id).subquery()
    inner = select(brand.local.day(Item.sold_at).label("day"),
                   brand.local.day(first.c.at).label("tapped"), Item.product_id.label("product"),
                   _market().label("market"), func.coalesce(Item.channel, "").label("channel")) \
        .join(first, first.c.item_id == Item.id)
    for r in _rows(session, inner):
        days = min(max((r.tapped - r.day).days, 0), LAG_CAP_DAYS)
        cells.add(r.day, r.n, product=r.product, market=r.market, bucket=f"{r.channel}|{days}")


def _funnel(session: Session, brand: _Brand, _start: datetime | None, _now: datetime,
            cells: Cells) -> None:
    brand_items = select(Item.id).where(_brand_items(brand))
    tap, first_owner = TapEvent.__table__.alias("t"), Ownership.__table__.alias("o")
    # Per item: genuine taps while owned (repeat: 2 or more) and whether one was a later owner's.
    owned = select(tap.c.item_id, func.count().label("taps"),
                   func.max(case((first_owner.c.ordinal >= 2, 1), else_=0)).label("later")) \
        .join(first_owner, _owned(tap.c, first_owner.c)) \
        .where(tap.c.verdict == GENUINE, tap.c.item_id.in_(brand_items)) \
        .group_by(tap.c.item_id).subquery()
    # Per item: ownerships (claimed; transfer: 2 or more) and whether the first owner's email
    # is verified.
    held = select(Ownership.item_id, func.max(Ownership.ordinal).label("ordinal"),
                  func.max(case((and_(Ownership.ordinal == 1,
                                      Owner.email_verified_at.is_not(None)), 1),
                                else_=0)).label("confirmed")) \
        .join(Owner, Owner.id == Ownership.owner_id) \
        .where(Ownership.item_id.in_(brand_items)).group_by(Ownership.item_id).subquery()
    serviced = union(select(service_requests.c.item_id), select(service_events.c.item_id)) \
        .subquery()
    proven = select(provenance_records.c.item_id).distinct().subquery()
    # The furthest stage reached, as its index in FUNNEL_STAGES (-1: none).
    stages = {name: i for i, name in enumerate(m.FUNNEL_STAGES)}
    furthest = case(
        (owned.c.later == 1, stages["second_active"]),
        (held.c.ordinal >= 2, stages["transfer"]),
        (proven.c.item_id.is_not(None), stages["provenance"]),
        (serviced.c.item_id.is_not(None), stages["service"]),
        (owned.c.taps >= 2, stages["repeat"]),
        (held.c.confirmed == 1, stages["confirmed"]),
        (held.c.item_id.is_not(None), stages["claimed"]),
        (or_(Item.sold_at.is_not(None), Item.released.is_(True)), stages["sold"]),
        else_=-1)
    inner = select(brand.local.day(func.coalesce(Item.sold_at, Item.created_at)).label("day"),
                   Item.product_id.label("product"), _market().label("market"),
                   furthest.label("furthest")) \
        .outerjoin(owned, owned.c.item_id == Item.id) \
        .outerjoin(held, held.c.item_id == Item.id) \
        .outerjoin(serviced, serviced.c.item_id == Item.id) \
        .outerjoin(proven, proven.c.item_id == Item.id) \
        .where(_brand_items(brand))
    for r in _rows(session, inner):
        # A funnel: an item counts at every stage up to the furthest it reached.
        for stage in m.FUNNEL_STAGES[:r.furthest + 1]:
            cells.add(r.day, r.n, product=r.product, market=r.market, bucket=stage)


def _abandonment(session: Session, brand: _Brand, _start: datetime | None, now: datetime,
                 cells: Cells) -> None:
    local = brand.local
    tap = TapEvent.__table__.alias("t")
    per_ownership = select(
        Ownership.id, Ownership.owner_id, Ownership.item_id, Ownership.started_at,
        func.sum(case((local.within(tap.c.at, Ownership.started_at, BURST_DAYS,
                                    inclusive=False), 1), else_=0)).label("early"),
        func.max(case((tap.c.at >= now - timedelta(days=STOPPED_DAYS), 1),
                      else_=0)).label("recent")) \
        .join(tap, and_(_owned(tap.c, Ownership), tap.c.verdict == GENUINE)) \
        .where(Ownership.item_id.in_(select(Item.id).where(_brand_items(brand)))) \
        .group_by(Ownership.id, Ownership.owner_id, Ownership.item_id, Ownership.started_at) \
        .subquery()
    inner = select(local.month(per_ownership.c.started_at).label("day"),
                   Item.product_id.label("product"), _market().label("market"),
                   per_ownership.c.owner_id.label("_owner"),
                   per_ownership.c.recent.label("_recent")) \
        .join(Item, Item.id == per_ownership.c.item_id) \
        .where(per_ownership.c.early >= BURST_TAPS)
    # Owners, not ownerships: one person with two bursts in one cell counts once (stopped if
    # either stopped).
    for r in _rows(session, inner,
                   lambda s: func.count(distinct(s.c._owner)).label("burst"),
                   lambda s: func.count(distinct(case((s.c._recent == 0, s.c._owner))))
                   .label("stopped")):
        cells.add(r.day, r.burst, product=r.product, market=r.market, bucket="burst")
        cells.add(r.day, r.stopped, product=r.product, market=r.market, bucket="stopped")


# --- recent days: rewards, points, messages, lift ---------------------------------------------


def _grant_counts(moment: Any, *where: ColumnElement[bool],
                  prize: bool = False) -> Count:
    """A rewards metric: grants by the local day of ``moment``, journey and reward id (and
    prize, with ``prize``), among those ``where`` holds for."""

    def count(session: Session, brand: _Brand, start: datetime | None, _now: datetime,
              cells: Cells) -> None:
        g, pool = reward_grants.c, reward_pools.c
        bucket = pool.reward_id + "|" + g.prize_id if prize else pool.reward_id
        inner = select(brand.local.day(moment).label("day"), g.journey.label("journey"),
                       bucket.label("bucket")) \
            .join(reward_pools, pool.id == g.pool_id) \
            .where(pool.brand == brand.slug, moment.is_not(None), _from(moment, start), *where)
        for r in _rows(session, inner):
            cells.add(r.day, r.n, journey=r.journey, bucket=r.bucket)

    return count


def _points(session: Session, brand: _Brand, start: datetime | None, _now: datetime,
            cells: Cells) -> None:
    e = loyalty_entries.c
    inner = select(brand.local.day(e.at).label("day"), e.kind.label("bucket"),
                   case((e.kind.in_(SPENT), -e.points), else_=e.points).label("_points")) \
        .where(e.brand == brand.slug, _from(e.at, start))
    for r in _rows(session, inner, lambda s: func.sum(s.c._points).label("n")):
        cells.add(r.day, int(r.n), bucket=r.bucket)


def _messages(session: Session, brand: _Brand, start: datetime | None, _now: datetime,
              cells: Cells) -> None:
    msg = messages.c
    inner = select(brand.local.day(msg.slot).label("day"), msg.schedule_id.label("journey"),
                   msg.state.label("bucket")) \
        .where(msg.brand == brand.slug, _from(msg.slot, start))
    for r in _rows(session, inner):
        cells.add(r.day, r.n, journey=r.journey, bucket=r.bucket)


def _messages_followed(session: Session, brand: _Brand, start: datetime | None, _now: datetime,
                       cells: Cells) -> None:
    msg, local = messages.c, brand.local
    sent = func.coalesce(msg.sent_at, msg.slot)
    tap, held = TapEvent.__table__.alias("t"), Ownership.__table__.alias("o")
    tapped = exists().where(held.c.id == msg.ownership_id, _owned(tap.c, held.c),
                            tap.c.verdict == GENUINE, tap.c.at >= sent,
                            local.within(tap.c.at, sent, FOLLOW_DAYS, inclusive=True))
    g = reward_grants.c
    revealed = exists().where(g.owner_id == msg.owner_id, g.pool_id.in_(_pool_ids(brand)),
                              g.revealed_at >= sent,
                              local.within(g.revealed_at, sent, FOLLOW_DAYS, inclusive=True))
    inner = select(local.day(msg.slot).label("day"), msg.schedule_id.label("journey"),
                   case((tapped, 1), else_=0).label("_tap"),
                   case((revealed, 1), else_=0).label("_reveal")) \
        .where(msg.brand == brand.slug, _from(msg.slot, start), msg.state.in_(WENT_OUT))
    for r in _rows(session, inner, lambda s: func.sum(s.c._tap).label("tap"),
                   lambda s: func.sum(s.c._reveal).label("reveal")):
        cells.add(r.day, int(r.tap), journey=r.journey, bucket="tap")
        cells.add(r.day, int(r.reveal), journey=r.journey, bucket="reveal")


def _lift(session: Session, brand: _Brand, start: datetime | None, _now: datetime,
          cells: Cells) -> None:
    e, pool, local = reward_exposures.c, reward_pools.c, brand.local
    # Each owner's first exposure to each reward, over all time: an owner first exposed before
    # the window is not first exposed again inside it.
    ranked = select(e.pool_id, e.owner_id, e.tap_event_id, e.cohort, e.at,
                    func.row_number().over(partition_by=(e.pool_id, e.owner_id),
                                           order_by=(e.at, e.id)).label("rank")) \
        .where(e.pool_id.in_(_pool_ids(brand)), e.owner_id.is_not(None)).subquery()
    first = select(ranked).where(ranked.c.rank == 1, _from(ranked.c.at, start)).subquery()
    at, owner = first.c.at, first.c.owner_id
    tap, held = TapEvent.__table__.alias("t"), Ownership.__table__.alias("o")
    brand_products = select(Product.id).where(Product.brand_id == brand.id)
    # Nested, so both backends go from the owner's ownerships to their items' taps (SQLite,
    # without statistics, would otherwise walk every genuine tap for each exposure).
    tapped = exists().where(
        _owned(tap.c, held.c), tap.c.verdict == GENUINE, tap.c.at >= at,
        local.within(tap.c.at, at, OUTCOME_DAYS, inclusive=True),
        or_(first.c.tap_event_id.is_(None), tap.c.id != first.c.tap_event_id)) \
        .correlate_except(tap)  # the exposure two levels out, not a copy of it
    repeat = exists().where(
        held.c.owner_id == owner,
        held.c.item_id.in_(select(Item.id).where(Item.product_id.in_(brand_products))), tapped)
    r_ = product_reviews.c
    review = exists().where(r_.owner_id == owner, r_.product_id.in_(brand_products),
                            r_.created_at >= at,
                            local.within(r_.created_at, at, OUTCOME_DAYS, inclusive=True))
    # The brand compared through coalesce: SQLite, without statistics, would otherwise read
    # the brand's every later order for each exposure instead of the owner's few.
    purchase = exists().where(
        func.coalesce(CommerceEvent.brand_id, 0) == brand.id, CommerceEvent.owner_id == owner,
        CommerceEvent.kind == "order", CommerceEvent.occurred_at >= at,
        local.within(CommerceEvent.occurred_at, at, OUTCOME_DAYS, inclusive=True))
    inner = select(local.day(at).label("day"), pool.reward_id.label("reward"),
                   first.c.cohort.label("cohort"),
                   *(case((flag, 1), else_=0).label(f"_{name}") for name, flag in
                     zip(m.LIFT_OUTCOMES, (repeat, review, purchase), strict=True))) \
        .join(reward_pools, pool.id == first.c.pool_id)
    outcomes = [lambda s, name=name: func.sum(s.c[f"_{name}"]).label(name)
                for name in m.LIFT_OUTCOMES]
    for r in _rows(session, inner, lambda s: func.count().label("n"), *outcomes):
        cells.add(r.day, r.n, journey=r.reward, bucket=r.cohort)
        for name in m.LIFT_OUTCOMES:
            cells.add(r.day, int(getattr(r, name)), journey=r.reward,
                      bucket=f"{r.cohort}|{name}")


_g = reward_grants.c
_COHORTS: Final[dict[str, Count]] = {
    m.SOLD: _sold, m.ACTIVATION_LAG: _activation_lag, m.FUNNEL: _funnel,
    m.ABANDONMENT: _abandonment,
}
_RECENT: Final[dict[str, Count]] = {
    m.REWARD_GRANTS: _grant_counts(_g.created_at),
    m.REWARD_REVEALS: _grant_counts(_g.revealed_at),
    # A prize or the consolation (each has its prize id; the panel tells them apart by it).
    m.REWARD_WINS: _grant_counts(_g.revealed_at, _g.prize_id.is_not(None), prize=True),
    m.REWARD_REDEEMED: _grant_counts(_g.redeemed_at),
    m.POINTS: _points, m.MESSAGES: _messages, m.MESSAGES_FOLLOWED: _messages_followed,
    m.LIFT: _lift,
}


# --- the Lift panel -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LiftRow:
    """One reward and outcome over a date range: each arm's owners first exposed in it and how
    many of them had the outcome, the reward's declared holdout (None: not known), the ``Lift``
    (None when it cannot be measured: see ``sentence``) and one sentence saying what it means,
    in the language words come out in when ``lift_report`` ran."""

    reward: str
    outcome: str
    exposed_successes: int
    exposed: int
    held_out_successes: int
    held_out: int
    holdout_percent: float | None
    lift: Lift | None
    sentence: str


def lift_report(session: Session, brand_id: int, start: date, end: date,
                holdouts: Mapping[str, float] | None = None) -> list[LiftRow]:
    """Return one ``LiftRow`` per reward (by id) and outcome (``LIFT_OUTCOMES`` order) for the
    owners first exposed from local day ``start`` to ``end`` (both included), read from the
    LIFT cells of ``brand_id``.

    ``holdouts`` maps reward ids to the holdout percentage their ruleset declares
    (``{r.id: r.holdout for r in ruleset.doc.rewards.values()}``): the split is checked against
    it. A reward missing from it, or declaring none, gets its counts and no ``Lift``."""
    counts: dict[tuple[str, str], int] = {
        (r.journey, r.bucket): int(r.n) for r in session.execute(
            select(CubeCell.journey, CubeCell.bucket, func.sum(CubeCell.value).label("n"))
            .where(CubeCell.brand_id == brand_id, CubeCell.metric == m.LIFT,
                   CubeCell.day >= start, CubeCell.day <= end)
            .group_by(CubeCell.journey, CubeCell.bucket))}
    out = []
    for reward in sorted({reward for reward, _ in counts}):
        exposed, held_out = counts.get((reward, TREATMENT), 0), counts.get((reward, HOLDOUT), 0)
        share = (holdouts or {}).get(reward)
        for outcome in m.LIFT_OUTCOMES:
            arms = ((counts.get((reward, f"{TREATMENT}|{outcome}"), 0), exposed),
                    (counts.get((reward, f"{HOLDOUT}|{outcome}"), 0), held_out))
            result, words = _measured(arms, share)
            out.append(LiftRow(reward, outcome, arms[0][0], exposed, arms[1][0], held_out,
                               share, result, words))
    return out


def _measured(arms: tuple[tuple[int, int], tuple[int, int]],
              share: float | None) -> tuple[Lift | None, str]:
    if share is None:
        return None, translate(N_("The holdout of this reward is not known (it is no longer "
                                  "in the ruleset): counts only."))
    if not 0 < share < 100:
        return None, translate(N_("This reward holds no owner out: there is no one to compare "
                                  "its exposed owners with."))
    if arms[0][1] == 0 or arms[1][1] == 0:
        return None, translate(N_("Not enough evidence yet: one of the groups has no owners in "
                                  "these dates."))
    if arms[0][0] > arms[0][1] or arms[1][0] > arms[1][1]:
        # Only while cells of two refreshes are read together; the next read is whole.
        return None, translate(N_("The numbers are being updated: try again in a minute."))
    result = measure(arms[0], arms[1], share)
    return result, sentence(result)
