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
