"""The whole path of a reminder: the scheduler's job for the 09:00 slot in Paris runs the real tick,
the mail worker delivers it to the loopback SMTP server, and running the slot again sends nothing
more."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.core.db import make_engine
from app.messages import delivery
from app.messages.models import Message
from app.messages.ticks import tick
from app.scheduler.jobs import message_job
from app.scheduler.runs import run_due
from tests.messages.helpers import BRAND, SLOT, owned_serum, publish_demo


@pytest.fixture
def sessions(app) -> Iterator[sessionmaker[Session]]:  # type: ignore[no-untyped-def]
    engine = make_engine(app.config["DATABASE_URL"])
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def test_the_refill_reminder_reaches_the_owner_once_at_nine_in_paris(app, db, smtp, sessions):
    publish_demo(db)
    due = owned_serum(db, 77)
    owned_serum(db, 76)  # a day too early: not this slot's
    job = message_job(BRAND, "refill-reminder", "0 9 * * *", "Europe/Paris", tick)
    a_minute_later = SLOT + timedelta(minutes=1)

    (ran,) = run_due(sessions, app.config, job, a_minute_later, catch_up=timedelta(hours=1))
    assert ran.slot == SLOT  # 09:00 in Paris is 08:00 UTC in December
    assert ran.summary.startswith("1 selected, 1 enqueued")
    # Fired again (a second scheduler, a restart): the slot has run, nothing more is queued.
    assert run_due(sessions, app.config, job, a_minute_later, catch_up=timedelta(hours=1)) == []
    assert db.scalar(select(func.count()).select_from(Message)) == 1

    assert delivery.deliver_due(sessions, app.config, at=a_minute_later).delivered == 1
    (mail,) = smtp.wait_for(1)
    assert mail["To"] == due.email
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert delivery.deliver_due(sessions, app.config, at=a_minute_later).delivered == 0
    assert len(smtp.messages) == 1


def test_an_owner_in_tokyo_gets_the_reminder_at_nine_in_tokyo_before_paris_is_awake(
        app, db, smtp, sessions):
    from sqlalchemy import update

    from app.catalog.models import Owner

    publish_demo(db)
    tokyo = owned_serum(db, 77)
    db.execute(update(Owner).where(Owner.id == tokyo.owner_id).values(timezone="Asia/Tokyo"))
    db.commit()
    job = message_job(BRAND, "refill-reminder", "0 9 * * *", "Europe/Paris", tick)
    # The slot's wall time reaches UTC+14 first, 13 hours before 09:00 in Paris: not yet...
    run_at = SLOT - timedelta(hours=13)
    hour = timedelta(hours=1)
    assert run_due(sessions, app.config, job, run_at - timedelta(minutes=1), hour) == []
    # ...then the slot runs, long before it comes in Paris.
    (ran,) = run_due(sessions, app.config, job, run_at, hour)
    assert ran.slot == SLOT and ran.summary.startswith("1 selected, 1 enqueued")
    nine_in_tokyo = SLOT - timedelta(hours=8)  # 00:00 UTC
    assert db.scalars(select(Message.next_attempt_at)).one() == nine_in_tokyo
    # Not a minute early; at 09:00 in Tokyo (01:00 in Paris, quiet there) it goes.
    early = nine_in_tokyo - timedelta(minutes=1)
    assert delivery.deliver_due(sessions, app.config, at=early).delivered == 0
    assert delivery.deliver_due(sessions, app.config, at=nine_in_tokyo).delivered == 1
    assert smtp.wait_for(1)[0]["To"] == tokyo.email
    # Paris's own 09:00 wake-up finds the slot done.
    assert run_due(sessions, app.config, job, SLOT, hour) == []
