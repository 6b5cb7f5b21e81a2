"""Ticks: the schedule's recipients are selected and enqueued exactly once per due slot."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.db import make_engine
from app.core.errors import NotFound
from app.messages.models import SCHEDULED, SUPPRESSED, Message
from app.messages.ticks import tick
from tests.messages.helpers import BRAND, SLOT, owned_serum, publish_demo


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
