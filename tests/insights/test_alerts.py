"""Integrity alerts from the tap log: ``app.insights.alerts.scan`` over hand-built taps, on both
backends. One alert per item, kind and UTC day; a second scan, or a scan repeated after a
rollback, adds nothing; taps still settling wait; each brand sees its own alerts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.catalog.models import Item
from app.core import signals
from app.core.audit import AuditEntry
from app.core.db import make_engine
from app.core.errors import DomainError, NotFound
from app.insights import alerts, metrics
from app.insights.integrity import Finding, Kind
from app.insights.models import Alert, CubeCell, RefreshMark
from app.verify.models import TapEvent
from tests.factories import tagged_item

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
T = NOW - timedelta(hours=6)  # the day's taps, long settled


@pytest.fixture
def sessions(app) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(app.config["DATABASE_URL"])
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def item(db: Session, market: str | None = "FR", brand: str = "maison-aurelia",
         stolen_at: datetime | None = None) -> int:
    tag = tagged_item(db, market=market, brand=brand)
    if stolen_at is not None:
        db.execute(update(Item).where(Item.id == tag.item.id).values(stolen_at=stolen_at))
        db.commit()
    return tag.item.id


def tap(db: Session, item_id: int, at: datetime, country: str | None, verdict: str = "genuine",
        counter: int | None = None, by_owner: bool | None = None) -> int:
    facts = None if by_owner is None else json.dumps({"owner.is_current": by_owner})
    row = TapEvent(at=at, verdict=verdict, item_id=item_id, country=country, counter=counter,
                   facts=facts)
    db.add(row)
    db.commit()
    return row.id


def scan(app, sessions: sessionmaker[Session], at: datetime = NOW) -> int:  # type: ignore[no-untyped-def]
    with sessions() as session:
        made = alerts.scan(session, app.config, at).created
        session.commit()
    return made


def raised(db: Session) -> set[tuple[int, str, date]]:
    db.expire_all()
    return {(a.item_id, a.kind, a.day) for a in db.scalars(select(Alert))}


def cube(db: Session) -> dict[tuple[date, int, str], int]:
    db.expire_all()
    return {(c.day, c.product_id, c.bucket): c.value
            for c in db.scalars(select(CubeCell).where(CubeCell.metric == metrics.ALERTS))}


def test_hand_built_taps_raise_exactly_the_expected_alerts(app, db, sessions):
    grey = item(db, market="FR")
    tap(db, grey, T, "DE")  # sold for France, tapped in Germany
    clone = item(db, market=None)
    tap(db, clone, T, "FR")
    tap(db, clone, T + timedelta(hours=1), "JP")  # Paris to Tokyo in an hour
    stolen = item(db, market="FR", stolen_at=T - timedelta(days=1))
    tap(db, stolen, T, "FR", by_owner=False)
    replay = item(db, market=None)
    tap(db, replay, T, "FR", counter=5)
    replayed = tap(db, replay, T + timedelta(hours=2), "US", verdict="replayed", counter=5)
    # Nothing to say: at home in its market; the owner checking a stolen item; a replay from
    # the same country; an unknown country; a failed tap.
    quiet = item(db, market="FR")
    tap(db, quiet, T, "FR")
    own = item(db, market="FR", stolen_at=T - timedelta(days=1))
    tap(db, own, T, "FR", by_owner=True)
    tap(db, quiet, T + timedelta(hours=1), "FR", verdict="replayed", counter=1)
    tap(db, quiet, T + timedelta(hours=2), None)
    tap(db, quiet, T + timedelta(hours=3), "JP", verdict="invalid")

    assert scan(app, sessions) == 4
    day = T.date()
    assert raised(db) == {(grey, "off_market", day), (clone, "clone_suspect", day),
                          (stolen, "stolen_seen", day), (replay, "clone_suspect", day)}
    by_item = {a.item_id: a for a in db.scalars(select(Alert))}
    assert by_item[replay].tap_event_id == replayed
    assert by_item[replay].detail == {"first": "FR", "second": "US", "gap_seconds": 7200,
                                      "counter": 5}
    assert by_item[clone].detail["first"] == "FR" and by_item[clone].detail["second"] == "JP"
    assert by_item[clone].detail["needed_seconds"] > 3600
    for alert in by_item.values():
        # Countries, durations, counters: nothing about who tapped.
        assert set(alert.detail) <= {"first", "second", "gap_seconds", "needed_seconds",
                                     "counter"}
    # One cube count per new alert, by product and kind.
    products = dict(db.execute(select(Item.id, Item.product_id)).all())
    # The brand's local day (its time zone is UTC here; see the next test for another).
    assert cube(db) == {(day, products[grey], "off_market"): 1,
                        (day, products[clone], "clone_suspect"): 1,
                        (day, products[stolen], "stolen_seen"): 1,
                        (day, products[replay], "clone_suspect"): 1}
    # The page says it again in words.
    lines, _page, _pages = alerts.alerts_page(db, by_item[clone].brand_id)
    words = {line.serial: alerts.integrity.describe(line.finding) for line in lines}
    assert any("France then Japan" in w for w in words.values())


def test_a_repeat_scan_adds_nothing_and_one_alert_per_item_kind_and_day(app, db, sessions):
    grey = item(db, market="FR")
    tap(db, grey, T, "DE")
    assert scan(app, sessions) == 1
    assert scan(app, sessions) == 0
    assert scan(app, sessions, NOW + timedelta(minutes=1)) == 0
    # The same item seen again off-market the same day: still one alert.
    tap(db, grey, T + timedelta(hours=1), "IT")
    assert scan(app, sessions) == 0
    # The next day is another alert.
    tap(db, grey, T + timedelta(days=1), "IT")
    assert scan(app, sessions, NOW + timedelta(days=1)) == 1
    assert raised(db) == {(grey, "off_market", T.date()),
                          (grey, "off_market", T.date() + timedelta(days=1))}
    assert sum(cube(db).values()) == 2


def test_a_theft_reported_with_an_earlier_time_raises_the_sighting_it_makes(app, db, sessions):
    item_id = item(db, market="FR")
    seen = tap(db, item_id, T, "FR")
    assert scan(app, sessions) == 0
    # Reported stolen since an hour before that tap; the next tap brings the item back in.
    db.execute(update(Item).where(Item.id == item_id).values(stolen_at=T - timedelta(hours=1)))
    db.commit()
    tap(db, item_id, T + timedelta(hours=1), "FR", by_owner=True)
    assert scan(app, sessions) == 1
    db.expire_all()
    [alert] = db.scalars(select(Alert))
    assert (alert.kind, alert.at, alert.tap_event_id) == ("stolen_seen", T, seen)


def test_the_cube_counts_an_alert_on_the_brands_local_day(app, db, sessions):
    from app.catalog.models import Brand

    grey = item(db, market="FR")
    db.execute(update(Brand).values(timezone="Asia/Tokyo"))
    db.commit()
    late = datetime(2026, 11, 29, 20, 0, tzinfo=UTC)  # 05:00 on the 30th in Tokyo
    tap(db, grey, late, "DE")
    assert scan(app, sessions) == 1
    assert raised(db) == {(grey, "off_market", date(2026, 11, 29))}  # alerts: the UTC day
    [(day, _product, kind)] = cube(db)
    assert (day, kind) == (date(2026, 11, 30), "off_market")


def test_the_mark_moves_with_the_alerts_and_a_rolled_back_scan_is_done_again(app, db, sessions):
    grey = item(db, market="FR")
    last = tap(db, grey, T, "DE")
    with sessions() as session:
        assert alerts.scan(session, app.config, NOW).created == 1
        session.rollback()  # a crash before the commit
    db.expire_all()
    assert raised(db) == set() and db.get(RefreshMark, "alerts") is None and cube(db) == {}
    assert scan(app, sessions) == 1
    db.expire_all()
    mark = db.get(RefreshMark, "alerts")
    assert mark is not None and mark.last_id == last and mark.refreshed_at == NOW
    # A mark set back (a restore) raises nothing twice and counts nothing twice.
    db.execute(update(RefreshMark).values(last_id=0))
    db.commit()
    assert scan(app, sessions) == 0
    assert sum(cube(db).values()) == 1


def test_taps_still_settling_wait_and_the_mark_never_passes_them(app, db, sessions):
    grey = item(db, market="FR")
    other = item(db, market="FR")
    # The lower id is younger (its transaction drew its id first but is recent); the higher
    # one settled: reading the higher and moving the mark past both would lose the first.
    young = tap(db, grey, NOW - timedelta(seconds=10), "DE")
    tap(db, other, NOW - timedelta(minutes=5), "DE")
    assert scan(app, sessions) == 0
    db.expire_all()
    mark = db.get(RefreshMark, "alerts")
    assert mark is not None and mark.last_id < young
    assert scan(app, sessions, NOW + timedelta(seconds=30)) == 2


def test_two_scans_at_once_take_turns_and_the_mark_never_goes_back(app, db, sessions):
    import threading

    early = item(db, market="FR")
    tap(db, early, T, "DE")
    assert scan(app, sessions) == 1  # the mark's row exists
    late = item(db, market="FR")
    last = tap(db, late, NOW + timedelta(minutes=30), "DE")
    inside, go_on = threading.Event(), threading.Event()

    def hold(_session: Session, **_kw: object) -> bool:
        inside.set()  # the first scan is under way, its mark not moved yet
        assert go_on.wait(10)
        return True

    answers: dict[str, int] = {}
    signals.alert_raised.connect(hold)
    try:
        first = threading.Thread(target=lambda: answers.update(
            first=scan(app, sessions, NOW + timedelta(hours=1))))
        first.start()
        assert inside.wait(10)
        # A scan with an earlier clock (another process) starts meanwhile: it must wait for
        # the first, then read the mark the first left, not write its own older one over it.
        second = threading.Thread(target=lambda: answers.update(second=scan(app, sessions)))
        second.start()
        second.join(timeout=0.5)
        assert second.is_alive()
        go_on.set()
        first.join(timeout=10)
        second.join(timeout=10)
    finally:
        go_on.set()
        signals.alert_raised.disconnect(hold)
    assert answers == {"first": 1, "second": 0}
    db.expire_all()
    mark = db.get(RefreshMark, "alerts")
    assert mark is not None and mark.last_id == last


def test_a_small_batch_raises_the_same_alerts(app, db, sessions, monkeypatch):
    clone = item(db, market=None)
    for hour in range(6):
        tap(db, clone, T + timedelta(hours=hour), ("FR", "JP")[hour % 2])
    tap(db, clone, T + timedelta(days=1), "FR")
    tap(db, clone, T + timedelta(days=1, hours=1), "JP")
    monkeypatch.setattr(alerts, "BATCH", 1)
    assert scan(app, sessions, NOW + timedelta(days=2)) == 2
    assert raised(db) == {(clone, "clone_suspect", T.date()),
                          (clone, "clone_suspect", T.date() + timedelta(days=1))}


def test_the_signal_is_sent_inside_the_scans_transaction(app, db, sessions):
    grey = item(db, market="FR")
    tap(db, grey, T, "DE")
    heard: list[dict[str, object]] = []

    def listener(session: Session, **kw: object) -> bool:
        # The alert is visible to the listener: same transaction, not committed yet.
        assert session.get(Alert, kw["alert_id"]) is not None
        heard.append(kw)
        return True

    signals.alert_raised.connect(listener)
    try:
        assert scan(app, sessions) == 1
        assert scan(app, sessions) == 0
    finally:
        signals.alert_raised.disconnect(listener)
    [kw] = heard
    assert kw["kind"] == "off_market" and kw["item_id"] == grey
    assert kw["summary"] == ("Genuine tap in Germany of an item sold for France: it may have "
                             "been sold outside its market.")


def test_each_brand_sees_and_acknowledges_only_its_own_alerts(app, db, sessions):
    mine = item(db, market="FR", brand="maison-aurelia")
    theirs = item(db, market="FR", brand="atelier-borel")
    tap(db, mine, T, "DE")
    tap(db, theirs, T, "DE")
    assert scan(app, sessions) == 2
    alert = {a.item_id: a for a in db.scalars(select(Alert))}
    brand_a, brand_b = alert[mine].brand_id, alert[theirs].brand_id
    assert brand_a != brand_b
    lines, _, _ = alerts.alerts_page(db, brand_a)
    assert [line.id for line in lines] == [alert[mine].id]
    with pytest.raises(NotFound):
        alerts.acknowledge(db, brand_a, alert[theirs].id, "staff:1", NOW)
    with pytest.raises(NotFound):
        alerts.acknowledge(db, brand_a, 10_000, "staff:1", NOW)
    db.rollback()
    assert alerts.acknowledge(db, brand_b, alert[theirs].id, "staff:2", NOW) is True
    assert alerts.acknowledge(db, brand_b, alert[theirs].id, "staff:3", NOW) is False
    db.commit()
    db.expire_all()
    done = db.get_one(Alert, alert[theirs].id)
    assert (done.acknowledged_by, done.acknowledged_at) == ("staff:2", NOW)
    assert db.get_one(Alert, alert[mine].id).acknowledged_at is None
    actions = list(db.scalars(select(AuditEntry.actor).where(AuditEntry.action == "alert_ack")))
    assert actions == ["staff:2"]


def test_the_page_filters_by_kind_and_state_and_refuses_unknown_ones(app, db, sessions):
    grey = item(db, market="FR")
    tap(db, grey, T, "DE")
    stolen = item(db, market="FR", stolen_at=T - timedelta(days=1))
    tap(db, stolen, T + timedelta(hours=1), "FR")
    assert scan(app, sessions) == 2
    brand = db.scalars(select(Alert.brand_id)).first()
    assert brand is not None
    everything, _, _ = alerts.alerts_page(db, brand)
    assert [line.kind for line in everything] == [Kind.STOLEN_SEEN, Kind.OFF_MARKET]  # newest
    only, _, _ = alerts.alerts_page(db, brand, Kind.OFF_MARKET)
    assert [line.kind for line in only] == [Kind.OFF_MARKET]
    alerts.acknowledge(db, brand, everything[0].id, "staff:1", NOW)
    db.commit()
    opened, _, _ = alerts.alerts_page(db, brand, state=alerts.OPEN)
    closed, _, _ = alerts.alerts_page(db, brand, state=alerts.ACKNOWLEDGED)
    assert [line.kind for line in opened] == [Kind.OFF_MARKET]
    assert [line.kind for line in closed] == [Kind.STOLEN_SEEN]
    assert alerts.check_filters("", "") == (None, None)
    for bad in (("nope", ""), ("", "closed")):
        with pytest.raises(DomainError):
            alerts.check_filters(*bad)


_countries = st.sampled_from(["FR", "JP", "US", None])
_gaps = st.none() | st.integers(0, 10**7).map(lambda s: timedelta(seconds=s))


@given(kind=st.sampled_from(list(Kind)), first=_countries, second=_countries, gap=_gaps,
       needed=_gaps, minute=st.integers(0, 10**6))
def test_an_alert_keeps_what_its_finding_says(kind, first, second, gap, needed, minute):
    at = T + timedelta(minutes=minute)
    finding = Finding(7, kind, at.date(), at, first=first, second=second, gap=gap,
                      needed=needed)
    stored = Alert(item_id=7, kind=str(kind), day=at.date(), at=at,
                   detail=json.loads(json.dumps(alerts._detail(finding, 3))))
    assert alerts.finding_of(stored) == finding


def test_a_backlog_is_scanned_in_capped_slices_each_committed(app, db, sessions, monkeypatch):
    # A first scan over a long history must not hold one transaction for all of it: each call
    # takes at most INSIGHTS_REFRESH_MAX_TAPS taps and says more remain.
    monkeypatch.setattr(alerts, "BATCH", 2)
    app.config["INSIGHTS_REFRESH_MAX_TAPS"] = 2
    tag = tagged_item(db, market="FR")
    for day in range(5):  # five off-market taps in time order, one a day: five alerts
        tap(db, tag.item.id, T - timedelta(days=4 - day), country="US", counter=day + 1)
    results = []
    with sessions() as session:
        while True:
            result = alerts.scan(session, app.config, NOW)
            session.commit()
            results.append(result)
            if not result.pending:
                break
    assert [r.created for r in results] == [2, 2, 1]
    assert [r.pending for r in results] == [True, True, False]
    assert len(raised(db)) == 5
