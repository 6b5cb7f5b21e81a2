"""The brand's dashboard panels: each one reads only the rollup cube (``insight_cube``) through its
primary key (brand, metric, day range) plus the filters, and returns a ``Panel`` of plain numbers
(tables, a chart's description, how fresh and what is exact). Nothing here draws or formats:
``app.insights.charts`` turns a ``Chart`` into SVG, the admin views into a page or a CSV.

``parse_filters`` is the boundary: it turns query arguments into a ``Filters`` or raises
``BadFilter`` (400) saying what is wrong. ``PANELS`` lists the panel functions in page order;
``all_panels`` runs them all (what a bench times).

Two panels read something besides the cube, both small and bounded: the rewards panel reads
the live stock and budget of the brand's reward pools (``app.insights.sources``), and
``item_taps`` (the integrity drill-down) reads one item's raw taps over at most
``DRILL_DOWN_DAYS`` days.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.catalog.models import Brand, Item, Product
from app.core.clock import utc
from app.core.errors import N_, DomainError
from app.core.i18n import translate
from app.insights import metrics as m
from app.insights.models import CubeCell, RefreshMark
from app.insights.sources import reward_pools, reward_prizes
from app.insights.state import lift_report
from app.verify.models import TapEvent

GRAINS: Final = ("day", "week", "month")
# The longest range one page reads: three years of days, a few thousand cells per metric.
MAX_DAYS: Final = 1100
DEFAULT_DAYS: Final = 90
# The integrity drill-down reads raw taps: one item, at most this many days, at most ROW_CAP.
DRILL_DOWN_DAYS: Final = 92
DRILL_DOWN_ROWS: Final = 500
GENUINE: Final = "genuine"
INVALID: Final = "invalid"
REPLAYED: Final = "replayed"
_CODE = re.compile(r"[A-Za-z]{2}")
_JOURNEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}")
_CATEGORY = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
# Days-to-first-tap bins of the activation distribution: (first day, last day, label).
LAG_BINS: Final = ((0, 0, "0"), (1, 1, "1"), (2, 3, "2-3"), (4, 7, "4-7"), (8, 14, "8-14"),
                   (15, 30, "15-30"), (31, 90, "31-90"), (91, 365, "91-365"),
                   (366, 730, "366+"))
OUTCOME_WORDS: Final = {"repeat_tap_30d": N_("Tapped again within 30 days"),
                        "review": N_("Wrote a review"), "purchase": N_("Bought within 30 days")}
MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                 "Dec")


class BadFilter(DomainError):
    """A query argument of the dashboard is not one it understands (400, nothing read)."""

    status = 400
    code = "bad_filter"


# Words staff read, marked for the catalogue and translated where the page is drawn: a message
# id and its parameters.
Words = tuple[str, Mapping[str, object]]


def words(message: str, **params: object) -> Words:
    return (message, params)


@dataclass(frozen=True)
class Filters:
    """What one dashboard view shows. ``product_ids`` is the effective product set (a category
    resolved to its products); empty means every product. Codes are upper case; "" is none."""

    brand_id: int
    start: date
    end: date
    product_ids: tuple[int, ...] = ()
    category: str = ""
    market: str = ""
    country: str = ""
    journey: str = ""
    grain: str = "week"

    def query(self) -> dict[str, str | list[str]]:
        """Return the query arguments that give these filters back (links and CSV)."""
        args: dict[str, str | list[str]] = {"start": self.start.isoformat(),
                                            "end": self.end.isoformat(), "grain": self.grain}
        if self.category:
            args["category"] = self.category
        elif self.product_ids:
            args["product"] = [str(p) for p in self.product_ids]
        for name in ("market", "country", "journey"):
            if getattr(self, name):
                args[name] = getattr(self, name)
        return args


@dataclass(frozen=True)
class Column:
    """A table column: ``key`` (its CSV header), ``label`` (words) and ``kind``: text, words
    (a sentence), int, pct (a proportion 0-1), ratio (a decimal), days, date, month or code (an
    identifier, shown as is)."""

    key: str
    label: str
    kind: str = "int"


@dataclass(frozen=True)
class Chart:
    """What to draw from a table's rows: ``kind`` line | bar | hbar | interval; ``x`` the
    column along the axis; ``ys`` the columns drawn (one series each); ``x_kind`` temporal,
    ordinal or nominal. Intervals draw ``ys`` = (point, low, high)."""

    kind: str
    x: str
    ys: tuple[str, ...]
    x_kind: str = "nominal"
    y_label: str = ""
    percent: bool = False
    series: str = ""  # a column whose values split the rows into series (intervals)


@dataclass(frozen=True)
class Table:
    """Numbers with their caption; ``key`` names its CSV (unique across panels)."""

    key: str
    caption: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]
    chart: Chart | None = None
    # Rows the chart leaves out (a period only partly within the dates: its dip is not news).
    undrawn: tuple[int, ...] = ()

    def values(self) -> list[dict[str, Any]]:
        """Return the rows the chart draws as dicts by column key."""
        keys = [c.key for c in self.columns]
        return [dict(zip(keys, row, strict=True)) for index, row in enumerate(self.rows)
                if index not in self.undrawn]


@dataclass(frozen=True)
class Panel:
    """One panel: ``tables`` (the first is the panel's main one), ``fresh_at`` (when the
    oldest source it reads was last refreshed, None: never), ``notes`` (what is exact, what
    a filter does not apply to), ``figures`` (headline numbers: label, value, column kind)."""

    key: str
    title: str
    tables: tuple[Table, ...]
    fresh_at: datetime | None
    notes: tuple[Words, ...] = ()
    figures: tuple[tuple[str, Any, str], ...] = ()

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.tables[0].columns

    @property
    def rows(self) -> tuple[tuple[Any, ...], ...]:
        return self.tables[0].rows

    @property
    def chart(self) -> Chart | None:
        return self.tables[0].chart


# --- the boundary --------------------------------------------------------------------------


def _one(args: Mapping[str, list[str]], name: str) -> str:
    values = args.get(name, [])
    if len(values) > 1:
        raise BadFilter(N_("Give %(name)s once."), name=name)
    return values[0].strip() if values else ""


def _day(text: str, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadFilter(N_("The %(name)s date must be written like 2026-11-30."),
                        name=name) from None


def parse_filters(session: Session, brand_id: int, pairs: Iterable[tuple[str, str]],
                  today: date) -> Filters:
    """Return the ``Filters`` the query arguments ``pairs`` ask for, for brand ``brand_id``
    (``today`` is the brand's local day: the default range ends there).

    Raises BadFilter (400), saying which argument and why: a NUL byte anywhere, a
    date that is not one or a range backwards or longer than ``MAX_DAYS``, a grain other than
    day/week/month, a product that is not the brand's, a category with no product of the
    brand, both products and a category, a market or country that is not two letters, a
    journey id with characters journeys never have, an argument given twice."""
    args: dict[str, list[str]] = defaultdict(list)
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            raise BadFilter(N_("The address holds a NUL character: remove it."))
        args[name].append(value)
    grain = _one(args, "grain") or "week"
    if grain not in GRAINS:
        raise BadFilter(N_("Show by day, week or month."))
    end = _day(_one(args, "end"), "end") or today
    # By default the first period is whole: only the one still going on is partial.
    start = _day(_one(args, "start"), "start") or period_start(
        end - timedelta(days=DEFAULT_DAYS - 1), grain)
    if start > end:
        raise BadFilter(N_("The start date comes after the end date."))
    if (end - start).days + 1 > MAX_DAYS:
        raise BadFilter(N_("Choose at most %(days)s days."), days=MAX_DAYS)
    codes = {}
    for name in ("market", "country"):
        code = _one(args, name)
        if code and not _CODE.fullmatch(code):
            raise BadFilter(N_("The %(name)s must be a two-letter country code, like FR."),
                            name=name)
        codes[name] = code.upper()
    journey = _one(args, "journey")
    if journey and not _JOURNEY.fullmatch(journey):
        raise BadFilter(N_("There is no journey with that name."))
    category = _one(args, "category")
    asked = [p for value in args.get("product", []) for p in value.split(",") if p.strip()]
    if category and asked:
        raise BadFilter(N_("Choose products or a category, not both."))
    product_ids: tuple[int, ...] = ()
    if asked:
        try:
            wanted = {int(p) for p in asked}
        except ValueError:
            raise BadFilter(N_("A product is chosen by its number.")) from None
        if len(wanted) > 200:
            raise BadFilter(N_("Choose at most 200 products, or a category."))
        own = set(session.scalars(select(Product.id).where(Product.brand_id == brand_id,
                                                           Product.id.in_(wanted))))
        # Another brand's product is answered as one that does not exist.
        if own != wanted:
            raise BadFilter(N_("There is no such product."))
        product_ids = tuple(sorted(own))
    elif category:
        if not _CATEGORY.fullmatch(category):
            raise BadFilter(N_("There is no product in that category."))
        product_ids = tuple(session.scalars(
            select(Product.id).where(Product.brand_id == brand_id, Product.category == category)
            .order_by(Product.id)))
        if not product_ids:
            raise BadFilter(N_("There is no product in that category."))
    return Filters(brand_id, start, end, product_ids, category, codes["market"],
                   codes["country"], journey, grain)


# --- reading the cube ------------------------------------------------------------------------

# Which of the filterable dimensions each metric fills (``app.insights.metrics``).
PRODUCT, MARKET, COUNTRY, JOURNEY = "product", "market", "country", "journey"
DIMENSIONS: Final[Mapping[str, frozenset[str]]] = {
    m.TAPS: frozenset({PRODUCT, MARKET, COUNTRY, JOURNEY}),
    m.DECISIONS: frozenset({JOURNEY}), m.JOURNEY_OWNERS: frozenset({JOURNEY}),
    m.JOURNEY_NEXT: frozenset({JOURNEY}),
    **{metric: frozenset({PRODUCT}) for metric in (
        m.ITEMS_DAY, m.ITEMS_WEEK, m.ITEMS_MONTH, m.OWNERS_DAY, m.OWNERS_WEEK, m.OWNERS_MONTH,
        m.SERVICE_REQUESTS, m.RESALES, m.ALERTS)},
    m.OFF_MARKET: frozenset({PRODUCT, MARKET, COUNTRY}),
    **{metric: frozenset({PRODUCT, MARKET}) for metric in (
        m.LIFECYCLE_TAPS, m.SOLD, m.ACTIVATION_LAG, m.FUNNEL, m.ABANDONMENT, m.ROUTINE_OWNERS)},
    # The granting journey.
    **{metric: frozenset({JOURNEY}) for metric in (
        m.REWARD_GRANTS, m.REWARD_REVEALS, m.REWARD_WINS, m.REWARD_REDEEMED)},
    # MESSAGES' journey is a schedule and LIFT's a reward: the journey filter does not apply.
    m.POINTS: frozenset(), m.MESSAGES: frozenset(), m.MESSAGES_FOLLOWED: frozenset(),
    m.LIFT: frozenset(),
}
FILTER_WORDS: Final = {PRODUCT: N_("product"), MARKET: N_("market"), COUNTRY: N_("country"),
                       JOURNEY: N_("journey")}
# Metrics whose day is the first day of a period.
PERIOD: Final = {m.ITEMS_WEEK: "week", m.OWNERS_WEEK: "week", m.ITEMS_MONTH: "month",
                 m.OWNERS_MONTH: "month", m.LIFECYCLE_TAPS: "month", m.ROUTINE_OWNERS: "month",
                 m.ABANDONMENT: "month"}
DISTINCT: Final = {"day": (m.ITEMS_DAY, m.OWNERS_DAY), "week": (m.ITEMS_WEEK, m.OWNERS_WEEK),
                   "month": (m.ITEMS_MONTH, m.OWNERS_MONTH)}



def period_start(day: date, grain: str) -> date:
    """Return the first day of ``day``'s period: itself, its week's Monday, its month's 1st."""
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def _active(f: Filters) -> set[str]:
    return {name for name, on in ((PRODUCT, f.product_ids), (MARKET, f.market),
                                  (COUNTRY, f.country), (JOURNEY, f.journey)) if on}


def _read(session: Session, f: Filters, metric: str, by: Sequence[str], *,
          all_products: bool = False, buckets: Sequence[str] | None = None) -> list[Any]:
    """Return ``metric``'s values in the range added up by the cube columns ``by`` (rows with
    those attributes and ``value``), narrowed by every filter the metric fills: one range read
    of the primary key, summed by the database. ``all_products``: read the product-0 row
    ("every product") when no product is chosen (distinct counts)."""
    dims = DIMENSIONS[metric]
    start = period_start(f.start, PERIOD[metric]) if metric in PERIOD else f.start
    keys = [getattr(CubeCell, name) for name in by]
    query = (select(*keys, func.sum(CubeCell.value).label("value"))
             .where(CubeCell.brand_id == f.brand_id, CubeCell.metric == metric,
                    CubeCell.day >= start, CubeCell.day <= f.end))
    if PRODUCT in dims and f.product_ids:
        query = query.where(CubeCell.product_id.in_(f.product_ids))
    elif all_products:
        query = query.where(CubeCell.product_id == 0)
    elif metric in _WITH_ALL:
        # Distinct-count metrics also hold a product-0 "every product" row: never add it in.
        query = query.where(CubeCell.product_id != 0)
    if MARKET in dims and f.market:
        query = query.where(CubeCell.market == f.market)
    if COUNTRY in dims and f.country:
        query = query.where(CubeCell.country == f.country)
    if JOURNEY in dims and f.journey:
        query = query.where(CubeCell.journey == f.journey)
    if buckets is not None:
        query = query.where(CubeCell.bucket.in_(buckets))
    # Summed as integers whatever the backend returns (PostgreSQL: a Decimal).
    return [_Cell(**{name: row[i] for i, name in enumerate(by)}, value=int(row.value))
            for row in session.execute(query.group_by(*keys))]


def _totals(session: Session, f: Filters, metric: str, *by: str,
            buckets: Sequence[str] | None = None) -> dict[Any, int]:
    """Return ``metric``'s totals by the columns ``by``: keyed by the one value, or by the
    tuple of values when ``by`` names several (see ``_read``)."""
    return {(tuple(getattr(c, name) for name in by) if len(by) > 1 else getattr(c, by[0])):
            c.value for c in _read(session, f, metric, by, buckets=buckets)}


@dataclass(frozen=True)
class _Cell:
    value: int
    day: date = date.min
    product_id: int = 0
    market: str = ""
    country: str = ""
    journey: str = ""
    bucket: str = ""


_WITH_ALL: Final = frozenset(metric for pair in DISTINCT.values() for metric in pair)


def _ignored(f: Filters, *metrics: str) -> tuple[Words, ...]:
    """Notes for the chosen filters some of ``metrics`` cannot apply (they lack the column)."""
    missing = sorted({name for metric in metrics for name in _active(f) - DIMENSIONS[metric]})
    return tuple(words(N_("Not split by %(what)s: the %(what)s filter does not apply here."),
                       what=FILTER_WORDS[name]) for name in missing)


def _fresh(session: Session, *metrics: str) -> datetime | None:
    """Return when the panel's data was last refreshed: the oldest ``refreshed_at`` of the
    marks named after its metrics, or (no such mark) of every mark; None: never refreshed."""
    marks: dict[str, datetime | None] = {row.name: row.refreshed_at for row in session.execute(
        select(RefreshMark.name, RefreshMark.refreshed_at))}
    chosen = [marks[name] for name in metrics if name in marks] or list(marks.values())
    if not chosen or any(at is None for at in chosen):
        return None
    return min(at for at in chosen if at is not None)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _sum(cells: Iterable[Any], key: Callable[[Any], Any]) -> dict[Any, int]:
    totals: dict[Any, int] = defaultdict(int)
    for cell in cells:
        totals[key(cell)] += cell.value
    return totals


def _product_names(session: Session, brand_id: int) -> dict[int, str]:
    return {row.id: row.name for row in session.execute(
        select(Product.id, Product.name).where(Product.brand_id == brand_id))}


PERIOD_WORDS: Final = {"day": N_("Day"), "week": N_("Week starting"), "month": N_("Month")}


def _period_column(f: Filters) -> Column:
    return Column("period", PERIOD_WORDS[f.grain], "date")


def _days_in(first: date, f: Filters) -> int:
    """Return how many days of the period starting on ``first`` lie within the dates chosen."""
    if f.grain == "day":
        return 1
    if f.grain == "week":
        last = first + timedelta(days=6)
    else:
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return (min(last, f.end) - max(first, f.start)).days + 1


def _partial(rows: Sequence[tuple[Any, ...]], f: Filters) -> tuple[int, ...]:
    """Indexes of ``rows`` (period first) whose period lies only partly within the dates."""
    if f.grain == "day":
        return ()
    return tuple(i for i, row in enumerate(rows)
                 if _days_in(row[0], f) < _days_in(row[0], replace(f, start=date.min,
                                                                     end=date.max)))


def _distinct_note(f: Filters, grain_words: str) -> Words:
    if len(f.product_ids) > 1:
        return words(N_("Unique items and owners are added up over the chosen products: an "
                        "owner of two of them counts twice (an upper bound)."))
    return words(N_("Unique items and owners are exact per %(grain)s."), grain=grain_words)


GRAIN_WORDS: Final = {"day": N_("day"), "week": N_("week"), "month": N_("month")}


# --- the panels ------------------------------------------------------------------------------


def engagement(session: Session, f: Filters) -> Panel:
    """Genuine and failed taps, unique items and owners, by day, week or month."""
    taps = _read(session, f, m.TAPS, ("day", "bucket"))
    by_period: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for cell in taps:
        by_period[period_start(cell.day, f.grain)][0 if cell.bucket == GENUINE else 1] += (
            cell.value)
    items_metric, owners_metric = DISTINCT[f.grain]
    for index, metric in ((2, items_metric), (3, owners_metric)):
        for cell in _read(session, f, metric, ("day",), all_products=not f.product_ids):
            by_period[cell.day][index] += cell.value
    rows = tuple((day, *counts, _days_in(day, f)) for day, counts in sorted(by_period.items()))
    columns = (_period_column(f), Column("genuine_taps", N_("Genuine taps")),
               Column("failed_taps", N_("Failed taps")),
               Column("unique_items", N_("Unique items")),
               Column("unique_owners", N_("Unique owners")), Column("days", N_("Days counted")))
    notes = (_distinct_note(f, GRAIN_WORDS[f.grain]),
             *_ignored(f, m.TAPS, items_metric, owners_metric))
    if f.grain != "day":
        notes += (words(N_("A %(grain)s partly outside the dates chosen counts its taps on "
                           "the days counted only, and its unique items and owners over the "
                           "whole %(grain)s; the chart leaves it out."),
                        grain=GRAIN_WORDS[f.grain]),)
    figures = ((N_("Genuine taps"), sum(c[0] for c in by_period.values()), "int"),
               (N_("Failed taps"), sum(c[1] for c in by_period.values()), "int"))
    return Panel("engagement", N_("Engagement over time"), (Table(
        "engagement", N_("Taps, unique items and unique owners by period"), columns, rows,
        Chart("line", "period", ("genuine_taps", "failed_taps", "unique_items",
                                 "unique_owners"), "temporal", N_("Count")),
        _partial(rows, f)),),
        _fresh(session, m.TAPS, items_metric, owners_metric), notes, figures)


def _nearest_rank(histogram: Mapping[int, int], share: float) -> int | None:
    """Return the smallest day by which ``share`` of the counts in ``histogram`` are reached."""
    total = sum(histogram.values())
    if not total:
        return None
    wanted = math.ceil(share * total)
    running = 0
    for day in sorted(histogram):
        running += histogram[day]
        if running >= wanted:
            return day
    return max(histogram)  # pragma: no cover - the loop always reaches the total


def activation(session: Session, f: Filters) -> Panel:
    """Share of the items sold in the range that were tapped, days to first tap (median, 90th
    percentile and their distribution), by sales channel."""
    sold = _totals(session, f, m.SOLD, "bucket")
    lags: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for cell in _read(session, f, m.ACTIVATION_LAG, ("bucket",)):
        channel, _, days = cell.bucket.rpartition("|")
        lags[channel][int(days)] += cell.value
    overall: dict[int, int] = defaultdict(int)
    for histogram in lags.values():
        for day, count in histogram.items():
            overall[day] += count

    def line(label: str, sold_n: int, histogram: Mapping[int, int]) -> tuple[Any, ...]:
        tapped = sum(histogram.values())
        return (label, sold_n, tapped, _share(tapped, sold_n), _nearest_rank(histogram, 0.5),
                _nearest_rank(histogram, 0.9))

    channels = sorted(set(sold) | set(lags), key=lambda c: (-sold.get(c, 0), c))
    # Words a person reads (not data) are translated here, so the table, its chart and its CSV
    # say the same in the staff member's language.
    rows = tuple(line(c or translate(N_("Unknown")), sold.get(c, 0), lags.get(c, {}))
                 for c in channels)
    total = line(translate(N_("All channels")), sum(sold.values()), overall)
    columns = (Column("channel", N_("Channel"), "code"), Column("sold", N_("Sold")),
               Column("tapped", N_("Tapped")), Column("share_tapped", N_("Share tapped"), "pct"),
               Column("median_days", N_("Median days to first tap"), "days"),
               Column("p90_days", N_("90th percentile, days"), "days"))
    tapped_n = sum(overall.values())
    bins = tuple((label, n, _share(n, tapped_n)) for label, n in (
        (label, sum(c for d, c in overall.items() if lo <= d <= hi)) for lo, hi, label in LAG_BINS))
    figures = ((N_("Share tapped"), total[3], "pct"),
               (N_("Median days to first tap"), total[4], "days"),
               (N_("90th percentile, days"), total[5], "days"))
    notes = (words(N_("Items sold between the dates chosen, and whether they were ever tapped "
                      "since. Medians and percentiles are exact (whole days; 730 means two "
                      "years or later).")), *_ignored(f, m.SOLD))
    return Panel("activation", N_("Activation"), (
        Table("activation", N_("Items sold and tapped, by sales channel"), columns,
              (*rows, total), Chart("bar", "channel", ("share_tapped",), "nominal",
                                    N_("Share tapped"), percent=True)),
        Table("activation-lag", N_("Days from sale to first genuine tap"),
              (Column("days", N_("Days"), "code"), Column("items", N_("Items")),
               Column("share", N_("Share of tapped items"), "pct")), bins,
              Chart("bar", "days", ("items",), "ordinal", N_("Items")))),
        _fresh(session, m.SOLD, m.ACTIVATION_LAG), notes, figures)


def _months(f: Filters) -> int:
    return (f.end.year - f.start.year) * 12 + f.end.month - f.start.month + 1


def routine(session: Session, f: Filters) -> Panel:
    """Taps per owner per month by product and market, the month of ownership when taps peak,
    seasonality by calendar month, and abandonment (a burst of taps, then none)."""
    names = _product_names(session, f.brand_id)
    # Whole months only: ROUTINE_OWNERS counts owners per month.
    whole = Filters(**{**f.__dict__, "start": f.start.replace(day=1)})
    taps = _sum(_read(session, whole, m.TAPS, ("product_id", "market"), buckets=(GENUINE,)),
                lambda c: (c.product_id, c.market))
    owner_months = _totals(session, whole, m.ROUTINE_OWNERS, "product_id", "market")
    keys = sorted(set(taps) | set(owner_months),
                  key=lambda k: (-taps.get(k, 0), names.get(k[0], ""), k[1]))
    routine_rows = tuple(
        (names.get(p, str(p)), market or "—", taps.get((p, market), 0),
         owner_months.get((p, market), 0),
         _share(taps.get((p, market), 0), owner_months.get((p, market), 0)))
        for p, market in keys)
    # The chart compares products: one bar each, its markets added up before dividing (a rate
    # per market stacked into one bar would add ratios).
    by_product: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for (p, _market), n in taps.items():
        by_product[p][0] += n
    for (p, _market), n in owner_months.items():
        by_product[p][1] += n
    product_rows = tuple(
        (names.get(p, str(p)), t, o, _share(t, o))
        for p, (t, o) in sorted(by_product.items(),
                                key=lambda kv: (-(_share(*kv[1]) or 0), names.get(kv[0], ""))))
    lifecycle = _totals(session, f, m.LIFECYCLE_TAPS, "bucket")
    order = [str(n) for n in range(25)] + ["25+"]
    lifecycle_rows = tuple((b, lifecycle.get(b, 0)) for b in order if b in lifecycle)
    peak = max(lifecycle_rows, key=lambda r: r[1])[0] if lifecycle_rows else None
    season = _sum(_read(session, whole, m.TAPS, ("day",), buckets=(GENUINE,)),
                  lambda c: c.day.month)
    # The calendar months the dates cover (all twelve from a year on), in calendar order.
    covered = {(f.start.month - 1 + n) % 12 + 1 for n in range(min(_months(f), 12))}
    season_rows = tuple((MONTHS[n - 1], season.get(n, 0)) for n in range(1, 13) if n in covered)
    abandonment: dict[date, dict[str, int]] = defaultdict(lambda: {"burst": 0, "stopped": 0})
    for cell in _read(session, f, m.ABANDONMENT, ("day", "bucket")):
        abandonment[cell.day][cell.bucket] += cell.value
    abandonment_rows = tuple((day, v["burst"], v["stopped"], _share(v["stopped"], v["burst"]))
                             for day, v in sorted(abandonment.items()))
    notes = (words(N_("Owner-months: each owner counts once in each month they tapped, so taps "
                      "per owner per month is exact for the months chosen (whole months).")),
             words(N_("Burst: owners with three or more taps in their first 30 days; stopped: "
                      "those of them with no tap in the last 60 days.")),
             *_ignored(f, m.TAPS, m.ROUTINE_OWNERS, m.LIFECYCLE_TAPS, m.ABANDONMENT))
    figures: tuple[tuple[str, Any, str], ...] = ()
    if peak is not None:
        figures = ((N_("Whole months owned when taps peak"), peak, "code"),)
    return Panel("routine", N_("Routine and abandonment"), (
        Table("routine", N_("Taps per owner per month, by product and market"),
              (Column("product", N_("Product"), "text"), Column("market", N_("Market"), "code"),
               Column("genuine_taps", N_("Genuine taps")),
               Column("owner_months", N_("Owner-months")),
               Column("taps_per_owner_month", N_("Taps per owner per month"), "ratio")),
              routine_rows),
        Table("routine-lifecycle", N_("Genuine taps by whole months owned"),
              (Column("month_owned", N_("Whole months owned"), "code"),
               Column("genuine_taps", N_("Genuine taps"))), lifecycle_rows,
              Chart("bar", "month_owned", ("genuine_taps",), "ordinal", N_("Genuine taps"))),
        Table("routine-season", N_("Genuine taps by calendar month"),
              (Column("month", N_("Month"), "code"), Column("genuine_taps", N_("Genuine taps"))),
              season_rows, Chart("bar", "month", ("genuine_taps",), "ordinal",
                                 N_("Genuine taps"))),
        Table("routine-abandonment", N_("Abandonment by month ownership began"),
              (Column("cohort", N_("Ownership began"), "month"), Column("burst", N_("Burst")),
               Column("stopped", N_("Stopped")),
               Column("share_stopped", N_("Share stopped"), "pct")), abandonment_rows),
        Table("routine-products", N_("Taps per owner per month, by product"),
              (Column("product", N_("Product"), "text"),
               Column("genuine_taps", N_("Genuine taps")),
               Column("owner_months", N_("Owner-months")),
               Column("taps_per_owner_month", N_("Taps per owner per month"), "ratio")),
              product_rows, Chart("hbar", "product", ("taps_per_owner_month",), "nominal",
                                  N_("Taps per owner per month")))),
        _fresh(session, m.TAPS, m.ROUTINE_OWNERS, m.LIFECYCLE_TAPS, m.ABANDONMENT), notes,
        figures)


WENT_OUT: Final = ("sent", "accepted")  # message states that reached the owner or the CRM
ALERT_WORDS: Final = {"clone_suspect": N_("Clone suspected"), "off_market": N_("Off market"),
                      "stolen_seen": N_("Stolen item seen")}
POINT_WORDS: Final = {"earn": N_("Earned"), "spend": N_("Spent"), "expire": N_("Expired"),
                      "reverse": N_("Taken back")}
STAGE_WORDS: Final = {"sold": N_("Sold"), "claimed": N_("Claimed"),
                      "confirmed": N_("Confirmed"), "repeat": N_("Tapped again"),
                      "service": N_("Serviced"), "provenance": N_("Provenance record"),
                      "transfer": N_("Resold"), "second_active": N_("Second owner active")}


def funnel(session: Session, f: Filters) -> Panel:
    """Items by the furthest lifecycle stage reached, in stage order, with the share of the
    items sold and of the stage before."""
    reached = _totals(session, f, m.FUNNEL, "bucket")
    first = reached.get(m.FUNNEL_STAGES[0], 0)
    rows = []
    before: int | None = None
    for stage in m.FUNNEL_STAGES:
        n = reached.get(stage, 0)
        rows.append((translate(STAGE_WORDS[stage]), n, _share(n, first),
                     _share(n, before) if before is not None else None))
        before = n
    notes = (words(N_("Items sold (or, never sold, created) between the dates chosen, at every "
                      "stage they reached since; exact.")), *_ignored(f, m.FUNNEL))
    return Panel("funnel", N_("Lifecycle funnel"), (Table(
        "funnel", N_("Items at each lifecycle stage"),
        (Column("stage", N_("Stage"), "text"), Column("items", N_("Items")),
         Column("share_of_sold", N_("Share of sold"), "pct"),
         Column("share_of_previous", N_("Share of previous stage"), "pct")), tuple(rows),
        Chart("hbar", "stage", ("items",), "ordinal", N_("Items"))),),
        _fresh(session, m.FUNNEL), notes)


def geography(session: Session, f: Filters) -> Panel:
    """Taps by the tapping country, genuine and failed."""
    by_country: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for cell in _read(session, f, m.TAPS, ("country", "bucket")):
        by_country[cell.country][0 if cell.bucket == GENUINE else 1] += cell.value
    total = sum(v[0] for v in by_country.values())
    rows = tuple((country or "—", g, failed, _share(g, total)) for country, (g, failed) in sorted(
        by_country.items(), key=lambda kv: (-kv[1][0], kv[0])))
    notes = (words(N_("The country is the tap's, when the deployment knows it; — is unknown.")),
             *_ignored(f, m.TAPS))
    return Panel("geography", N_("Geography"), (Table(
        "geography", N_("Taps by country"),
        (Column("country", N_("Country"), "code"), Column("genuine_taps", N_("Genuine taps")),
         Column("failed_taps", N_("Failed taps")),
         Column("share_genuine", N_("Share of genuine taps"), "pct")), rows,
        Chart("hbar", "country", ("genuine_taps",), "nominal", N_("Genuine taps"))),),
        _fresh(session, m.TAPS), notes)


def products(session: Session, f: Filters) -> Panel:
    """Per product: genuine taps, average monthly owners, service requests and resales."""
    names = _product_names(session, f.brand_id)
    taps = _sum(_read(session, f, m.TAPS, ("product_id",), buckets=(GENUINE,)),
                lambda c: c.product_id)
    owners = _totals(session, f, m.OWNERS_MONTH, "product_id")
    service = _totals(session, f, m.SERVICE_REQUESTS, "product_id")
    resales = _totals(session, f, m.RESALES, "product_id")
    months = _months(f)
    ids = sorted(set(taps) | set(owners) | set(service) | set(resales),
                 key=lambda p: (-taps.get(p, 0), names.get(p, "")))
    rows = tuple((names.get(p, str(p)), taps.get(p, 0), owners.get(p, 0) / months,
                  service.get(p, 0), resales.get(p, 0)) for p in ids)
    notes = (words(N_("Owners: owners with a genuine tap, exact per product and month, averaged "
                      "over the %(months)s calendar months the dates touch."), months=months),
             *_ignored(f, m.TAPS, m.OWNERS_MONTH, m.SERVICE_REQUESTS))
    return Panel("products", N_("Products"), (Table(
        "products", N_("Taps, owners, service requests and resales by product"),
        (Column("product", N_("Product"), "text"), Column("genuine_taps", N_("Genuine taps")),
         Column("owners_per_month", N_("Owners per month"), "ratio"),
         Column("service_requests", N_("Service requests")), Column("resales", N_("Resales"))),
        rows, Chart("hbar", "product", ("genuine_taps",), "nominal", N_("Genuine taps"))),),
        _fresh(session, m.TAPS, m.OWNERS_MONTH, m.SERVICE_REQUESTS, m.RESALES), notes)


def journeys(session: Session, f: Filters) -> Panel:
    """Per journey and ruleset version: decisions, owners served, and what followed within 7
    days (review, reveal, service) as counts and rates."""
    decisions = _totals(session, f, m.DECISIONS, "journey", "bucket")
    owners = _totals(session, f, m.JOURNEY_OWNERS, "journey", "bucket")
    following = _totals(session, f, m.JOURNEY_NEXT, "journey", "bucket")
    per_journey = _totals(session, f, m.DECISIONS, "journey")
    rows = []
    for journey, version in sorted(set(decisions) | set(owners),
                                   key=lambda k: (-per_journey.get(k[0], 0), k)):
        n = decisions.get((journey, version), 0)
        rows.append((journey or "—", version, n, owners.get((journey, version), 0)))
    next_rows = tuple(
        (journey or "—", per_journey[journey],
         *(x for kind in ("review", "reveal", "service") for x in (
             following.get((journey, kind), 0),
             _share(following.get((journey, kind), 0), per_journey[journey]))))
        for journey in sorted(per_journey, key=lambda j: (-per_journey[j], j)))
    notes = (words(N_("Owners are distinct within a day; added over days, an owner served on "
                      "two days counts twice.")),
             words(N_("An action is credited to the last journey that served the item before "
                      "it, within 7 days of the decision; counted on the decision's day.")),
             *_ignored(f, m.DECISIONS))
    return Panel("journeys", N_("Journeys"), (
        Table("journeys", N_("Decisions and owner-days by journey and ruleset version"),
              (Column("journey", N_("Journey"), "code"), Column("version", N_("Version"), "code"),
               Column("decisions", N_("Decisions")), Column("owner_days", N_("Owner-days"))),
              tuple(rows)),
        Table("journeys-next", N_("What followed within 7 days, by journey"),
              (Column("journey", N_("Journey"), "code"), Column("decisions", N_("Decisions")),
               Column("reviews", N_("Reviews")), Column("review_rate", N_("Review rate"), "pct"),
               Column("reveals", N_("Reveals")), Column("reveal_rate", N_("Reveal rate"), "pct"),
               Column("services", N_("Service requests")),
               Column("service_rate", N_("Service rate"), "pct")), next_rows,
              Chart("hbar", "journey", ("review_rate", "reveal_rate", "service_rate"),
                    "nominal", N_("Rate"), percent=True))),
        _fresh(session, m.DECISIONS, m.JOURNEY_OWNERS, m.JOURNEY_NEXT), notes)


def rewards(session: Session, f: Filters) -> Panel:
    """Per reward: grants, reveals and participation, wins, redeemed; per prize: wins and the
    live stock left; budget left; points issued and spent."""
    grants = _totals(session, f, m.REWARD_GRANTS, "bucket")
    reveals = _totals(session, f, m.REWARD_REVEALS, "bucket")
    redeemed = _totals(session, f, m.REWARD_REDEEMED, "bucket")
    wins = _totals(session, f, m.REWARD_WINS, "bucket")
    won: dict[str, int] = defaultdict(int)
    for bucket, n in wins.items():
        won[bucket.partition("|")[0]] += n
    slug = session.scalar(select(Brand.slug).where(Brand.id == f.brand_id)) or ""
    pools = {row.reward_id: row for row in session.execute(
        select(reward_pools.c.id, reward_pools.c.reward_id, reward_pools.c.budget,
               reward_pools.c.given).where(reward_pools.c.brand == slug))}
    ids = sorted(set(grants) | set(reveals) | set(won) | set(redeemed),
                 key=lambda r: (-grants.get(r, 0), r))
    reward_rows = tuple(
        (r, grants.get(r, 0), reveals.get(r, 0), _share(reveals.get(r, 0), grants.get(r, 0)),
         won.get(r, 0), redeemed.get(r, 0),
         (pools[r].budget - pools[r].given) if r in pools and pools[r].budget is not None
         else None) for r in ids)
    prizes = {(row.reward_id, row.prize_id): row for row in session.execute(
        select(reward_pools.c.reward_id, reward_prizes.c.prize_id, reward_prizes.c.stock,
               reward_prizes.c.given)
        .join(reward_pools, reward_prizes.c.pool_id == reward_pools.c.id)
        .where(reward_pools.c.brand == slug, reward_prizes.c.retired.is_(False)))}
    win_keys = {tuple(b.split("|", 1)) for b in wins if "|" in b}
    prize_rows = tuple(
        (r, p, wins.get(f"{r}|{p}", 0),
         prizes[(r, p)].given if (r, p) in prizes else None,
         prizes[(r, p)].stock if (r, p) in prizes else None,
         (prizes[(r, p)].stock - prizes[(r, p)].given)
         if (r, p) in prizes and prizes[(r, p)].stock is not None else None)
        for r, p in sorted(win_keys | set(prizes)))
    points = _totals(session, f, m.POINTS, "bucket")
    points_rows = tuple((translate(label), points.get(kind, 0))
                        for kind, label in POINT_WORDS.items())
    notes = (words(N_("Participation is reveals over grants. Stock and budget left are live "
                      "(now), whatever dates are chosen.")),
             *_ignored(f, m.REWARD_GRANTS, m.POINTS))
    return Panel("rewards", N_("Rewards"), (
        Table("rewards", N_("Grants, reveals, wins and redemptions by reward"),
              (Column("reward", N_("Reward"), "code"), Column("grants", N_("Grants")),
               Column("reveals", N_("Reveals")),
               Column("participation", N_("Participation"), "pct"), Column("wins", N_("Wins")),
               Column("redeemed", N_("Redeemed")),
               Column("budget_left", N_("Budget left (now)"))), reward_rows,
              Chart("hbar", "reward", ("grants", "reveals", "wins", "redeemed"), "nominal",
                    N_("Count"))),
        Table("rewards-prizes", N_("Wins and stock by prize"),
              (Column("reward", N_("Reward"), "code"), Column("prize", N_("Prize"), "code"),
               Column("wins", N_("Wins in the dates chosen")),
               Column("given", N_("Given in all (now)")), Column("stock", N_("Stock")),
               Column("left", N_("Left (now)"))), prize_rows),
        Table("rewards-points", N_("Points"),
              (Column("movement", N_("Movement"), "text"), Column("points", N_("Points"))),
              points_rows)),
        _fresh(session, m.REWARD_GRANTS, m.REWARD_REVEALS, m.REWARD_WINS, m.REWARD_REDEEMED,
               m.POINTS), notes,
        ((N_("Points issued"), points.get("earn", 0), "int"),
         (N_("Points spent"), points.get("spend", 0), "int")))


def messages(session: Session, f: Filters) -> Panel:
    """Per schedule: messages sent, deferred, suppressed and failed, and those followed within
    7 days by a tap or a reveal."""
    states = _totals(session, f, m.MESSAGES, "journey", "bucket")
    followed = _totals(session, f, m.MESSAGES_FOLLOWED, "journey", "bucket")
    # Went out: an email the mail server accepted (its last state) or a webhook the CRM took;
    # the tap rate divides by these, the messages "followed" counts among.
    def went_out(schedule: str) -> int:
        return sum(states.get((schedule, state), 0) for state in WENT_OUT)

    schedules = sorted({s for s, _ in states} | {s for s, _ in followed},
                       key=lambda s: (-went_out(s), s))
    shown = ("deferred", "suppressed", "failed")
    rows = tuple(
        (s, went_out(s), *(states.get((s, state), 0) for state in shown),
         sum(n for (sched, state), n in states.items()
             if sched == s and state not in shown and state not in WENT_OUT),
         followed.get((s, "tap"), 0), followed.get((s, "reveal"), 0),
         _share(followed.get((s, "tap"), 0), went_out(s)))
        for s in schedules)
    notes = (words(N_("Followed: sent messages after which the owner's item had a genuine tap, "
                      "or the owner revealed a reward, within 7 days; a message followed by "
                      "both counts in each.")), *_ignored(f, m.MESSAGES))
    return Panel("messages", N_("Messages"), (Table(
        "messages", N_("Messages by schedule and what became of them"),
        (Column("schedule", N_("Schedule"), "code"), Column("sent", N_("Sent")),
         Column("deferred", N_("Deferred")), Column("suppressed", N_("Suppressed")),
         Column("failed", N_("Failed")), Column("other", N_("Other")),
         Column("followed_tap", N_("Followed by a tap")),
         Column("followed_reveal", N_("Followed by a reveal")),
         Column("tap_rate", N_("Tap rate"), "pct")), rows,
        Chart("hbar", "schedule", ("sent", "deferred", "suppressed"), "nominal",
              N_("Messages"))),),
        _fresh(session, m.MESSAGES, m.MESSAGES_FOLLOWED), notes)


def lift(session: Session, f: Filters, holdouts: Mapping[str, float] | None = None) -> Panel:
    """Per reward with a holdout and per outcome: exposed against held-out owners first exposed
    in the range, the difference with its 95% interval and one sentence
    (``app.insights.state.lift_report``). ``holdouts``: each reward's declared holdout
    percentage (its ruleset); a reward without one gets its counts and no verdict."""
    report = lift_report(session, f.brand_id, f.start, f.end, holdouts)
    # Only rewards that hold owners out can be measured; a row per outcome saying "no one is
    # held out" for every other reward would bury the ones that can.
    measured = [r for r in report if r.holdout_percent or r.held_out]
    without = sorted({r.reward for r in report} - {r.reward for r in measured})
    rows = tuple(
        (r.reward, translate(OUTCOME_WORDS.get(r.outcome, r.outcome)), r.sentence,
         r.exposed_successes, r.exposed, _share(r.exposed_successes, r.exposed),
         r.held_out_successes, r.held_out,
         _share(r.held_out_successes, r.held_out),
         r.lift.difference if r.lift else None, r.lift.low if r.lift else None,
         r.lift.high if r.lift else None)
        for r in measured)
    notes: tuple[Words, ...] = (
        words(N_("Owners first exposed between the dates chosen; intervals hold the true "
                 "difference 95 times in 100 (Newcombe). A reward whose holdout is unknown "
                 "shows counts only.")),)
    if without:
        notes += (words(N_("Not measured, as they hold no owner out: %(rewards)s."),
                        rewards=", ".join(without)),)
    notes += tuple(_ignored(f, m.LIFT))
    return Panel("lift", N_("Lift"), (Table(
        "lift", N_("Exposed against held-out owners, by reward and outcome"),
        # What it means first: on a phone it is what shows without scrolling the table.
        (Column("reward", N_("Reward"), "code"), Column("outcome", N_("Outcome"), "text"),
         Column("verdict", N_("What it means"), "words"),
         Column("exposed_successes", N_("Exposed with outcome")),
         Column("exposed", N_("Exposed")), Column("exposed_rate", N_("Exposed rate"), "pct"),
         Column("held_out_successes", N_("Held out with outcome")),
         Column("held_out", N_("Held out")),
         Column("held_out_rate", N_("Held-out rate"), "pct"),
         Column("difference", N_("Difference"), "pct"),
         Column("low", N_("Interval low"), "pct"), Column("high", N_("Interval high"), "pct")),
        rows,
        Chart("interval", "reward", ("difference", "low", "high"), "nominal",
              N_("Difference (exposed minus held out)"), percent=True, series="outcome")),),
        _fresh(session, m.LIFT), notes)


def integrity(session: Session, f: Filters) -> Panel:
    """Invalid and replayed taps by period, genuine taps off their market (market to country)
    and alerts raised by kind."""
    failed: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
    for cell in _read(session, f, m.TAPS, ("day", "bucket")):
        if cell.bucket == GENUINE:
            continue
        index = 0 if cell.bucket == INVALID else 1 if cell.bucket == REPLAYED else 2
        failed[period_start(cell.day, f.grain)][index] += cell.value
    failed_rows = tuple((day, *v, _days_in(day, f)) for day, v in sorted(failed.items()))
    off = _totals(session, f, m.OFF_MARKET, "market", "country")
    off_rows = tuple((market, country, n) for (market, country), n in sorted(
        off.items(), key=lambda kv: (-kv[1], kv[0])))
    alerts = _totals(session, f, m.ALERTS, "bucket")
    alert_rows = tuple((translate(ALERT_WORDS.get(kind, kind)), alerts.get(kind, 0))
                       for kind in sorted(set(ALERT_WORDS) | set(alerts)))
    notes = (words(N_("Off market: genuine taps where the item's market and the tap's country "
                      "are both known and differ.")), *_ignored(f, m.TAPS, m.ALERTS))
    return Panel("integrity", N_("Integrity"), (
        Table("integrity", N_("Failed taps by period and verdict"),
              (_period_column(f), Column("invalid", N_("Invalid")),
               Column("replayed", N_("Replayed")), Column("other_failed", N_("Other failed")),
               Column("days", N_("Days counted"))),
              failed_rows, Chart("line", "period", ("invalid", "replayed", "other_failed"),
                                 "temporal", N_("Taps")), _partial(failed_rows, f)),
        Table("integrity-off-market", N_("Genuine taps outside the item's market"),
              (Column("market", N_("Item's market"), "code"),
               Column("country", N_("Tapped in"), "code"), Column("taps", N_("Taps"))),
              off_rows),
        Table("integrity-alerts", N_("Alerts raised by kind"),
              (Column("kind", N_("Kind"), "text"), Column("alerts", N_("Alerts"))),
              alert_rows)),
        _fresh(session, m.TAPS, m.OFF_MARKET, m.ALERTS), notes)


@dataclass(frozen=True)
class TapLine:
    """One raw tap of the drill-down: nothing personal (no place finer than the country)."""

    at: datetime
    verdict: str
    country: str | None
    reason: str | None
    journey: str | None


def item_taps(session: Session, brand_id: int, serial: str, start: date,
              end: date) -> list[TapLine]:
    """Return the raw taps of the brand's item ``serial`` between ``start`` and ``end`` (UTC
    days, both included), newest first, at most ``DRILL_DOWN_ROWS``.

    Raises BadFilter when the range is backwards or longer than ``DRILL_DOWN_DAYS``."""
    if start > end or (end - start).days + 1 > DRILL_DOWN_DAYS:
        raise BadFilter(N_("Choose at most %(days)s days for one item's taps."),
                        days=DRILL_DOWN_DAYS)
    items = select(Item.id).join(Product, Item.product_id == Product.id).where(
        Product.brand_id == brand_id, Item.serial == serial)
    rows = session.execute(
        select(TapEvent.at, TapEvent.verdict, TapEvent.country, TapEvent.reason,
               TapEvent.journey)
        .where(TapEvent.item_id.in_(items),
               TapEvent.at >= datetime.combine(start, time.min, UTC),
               TapEvent.at < datetime.combine(end + timedelta(days=1), time.min, UTC))
        .order_by(TapEvent.at.desc()).limit(DRILL_DOWN_ROWS))
    return [TapLine(r.at, r.verdict, r.country, r.reason, r.journey) for r in rows]


def has_item(session: Session, brand_id: int, serial: str) -> bool:
    """Return True when the brand has an item with this serial (another brand's does not
    count)."""
    return session.scalar(select(Item.id).join(Product, Item.product_id == Product.id)
                          .where(Product.brand_id == brand_id, Item.serial == serial)
                          .limit(1)) is not None


@dataclass(frozen=True)
class FailedItem:
    """One item of the brand with failed taps in a range: its serial, product and counts."""

    serial: str
    product: str
    invalid: int
    replayed: int
    other: int
    last_at: datetime


def failed_items(session: Session, brand_id: int, start: date, end: date,
                 limit: int = 50) -> list[FailedItem]:
    """Return the brand's items with the most failed taps (invalid, replayed, other) between
    ``start`` and ``end`` (UTC days, both included), most first, at most ``limit``: the drill-down
    behind the integrity panel's daily counts, read from raw taps (the cube has no item).

    Raises BadFilter when the range is backwards or longer than ``DRILL_DOWN_DAYS``."""
    if start > end or (end - start).days + 1 > DRILL_DOWN_DAYS:
        raise BadFilter(N_("Choose at most %(days)s days for items with failed taps."),
                        days=DRILL_DOWN_DAYS)
    failed = TapEvent.verdict != GENUINE
    count = func.count()
    rows = session.execute(
        select(Item.serial, Product.name,
               func.sum(case((TapEvent.verdict == INVALID, 1), else_=0)).label("invalid"),
               func.sum(case((TapEvent.verdict == REPLAYED, 1), else_=0)).label("replayed"),
               count.label("failed"), func.max(TapEvent.at).label("last_at"))
        .join(Item, Item.id == TapEvent.item_id).join(Product, Product.id == Item.product_id)
        .where(Product.brand_id == brand_id, failed,
               TapEvent.at >= datetime.combine(start, time.min, UTC),
               TapEvent.at < datetime.combine(end + timedelta(days=1), time.min, UTC))
        .group_by(Item.id, Item.serial, Product.name)
        .order_by(count.desc(), Item.serial).limit(limit))
    return [FailedItem(r.serial, r.name, int(r.invalid), int(r.replayed),
                       int(r.failed) - int(r.invalid) - int(r.replayed), utc(r.last_at))
            for r in rows]


PanelFunction = Callable[[Session, Filters], Panel]
PANELS: Final[Mapping[str, PanelFunction]] = {
    "engagement": engagement, "activation": activation, "routine": routine, "funnel": funnel,
    "geography": geography, "products": products, "journeys": journeys, "rewards": rewards,
    "messages": messages, "lift": lift, "integrity": integrity,
}


def all_panels(session: Session, filters: Filters,
               holdouts: Mapping[str, float] | None = None) -> list[Panel]:
    """Return every panel in page order (``holdouts``: see ``lift``)."""
    return [lift(session, filters, holdouts) if key == "lift" else panel(session, filters)
            for key, panel in PANELS.items()]
