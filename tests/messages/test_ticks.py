"""Ticks: the schedule's recipients are selected and enqueued exactly once per due slot."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from app.catalog.models import Owner
from app.core.db import make_engine
from app.core.errors import NotFound
from app.messages.models import SCHEDULED, SUPPRESSED, Message
from app.messages.ticks import tick
from tests.messages.helpers import BRAND, SLOT, owned_serum, publish_demo, tapped


def _count(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(Message)) or 0)


def test_day_77_serum_owner_is_enqueued_once(app, db):
    publish_demo(db)
    owner = owned_serum(db, 77)
    owned_serum(db, 76)
    owned_serum(db, 78)
    owned_serum(db, 77, category="bag")
    owned_serum(db, 77, opt_in=False)
    report = tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    db.commit()
    assert (report.selected, report.enqueued, report.suppressed) == (1, 1, 0)
    row = db.scalars(select(Message)).one()
    assert (row.ownership_id, row.channel, row.state, row.template) == (
        owner.ownership_id, "email", SCHEDULED, "refill_email")
    again = tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT + timedelta(minutes=1))
    db.commit()
    assert (again.selected, again.enqueued) == (1, 0)
    assert _count(db) == 1


def test_consent_withdrawn_before_the_tick_is_recorded_as_suppressed(app, db):
    from app.messages.consent import set_consent

    publish_demo(db)
    owner = owned_serum(db, 77)
    set_consent(db, owner.owner_id, "email", "refill_email", False, SLOT)
    db.commit()
    report = tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    db.commit()
    assert (report.enqueued, report.suppressed) == (0, 1)
    assert db.scalars(select(Message.state)).one() == SUPPRESSED


def test_unknown_schedule_or_brand_is_not_found(app, db):
    publish_demo(db)
    with pytest.raises(NotFound):
        tick(db, app.config, BRAND, "no-such", SLOT, SLOT)
    with pytest.raises(NotFound):
        tick(db, app.config, "atelier-nobody", "refill-reminder", SLOT, SLOT)


@pytest.mark.postgres_only
def test_two_ticks_of_the_same_slot_at_once_enqueue_each_message_once(app, db):
    if app.config["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("PostgreSQL concurrency")
    publish_demo(db)
    for _ in range(20):
        owned_serum(db, 77)
    engine = make_engine(app.config["DATABASE_URL"])
    barrier = threading.Barrier(2)
    reports = []

    def run() -> None:
        with Session(engine) as session:
            session.connection()
            barrier.wait()
            reports.append(tick(session, app.config, BRAND, "refill-reminder", SLOT, SLOT))
            session.commit()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    assert sorted(r.selected for r in reports) == [20, 20]
    assert sum(r.enqueued for r in reports) == 20
    assert _count(db) == 20


def test_each_owner_is_due_at_nine_on_the_same_day_in_their_own_time_zone(app, db):
    publish_demo(db)  # refill-reminder: "0 9 * * *" in Europe/Paris; SLOT is 09:00 there
    new_york, tokyo = owned_serum(db, 77), owned_serum(db, 77)
    for owned, zone in ((new_york, "America/New_York"), (tokyo, "Asia/Tokyo")):
        db.execute(update(Owner).where(Owner.id == owned.owner_id).values(timezone=zone))
    london = owned_serum(db, 77)
    tapped(db, london.item_id, SLOT - timedelta(days=2), "GB")  # no setting: the tap country
    paris = owned_serum(db, 77)  # neither: the ruleset's zone
    db.commit()
    # The scheduler runs the tick 13 hours ahead (UTC+14 is 13 hours ahead of Paris in winter);
    # ownership.days is still taken at the slot: at the run time these owners are on day 76.
    early = SLOT - timedelta(hours=13)
    report = tick(db, app.config, BRAND, "refill-reminder", SLOT, early)
    db.commit()
    assert report.enqueued == 4
    due = {row.ownership_id: (row.next_attempt_at, row.give_up_at, row.slot)
           for row in db.scalars(select(Message))}
    nine = {new_york: datetime(2026, 12, 1, 14, tzinfo=UTC),  # 09:00 EST
            tokyo: datetime(2026, 12, 1, 0, tzinfo=UTC),  # 09:00 JST, before the slot
            london: datetime(2026, 12, 1, 9, tzinfo=UTC),  # 09:00 GMT
            paris: SLOT}
    assert due == {owned.ownership_id: (at, at + timedelta(hours=24), SLOT)
                   for owned, at in nine.items()}


def test_an_owner_whose_nine_has_passed_when_the_tick_runs_is_due_at_once(app, db):
    publish_demo(db)
    tokyo = owned_serum(db, 77)
    db.execute(update(Owner).where(Owner.id == tokyo.owner_id).values(timezone="Asia/Tokyo"))
    db.commit()
    late = SLOT + timedelta(minutes=5)  # a catch-up: 09:00 in Tokyo was eight hours ago
    tick(db, app.config, BRAND, "refill-reminder", SLOT, late)
    db.commit()
    assert db.scalars(select(Message.next_attempt_at)).one() == late


def test_the_zones_of_a_chunk_are_read_with_one_query(app, db, monkeypatch):
    from app.messages import ticks

    publish_demo(db)
    for _ in range(5):
        owned_serum(db, 77)
    monkeypatch.setattr(ticks, "CHUNK", 2)  # three chunks
    statements: list[str] = []

    def _seen(*args: object) -> None:
        statements.append(str(args[2]))

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", _seen)
    try:
        report = tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    finally:
        event.remove(engine, "before_cursor_execute", _seen)
    db.commit()
    assert report.enqueued == 5
    zone_reads = [s for s in statements if "row_number" in s.lower()]
    assert len(zone_reads) == 3  # one per chunk, not one per owner
