"""The rollup refresh (``app.insights.refresh``) on hand-built events, on both backends: local
days per brand, verdicts, journeys, owners by the ownership current at each tap, exact distinct
counts per period, idempotence, the settle window, brand isolation; the scheduler's duty and the
CLI command."""

from __future__ import annotations

import itertools
import secrets
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from app.aftersales.models import ServiceRequest
from app.catalog.models import Brand, Item, Owner, Ownership, Product
from app.insights import metrics as m
from app.insights.models import CubeCell, RefreshMark
from app.insights.refresh import RefreshReport, refresh
from app.insights.rollups import taps as taps_module
from app.insights.rollups.taps import whole_months
from app.rewards.models import ProductReview, RewardGrant, RewardPool
from app.scheduler.jobs import duty_jobs
from app.scheduler.runs import due_slots, run_due
from app.verify.models import TapEvent
from tests.factories import gtin

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
PARIS, NEW_YORK = "Europe/Paris", "America/New_York"
_serials = itertools.count(1)


@dataclass
class World:
    a: int  # brand in Paris
    b: int  # brand in New York
    a1: int  # products
    a2: int
    b1: int


def _world(db: Session) -> World:
    a = Brand(slug=f"a-{secrets.token_hex(3)}", name="A", timezone=PARIS)
    b = Brand(slug=f"b-{secrets.token_hex(3)}", name="B", timezone=NEW_YORK)
    products = [Product(brand=brand, gtin=gtin(), name=name, category="bag")
                for brand, name in ((a, "A1"), (a, "A2"), (b, "B1"))]
    db.add_all([a, b, *products])
    db.commit()
    return World(a.id, b.id, *(p.id for p in products))


@pytest.fixture
def world(db: Session) -> World:
    return _world(db)


def item(db: Session, product: int, market: str | None = "FR") -> int:
    row = Item(product_id=product, serial=f"S{next(_serials):07d}", market=market, released=True)
    db.add(row)
    db.commit()
    return row.id


def owner(db: Session) -> int:
    row = Owner(public_id=secrets.token_urlsafe(32))
    db.add(row)
    db.commit()
    return row.id


def own(db: Session, item_id: int, owner_id: int, start: datetime, end: datetime | None = None,
        began_by: str = "first_tap") -> None:
    ordinal = 1 + (db.scalar(select(func.count()).select_from(Ownership)
                             .where(Ownership.item_id == item_id)) or 0)
    db.add(Ownership(item_id=item_id, owner_id=owner_id, ordinal=ordinal, began_by=began_by,
                     started_at=start, ended_at=end, ended_by="transfer" if end else None))
    db.commit()


def tap(db: Session, item_id: int | None, at: datetime, verdict: str = "genuine",
        country: str | None = None, journey: str | None = None,
        version: str | None = None) -> int:
    row = TapEvent(at=at, verdict=verdict, item_id=item_id, country=country, journey=journey,
                   ruleset_version=version)
    db.add(row)
    db.commit()
    return row.id


def run(app: Any, now: datetime = NOW, **config: Any) -> RefreshReport:
    """One refresh in its own transaction, committed, as the scheduler runs it."""
    with app.extensions["aftertap.db"].sessionmaker() as session:
        report = refresh(session, {**app.config, **config}, now)
        session.commit()
    return report


def cells(db: Session, brand: int, metric: str) -> dict[tuple[Any, ...], int]:
    """The brand's cells of ``metric``: (day, product, market, country, journey, bucket) ->
    value."""
    rows = db.execute(select(CubeCell).where(CubeCell.brand_id == brand,
                                             CubeCell.metric == metric)).scalars()
    return {(c.day, c.product_id, c.market, c.country, c.journey, c.bucket): c.value
            for c in rows}


def total(db: Session, brand: int, metric: str, **where: Any) -> int:
    query = select(func.coalesce(func.sum(CubeCell.value), 0)).where(
        CubeCell.brand_id == brand, CubeCell.metric == metric)
    for name, value in where.items():
        query = query.where(getattr(CubeCell, name) == value)
    return int(db.scalar(query) or 0)


def cube(db: Session) -> dict[tuple[Any, ...], int]:
    return {(c.brand_id, c.metric, c.day, c.product_id, c.market, c.country, c.journey,
             c.bucket): c.value for c in db.execute(select(CubeCell)).scalars()}


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


D = date(2026, 3, 10)  # a Tuesday


# --- days, verdicts, journeys ---------------------------------------------------------------


def test_taps_land_on_each_brands_local_day_by_verdict_market_country_journey(app, db, world):
    paris = item(db, world.a1, market="FR")
    york = item(db, world.b1, market="US")
    tap(db, paris, at(D, 23, 30), country="FR", journey="care", version="v1")  # 00:30 in Paris
    tap(db, paris, at(D, 22, 30), verdict="replayed", country="DE")  # 23:30 in Paris
    tap(db, york, at(D, 3, 0), country="US")  # 23:00 the day before in New York
    tap(db, None, at(D, 12), verdict="unknown_tag")  # no item: no brand to count it for

    report = run(app)

    assert report.taps == 3
    assert cells(db, world.a, m.TAPS) == {
        (D + timedelta(days=1), world.a1, "FR", "FR", "care", "genuine"): 1,
        (D, world.a1, "FR", "DE", "", "replayed"): 1,
    }
    assert cells(db, world.b, m.TAPS) == {
        (D - timedelta(days=1), world.b1, "US", "US", "", "genuine"): 1}


def test_decisions_and_journey_owners_count_genuine_taps_a_journey_served(app, db, world):
    x, y = item(db, world.a1), item(db, world.a1)
    ana, bob = owner(db), owner(db)
    own(db, x, ana, at(D, 0))
    own(db, y, bob, at(D, 0))
    for hour in (8, 9):  # Ana twice: one owner
        tap(db, x, at(D, hour), journey="care", version="v1")
    tap(db, y, at(D, 10), journey="care", version="v1")
    tap(db, y, at(D, 11), journey="care", version="v2")
    tap(db, y, at(D, 12), verdict="replayed", journey="care", version="v1")  # not a decision
    tap(db, x, at(D, 13))  # no journey served it

    run(app)

    assert cells(db, world.a, m.DECISIONS) == {
        (D, 0, "", "", "care", "v1"): 3, (D, 0, "", "", "care", "v2"): 1}
    assert cells(db, world.a, m.JOURNEY_OWNERS) == {
        (D, 0, "", "", "care", "v1"): 2, (D, 0, "", "", "care", "v2"): 1}


def test_off_market_needs_both_codes_and_a_difference(app, db, world):
    fr, unknown = item(db, world.a1, market="FR"), item(db, world.a1, market=None)
    tap(db, fr, at(D, 9), country="CN")
    tap(db, fr, at(D, 10), country="FR")
    tap(db, fr, at(D, 11))
    tap(db, unknown, at(D, 12), country="CN")
    tap(db, fr, at(D, 13), verdict="replayed", country="CN")

    run(app)

    assert cells(db, world.a, m.OFF_MARKET) == {(D, world.a1, "FR", "CN", "", ""): 1}


# --- owners ------------------------------------------------------------------------------------


def test_a_tap_counts_for_the_owner_of_the_moment_and_a_transfer_is_a_resale(app, db, world):
    x = item(db, world.a1)
    ana, bob = owner(db), owner(db)
    handover = at(D, 12)
    own(db, x, ana, at(D - timedelta(days=62), 9), end=handover)
    own(db, x, bob, handover, began_by="transfer")
    tap(db, x, at(D, 8))  # Ana's, two whole months into her ownership
    tap(db, x, at(D, 15))  # Bob's, his first hours
    tap(db, x, at(D, 16))  # Bob's again

    run(app)

    assert total(db, world.a, m.OWNERS_DAY, day=D, product_id=0) == 2
    assert total(db, world.a, m.OWNERS_DAY, day=D, product_id=world.a1) == 2
    assert total(db, world.a, m.ITEMS_DAY, day=D, product_id=0) == 1
    assert cells(db, world.a, m.LIFECYCLE_TAPS) == {
        (D.replace(day=1), world.a1, "FR", "", "", "2"): 1,
        (D.replace(day=1), world.a1, "FR", "", "", "0"): 2,
    }
    assert cells(db, world.a, m.RESALES) == {(D, world.a1, "", "", "", ""): 1}
    assert total(db, world.a, m.ROUTINE_OWNERS, day=D.replace(day=1)) == 2


def test_an_unowned_item_counts_as_an_item_but_for_no_owner(app, db, world):
    x = item(db, world.a1)
    tap(db, x, at(D, 8))
    run(app)
    assert total(db, world.a, m.ITEMS_DAY) == 2  # its product's row and the all-products row
    assert total(db, world.a, m.OWNERS_DAY) == 0
    assert total(db, world.a, m.LIFECYCLE_TAPS) == 0


def test_whole_months_follow_the_calendar():
    start = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
    assert whole_months(start, datetime(2026, 2, 15, 8, 59, tzinfo=UTC), "UTC") == 0
    assert whole_months(start, datetime(2026, 2, 15, 9, 0, tzinfo=UTC), "UTC") == 1
    assert whole_months(start, datetime(2028, 3, 1, tzinfo=UTC), "UTC") == 25


# --- exact distinct counts ---------------------------------------------------------------------


def test_week_and_month_uniques_are_exact_and_product_zero_is_the_whole_brand(app, db, world):
    x, y = item(db, world.a1), item(db, world.a2)
    ana = owner(db)
    own(db, x, ana, at(D - timedelta(days=30), 0))
    own(db, y, ana, at(D - timedelta(days=30), 0))
    monday = D - timedelta(days=1)
    tap(db, x, at(D, 9))  # Tuesday
    tap(db, x, at(D + timedelta(days=2), 9))  # Thursday, same week: x once
    tap(db, y, at(D, 10))
    tap(db, x, at(monday - timedelta(days=1), 9))  # Sunday: the week before, same month

    run(app)

    assert cells(db, world.a, m.ITEMS_WEEK) == {
        (monday, world.a1, "", "", "", ""): 1, (monday, world.a2, "", "", "", ""): 1,
        (monday, 0, "", "", "", ""): 2,
        (monday - timedelta(days=7), world.a1, "", "", "", ""): 1,
        (monday - timedelta(days=7), 0, "", "", "", ""): 1,
    }
    month = D.replace(day=1)
    assert cells(db, world.a, m.ITEMS_MONTH) == {
        (month, world.a1, "", "", "", ""): 1, (month, world.a2, "", "", "", ""): 1,
        (month, 0, "", "", "", ""): 2}
    # Ana holds both products: once for the brand, once per product.
    assert cells(db, world.a, m.OWNERS_MONTH) == {
        (month, world.a1, "", "", "", ""): 1, (month, world.a2, "", "", "", ""): 1,
        (month, 0, "", "", "", ""): 1}
    assert cells(db, world.a, m.OWNERS_WEEK)[(monday, 0, "", "", "", "")] == 1
    assert total(db, world.a, m.ITEMS_DAY, day=D, product_id=0) == 2


def test_a_week_across_two_months_is_one_week(app, db, world):
    x = item(db, world.a1)
    monday = date(2026, 3, 30)
    tap(db, x, at(monday, 9))
    tap(db, x, at(date(2026, 4, 2), 9))  # Thursday, April
    run(app, now=datetime(2026, 4, 10, tzinfo=UTC))
    assert total(db, world.a, m.ITEMS_WEEK, day=monday, product_id=0) == 1
    assert total(db, world.a, m.ITEMS_MONTH, day=date(2026, 4, 1), product_id=0) == 1
    assert total(db, world.a, m.ITEMS_MONTH, day=date(2026, 3, 1), product_id=0) == 1


# --- idempotence, late taps, the settle window -------------------------------------------------


def test_refreshing_twice_changes_nothing_and_a_later_tap_is_picked_up(app, db, world):
    x, y = item(db, world.a1), item(db, world.b1, market="US")
    ana = owner(db)
    own(db, x, ana, at(D - timedelta(days=3), 0))
    tap(db, x, at(D, 9), journey="care", version="v1")
    tap(db, y, at(D, 9), verdict="invalid")
    first = run(app)
    before = cube(db)
    second = run(app)
    assert (first.taps, second.taps, second.tap_cells) == (2, 0, 0)
    assert cube(db) == before

    tap(db, x, at(D, 18), journey="care", version="v1")  # same item, owner and day
    tap(db, y, at(D, 19))
    run(app)
    assert total(db, world.a, m.TAPS) == 2
    assert total(db, world.a, m.ITEMS_DAY, product_id=0) == 1
    assert total(db, world.a, m.OWNERS_MONTH, product_id=0) == 1
    assert total(db, world.a, m.JOURNEY_OWNERS) == 1
    assert total(db, world.a, m.DECISIONS) == 2
    assert total(db, world.b, m.ITEMS_DAY, product_id=0) == 1


def test_taps_younger_than_the_settle_window_wait(app, db, world):
    x = item(db, world.a1)
    tap(db, x, NOW - timedelta(seconds=40))
    tap(db, x, NOW - timedelta(seconds=10))
    assert run(app).taps == 1
    assert run(app, now=NOW + timedelta(seconds=25)).taps == 1
    assert total(db, world.a, m.TAPS) == 2


def test_a_younger_tap_with_a_lower_id_holds_back_the_older_ones_after_it(app, db, world):
    # Two servers' clocks a little apart (or a slow request): id order is not time order. The
    # mark must not pass the young tap, or it would never be read.
    x = item(db, world.a1)
    tap(db, x, NOW - timedelta(seconds=5))
    tap(db, x, NOW - timedelta(seconds=60))
    assert run(app).taps == 0
    assert run(app, now=NOW + timedelta(minutes=1)).taps == 2
    assert total(db, world.a, m.TAPS) == 2


def test_a_backlog_past_the_cap_is_caught_up_over_several_refreshes(app, db, world):
    x = item(db, world.a1)
    for hour in range(5):
        tap(db, x, at(D, hour + 8))
    first = run(app, INSIGHTS_REFRESH_MAX_TAPS=2)
    assert (first.taps, first.pending) == (2, True)
    assert run(app, INSIGHTS_REFRESH_MAX_TAPS=2).pending
    last = run(app, INSIGHTS_REFRESH_MAX_TAPS=2)
    assert (last.taps, last.pending) == (1, False)
    assert total(db, world.a, m.TAPS) == 5
    assert total(db, world.a, m.ITEMS_DAY, product_id=0) == 1


def test_two_refreshes_at_once_count_each_tap_once(app, db, world, monkeypatch):
    run(app)  # the marks exist
    x = item(db, world.a1)
    for hour in range(4):
        tap(db, x, at(D, hour + 8))
    # The first refresh stops between reading its mark and writing its cells while a second
    # one starts: the mark's lock must keep the second one waiting until the first commits.
    paused, go = threading.Event(), threading.Event()
    original = taps_module.add_cells

    def add_cells(session: Session, cells: Any) -> int:
        if not paused.is_set():
            paused.set()
            go.wait(20)
        return original(session, cells)

    monkeypatch.setattr(taps_module, "add_cells", add_cells)
    reports: list[RefreshReport] = []

    def refresh_in_thread() -> None:
        reports.append(run(app))

    first = threading.Thread(target=refresh_in_thread)
    first.start()
    assert paused.wait(20)
    second = threading.Thread(target=refresh_in_thread)
    second.start()
    second.join(0.5)
    go.set()
    first.join(20)
    second.join(20)
    assert sorted(r.taps for r in reports) == [0, 4]
    assert total(db, world.a, m.TAPS) == 4


# --- brand isolation ---------------------------------------------------------------------------


def test_a_brands_cells_hold_only_its_own_taps(app, db, world):
    a_item, b_item = item(db, world.a1), item(db, world.b1, market="US")
    shared = owner(db)  # one person owning an item of each brand
    own(db, a_item, shared, at(D - timedelta(days=1), 0))
    own(db, b_item, shared, at(D - timedelta(days=1), 0))
    tap(db, b_item, at(D, 15), journey="welcome", version="b1")
    tap(db, a_item, at(D, 16), journey="care", version="a1")
    tap(db, b_item, at(D, 17), journey="welcome", version="b1")

    run(app)

    products = {world.a: {0, world.a1, world.a2}, world.b: {0, world.b1}}
    for (brand, _metric, *_rest), _value in cube(db).items():
        assert _rest[1] in products[brand]
    assert total(db, world.a, m.TAPS) == 1 and total(db, world.b, m.TAPS) == 2
    # The owner's B taps came first: A still counts them as new that day.
    assert total(db, world.a, m.OWNERS_DAY, product_id=0) == 1
    assert total(db, world.b, m.OWNERS_DAY, product_id=0) == 1
    assert set(cells(db, world.a, m.JOURNEY_OWNERS)) == {(D, 0, "", "", "care", "a1")}


# --- what followed a decision, service requests ----------------------------------------------


def _pool(db: Session) -> int:
    pool = RewardPool(brand="a", reward_id=f"r{secrets.token_hex(3)}", mechanic="instant",
                      budget=10)
    db.add(pool)
    db.commit()
    return pool.id


def test_actions_are_credited_to_the_items_last_journey_within_seven_days(app, db, world):
    x, y = item(db, world.a1), item(db, world.a1)
    ana = owner(db)
    own(db, x, ana, at(D - timedelta(days=1), 0))
    ownership = db.scalar(select(Ownership.id).where(Ownership.item_id == x))
    decision = tap(db, x, at(D, 23, 30), journey="unboxing", version="v1")  # Paris: the 11th
    tap(db, x, at(D + timedelta(days=1), 9))  # a tap no journey served: not a decision
    db.add(ProductReview(owner_id=ana, product_id=world.a1, item_id=x, rating=5, text="ok",
                         created_at=at(D + timedelta(days=2), 9)))
    db.add(RewardGrant(pool_id=_pool(db), tap_event_id=decision, item_id=x, journey="unboxing",
                       token=secrets.token_urlsafe(32), created_at=at(D, 23, 30),
                       revealed_at=at(D + timedelta(days=8), 9)))  # too late
    db.commit()
    tap(db, y, at(D + timedelta(days=3), 9), journey="care", version="v1")
    db.add(ServiceRequest(item_id=y, ownership_id=ownership, kind="repair", message="strap",
                          under_warranty=True, created_at=at(D + timedelta(days=4), 9)))
    db.commit()

    report = run(app)

    assert report.actions == 2
    assert cells(db, world.a, m.JOURNEY_NEXT) == {
        (D + timedelta(days=1), 0, "", "", "unboxing", "review"): 1,
        (D + timedelta(days=3), 0, "", "", "care", "service"): 1,
    }
    assert cells(db, world.a, m.SERVICE_REQUESTS) == {
        (D + timedelta(days=4), world.a1, "", "", "", ""): 1}
    assert run(app).actions == 0  # read once
    assert total(db, world.a, m.JOURNEY_NEXT) == 2


def test_an_action_inside_the_settle_window_waits(app, db, world):
    x = item(db, world.a1)
    ana = owner(db)
    own(db, x, ana, at(D, 0))
    tap(db, x, NOW - timedelta(hours=1), journey="care", version="v1")
    db.add(ProductReview(owner_id=ana, product_id=world.a1, item_id=x, rating=4, text="",
                         created_at=NOW - timedelta(seconds=5)))
    db.commit()
    assert run(app).actions == 0
    assert run(app, now=NOW + timedelta(minutes=1)).actions == 1


# --- properties --------------------------------------------------------------------------------

START = datetime(2026, 1, 26, tzinfo=UTC)  # taps over ~40 days: weeks and months both turn
_tap_st = st.tuples(st.integers(0, 5),  # which item
                    st.integers(0, 40 * 24 * 60),  # minutes after START
                    st.sampled_from(["genuine", "genuine", "replayed", "invalid"]))


@pytest.fixture
def property_world(app, db) -> tuple[World, list[tuple[int, int]]]:
    """Two brands and six items: ``(world, [(item id, product id), ...])``."""
    world = _world(db)
    products = (world.a1, world.a2, world.a1, world.b1, world.b1, world.a2)
    return world, [(item(db, p), p) for p in products]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(taps=st.lists(_tap_st, max_size=40), cuts=st.lists(st.integers(1, 40), max_size=4))
def test_cube_totals_and_uniques_match_the_raw_taps_however_refreshes_split_them(
        app, db, property_world, taps, cuts):
    world, items = property_world
    zones = {world.a1: PARIS, world.a2: PARIS, world.b1: NEW_YORK}
    brand_of = {world.a1: world.a, world.a2: world.a, world.b1: world.b}
    db.execute(delete(CubeCell))
    db.execute(delete(RefreshMark))
    db.execute(delete(TapEvent))
    db.commit()
    cuts = [*sorted(set(c for c in cuts if c < len(taps))), len(taps)]
    done = 0
    for cut in cuts:  # insert some, refresh, insert more...
        for index, minutes, verdict in taps[done:cut]:
            tap(db, items[index][0], START + timedelta(minutes=minutes), verdict)
        done = cut
        run(app, now=START + timedelta(days=41))

    expected_taps: Counter[int] = Counter()
    seen: dict[tuple[str, int, int, date], set[int]] = {}
    for index, minutes, verdict in taps:
        item_id, product = items[index]
        brand = brand_of[product]
        expected_taps[brand] += 1
        if verdict != "genuine":
            continue
        day = (START + timedelta(minutes=minutes)).astimezone(ZoneInfo(zones[product])).date()
        for metric, start in ((m.ITEMS_DAY, day), (m.ITEMS_WEEK, day - timedelta(day.weekday())),
                              (m.ITEMS_MONTH, day.replace(day=1))):
            seen.setdefault((metric, brand, 0, start), set()).add(item_id)
            seen.setdefault((metric, brand, product, start), set()).add(item_id)
    for brand in (world.a, world.b):
        assert total(db, brand, m.TAPS) == expected_taps[brand]
    got = {(c.metric, c.brand_id, c.product_id, c.day): c.value
           for c in db.execute(select(CubeCell).where(CubeCell.metric.in_(
               (m.ITEMS_DAY, m.ITEMS_WEEK, m.ITEMS_MONTH)))).scalars()}
    assert got == {key: len(ids) for key, ids in seen.items()}


# --- the scheduler and the CLI -----------------------------------------------------------------


def test_the_scheduler_refreshes_every_minute_without_replaying_missed_minutes(app, db, world):
    (job,) = [j for j in duty_jobs(lambda: {}) if j.id == "insights:refresh"]
    assert (job.cron, job.timezone) == ("* * * * *", "UTC")
    sessions = app.extensions["aftertap.db"].sessionmaker
    with sessions() as session:
        # Six hours down: only the last minute's slot runs; it reads everything anyway.
        assert due_slots(session, job, NOW, timedelta(hours=6)) == [NOW]
    tap(db, item(db, world.a1), at(D, 9))
    ran = run_due(sessions, app.config, job, NOW, timedelta(hours=6))
    assert [r.slot for r in ran] == [NOW]
    assert ran[0].summary.startswith("1 tap(s) into ")
    assert total(db, world.a, m.TAPS) == 1


def test_cli_refresh_prints_the_report_and_catches_up(app, runner, db, world):
    x = item(db, world.a1)
    for hour in range(3):
        tap(db, x, at(D, hour + 8))
    app.config["INSIGHTS_REFRESH_MAX_TAPS"] = 2
    result = runner.invoke(args=["insights", "refresh"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("2 tap(s) into ") and lines[0].endswith("more to catch up")
    assert lines[1].startswith("1 tap(s) into ")
    assert total(db, world.a, m.TAPS) == 3
    again = runner.invoke(args=["insights", "refresh"])
    assert again.output.startswith("0 tap(s) into 0 cell(s)")
    marks = dict(db.execute(text("SELECT name, last_id FROM insight_marks")).all())
    assert marks[m.TAPS] == db.scalar(select(func.max(TapEvent.id)))
