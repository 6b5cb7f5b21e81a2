"""`demo history`: a made-up year for the demo brands, with the patterns the dashboard shows
(activation by channel, resales, grey market, clones, stolen items, a reward's holdout)."""

from __future__ import annotations

import bisect
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.catalog.models import Item, Owner, Ownership, Product
from app.catalog.service import get_or_create_brand, get_or_create_product
from app.core.clock import utc
from app.core.db import make_engine
from app.demo.history import (
    LIFT_DESIGN,
    LIFT_REWARD,
    LIFT_WINDOW,
    SERIAL_PREFIX,
    HistoryParams,
    NotSeeded,
    generate_history,
)
from app.demo.service import seed_demo
from app.insights.integrity import TapRecord, clone_suspects, off_market, stolen_seen
from app.messages.models import Message
from app.rewards.models import RewardExposure, RewardPool
from app.verify.models import TapEvent
from tests.conftest import PG_URL

UNTIL = "2026-11-29"
END = datetime(2026, 11, 30, tzinfo=UTC)
SMALL = ["--owners", "50", "--days", "30", "--seed", "7", "--until", UNTIL]


def _history(runner, *extra: str):  # type: ignore[no-untyped-def]
    return runner.invoke(args=["demo", "history", *SMALL, *extra])


def _taps(db: Session) -> list[TapRecord]:
    rows = db.execute(
        select(TapEvent.item_id, TapEvent.at, TapEvent.verdict, TapEvent.counter,
               TapEvent.country, Item.market, Item.stolen_at, TapEvent.facts)
        .join(Item, Item.id == TapEvent.item_id)
    ).all()
    return [TapRecord(r.item_id, r.at, r.verdict, r.counter, r.country, r.market, r.stolen_at,
                      False if r.facts and '"owner.is_current":false' in r.facts else None)
            for r in rows]


@pytest.fixture
def seeded(app, db):  # type: ignore[no-untyped-def]
    seed_demo(db, "test-2026")
    db.commit()
    app.config["DEMO"] = True
    return db


def test_writes_the_owners_and_days_asked_with_every_pattern(app, runner, seeded):
    db = seeded
    # Another brand's catalogue, which the history must leave alone.
    other = get_or_create_brand(db, "other-house", "Other House")
    product = get_or_create_product(db, other, "09990000000012", name="Other Bag",
                                    category="bag", attributes={})
    db.add(Item(product=product, serial="OTH-1", market="FR", released=True))
    db.commit()

    result = _history(runner)
    assert result.exit_code == 0, result.output
    assert "50 owners" in result.output

    assert db.scalar(select(func.count()).select_from(Owner)) == 50
    # Every owner holds (or held) something; some bought second hand.
    assert db.scalar(select(func.count(func.distinct(Ownership.owner_id)))) == 50
    assert db.scalar(select(func.count()).where(Ownership.began_by == "transfer")) >= 1
    start = END - timedelta(days=30)
    first, last = db.execute(select(func.min(TapEvent.at), func.max(TapEvent.at))).one()
    assert start <= first and last < END
    # Items are sold through several channels, and some are never activated.
    channels = set(db.scalars(select(Item.channel).where(Item.serial.startswith(SERIAL_PREFIX))))
    assert {"boutique", "online"} <= channels
    verdicts = set(db.scalars(select(TapEvent.verdict)))
    assert {"genuine", "invalid", "replayed"} <= verdicts
    taps = _taps(db)
    assert off_market(taps), "no tap outside its item's market"
    assert clone_suspects(taps), "no clone case"
    assert stolen_seen(taps), "no stolen item seen"
    # Nothing of another brand changed or was tapped.
    assert db.scalar(select(func.count()).select_from(Item).join(Product)
                     .where(Product.brand_id == other.id)) == 1
    assert db.scalar(select(func.count()).select_from(TapEvent).join(Item).join(Product)
                     .where(Product.brand_id == other.id)) == 0
    assert set(db.scalars(select(RewardPool.brand).distinct())) <= {"maison-aurelia",
                                                                    "nordwand"}


def test_the_demo_page_and_links_leave_the_history_out(app, client, runner, seeded):
    assert _history(runner).exit_code == 0
    page = client.get("/demo").get_data(as_text=True)
    links = runner.invoke(args=["demo", "links", "--base-url", "http://127.0.0.1:5000"])
    assert "BAG-0001" in page and "BAG-0001" in links.output
    assert SERIAL_PREFIX not in page
    assert SERIAL_PREFIX not in links.output


def test_a_second_run_is_refused_and_adds_nothing(runner, seeded):
    assert _history(runner).exit_code == 0
    counts = seeded.scalar(select(func.count()).select_from(TapEvent))
    again = _history(runner, "--seed", "8")
    assert again.exit_code == 1
    assert "already generated" in again.output
    assert seeded.scalar(select(func.count()).select_from(TapEvent)) == counts
    assert seeded.scalar(select(func.count()).select_from(Owner)) == 50
    # `make run` asks for one each time: with --if-absent a second run succeeds, writing nothing.
    tolerated = _history(runner, "--seed", "8", "--if-absent")
    assert tolerated.exit_code == 0, tolerated.output
    assert "already there" in tolerated.output
    assert seeded.scalar(select(func.count()).select_from(TapEvent)) == counts


def test_refused_outside_demo_mode_unless_forced(app, runner, seeded):
    app.config["DEMO"] = False
    refused = _history(runner)
    assert refused.exit_code == 1
    assert "not in demo mode" in refused.output
    assert seeded.scalar(select(func.count()).select_from(Owner)) == 0
    forced = _history(runner, "--force")
    assert forced.exit_code == 0, forced.output
    assert seeded.scalar(select(func.count()).select_from(Owner)) == 50


def test_refused_before_demo_seed(app, runner, db):
    app.config["DEMO"] = True
    result = _history(runner)
    assert result.exit_code == 1
    assert "demo seed" in result.output
    assert db.scalar(select(func.count()).select_from(Owner)) == 0


def test_refused_without_the_demo_products_or_rulesets(app, db):
    for slug in ("maison-aurelia", "nordwand"):
        get_or_create_brand(db, slug, slug)
    db.commit()
    rulesets = app.extensions["aftertap.rules"].registry.rulesets()
    params = HistoryParams(owners=5, days=5, key_version="test-2026", until=END,
                           rulesets={s: rulesets[s] for s in ("maison-aurelia", "nordwand")})
    with pytest.raises(NotSeeded, match="lacks products"):
        generate_history(db, {"DEMO": True}, params)
    seed_demo(db, "test-2026")
    db.commit()
    with pytest.raises(NotSeeded, match="no live ruleset"):
        generate_history(db, {"DEMO": True}, replace(params, rulesets={}))
    assert db.scalar(select(func.count()).select_from(Owner)) == 0


def test_bad_sizes_are_refused(app, runner, seeded):
    for args in (["--owners", "0"], ["--days", "0"], ["--until", "2026-13-01"]):
        result = runner.invoke(args=["demo", "history", *args])
        assert result.exit_code == 2, args
    assert seeded.scalar(select(func.count()).select_from(Owner)) == 0


# --- determinism: the same seed on two fresh databases ---------------------------------------

# Columns left out: secrets made with ``secrets`` (never predictable) and demo seed's random
# UIDs.
_FINGERPRINT = {
    "items": "select id, product_id, serial, market, released, created_at, sold_at, channel, "
             "warranty_started_at, warranty_ends_at, stolen_at, service_count, last_service_at "
             "from items where serial like 'HIST-%' order by id",
    "tags": "select t.id, t.uid, t.item_id, t.last_counter, t.genuine_taps, t.last_genuine_at "
            "from tags t join items i on i.id = t.item_id where i.serial like 'HIST-%' "
            "order by t.id",
    "owners": "select id, email, email_opt_in, created_at from owners order by id",
    "ownerships": "select * from ownerships order by id",
    "tap_events": "select * from tap_events order by id",
    "reward_exposures": "select * from reward_exposures order by id",
    "reward_grants": "select id, pool_id, tap_event_id, owner_id, outcome, prize_id, points, "
                     "created_at, revealed_at, redeemed_at from reward_grants order by id",
    "loyalty_entries": "select * from loyalty_entries order by id",
    "product_reviews": "select * from product_reviews order by id",
    "service_requests": "select * from service_requests order by id",
    "messages": "select id, schedule_id, ownership_id, slot, channel, state from messages "
                "order by id",
}


def _fingerprint(session: Session) -> dict[str, list[tuple[object, ...]]]:
    return {name: [tuple(r) for r in session.execute(text(sql))]
            for name, sql in _FINGERPRINT.items()}


@pytest.fixture
def second_database(request, database_url: str, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Another fresh, migrated database on the same backend as ``database_url``."""
    if database_url.startswith("sqlite"):
        path = tmp_path / "second.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"aftertap_h_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _generate(app, url: str, seed: int) -> dict[str, list[tuple[object, ...]]]:  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            seed_demo(session, "test-2026")
            session.commit()
            rulesets = app.extensions["aftertap.rules"].registry.rulesets()
            generate_history(session, {"DEMO": True}, HistoryParams(
                owners=60, days=45, seed=seed, key_version="test-2026",
                rulesets={s: rulesets[s] for s in ("maison-aurelia", "nordwand")}, until=END))
            session.commit()
            return _fingerprint(session)
    finally:
        engine.dispose()


def test_the_same_seed_writes_the_same_history(app, database_url, second_database):
    first = _generate(app, database_url, seed=3)
    second = _generate(app, second_database, seed=3)
    assert first == second
    assert len(first["tap_events"]) > 100


def test_another_seed_writes_another_history(app, database_url, second_database):
    first = _generate(app, database_url, seed=3)
    other = _generate(app, second_database, seed=4)
    assert first["tap_events"] != other["tap_events"]


# --- the holdout's designed effect (a larger run; SQLite only, for time) -----------------------


def lift_rates(session: Session, until: datetime) -> dict[str, tuple[int, int]]:
    """Per cohort of ``LIFT_REWARD``: (owners first exposed with a full 30-day window, those of
    them with a genuine tap of an item they held in the 30 days after)."""
    first: dict[int, tuple[datetime, str]] = {}
    for owner_id, cohort, at in session.execute(
        select(RewardExposure.owner_id, RewardExposure.cohort, RewardExposure.at)
        .join(RewardPool, RewardPool.id == RewardExposure.pool_id)
        .where(RewardPool.reward_id == LIFT_REWARD)
    ):
        if owner_id not in first or at < first[owner_id][0]:
            first[owner_id] = (at, cohort)
    holdings: dict[int, list[tuple[int, datetime, datetime | None]]] = {}
    for item_id, owner_id, started, ended in session.execute(
        select(Ownership.item_id, Ownership.owner_id, Ownership.started_at, Ownership.ended_at)
    ):
        holdings.setdefault(owner_id, []).append((item_id, started, ended))
    taps: dict[int, list[datetime]] = {}
    for item_id, at in session.execute(
        select(TapEvent.item_id, TapEvent.at).where(TapEvent.verdict == "genuine")
        .order_by(TapEvent.at)
    ):
        taps.setdefault(item_id, []).append(utc(at))
    rates: dict[str, tuple[int, int]] = {}
    for owner_id, (at, cohort) in first.items():
        if at + LIFT_WINDOW > until:
            continue
        hit = False
        for item_id, started, ended in holdings.get(owner_id, []):
            times = taps.get(item_id, [])
            k = bisect.bisect_right(times, at)
            while k < len(times) and times[k] <= at + LIFT_WINDOW:
                if started <= times[k] and (ended is None or times[k] < ended):
                    hit = True
                    break
                k += 1
        n, h = rates.get(cohort, (0, 0))
        rates[cohort] = (n + 1, h + hit)
    return rates


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_holdout_shows_the_designed_effect(app, runner, seeded):
    result = runner.invoke(args=["demo", "history", "--owners", "6000", "--days", "365",
                                 "--seed", "11", "--until", UNTIL])
    assert result.exit_code == 0, result.output
    rates = lift_rates(seeded, END)
    treated, held = rates["treatment"], rates["holdout"]
    assert held[0] >= 100, rates
    treatment_rate, holdout_rate = treated[1] / treated[0], held[1] / held[0]
    # Held out: about a tenth of first exposures (the ruleset's 10 %).
    assert 0.07 < held[0] / (held[0] + treated[0]) < 0.13
    assert treatment_rate > holdout_rate
    assert abs(treatment_rate - LIFT_DESIGN["treatment"]) < 0.03
    assert abs(holdout_rate - LIFT_DESIGN["holdout"]) < 0.06
    # Messages went out, none is left for a worker to send.
    assert seeded.scalar(select(func.count()).select_from(Message)) > 0
    assert seeded.scalar(select(func.count()).select_from(Message)
                         .where(Message.state.not_in(("sent", "failed", "suppressed")))) == 0
