"""Integrity alerts reach the brand: an email to its administrators through the mail outbox
(the loopback SMTP server) and a Standard Webhooks event to its CRM (a receiver on loopback),
on both backends."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import standardwebhooks.webhooks as sw
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.catalog.models import Brand, Owner
from app.catalog.views import item_view
from app.core import outbox, staff
from app.core.db import make_engine
from app.insights import alerts
from app.insights.models import Alert
from app.messages import alerts as messages_alerts
from app.messages import endpoints
from app.ownership.lifecycle import claim
from app.verify.models import TapEvent
from tests.factories import tagged_item
from tests.messages.conftest import verify_at

NOW = datetime.now(UTC).replace(microsecond=0)
T = NOW - timedelta(hours=3)
BRAND = "maison-aurelia"


@pytest.fixture
def sessions(app) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(app.config["DATABASE_URL"])
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


@pytest.fixture(autouse=True)
def fresh_backoff() -> Iterator[None]:
    alerts._next_try.clear()
    yield
    alerts._next_try.clear()


def clone_seen(db: Session) -> tuple[int, str, str]:
    """An owned item whose chip is read in France then, an hour later, in Japan (committed);
    return its id, serial and its owner's email."""
    tag = tagged_item(db, brand=BRAND, market=None, category="watch")
    db.execute(update(Brand).where(Brand.slug == BRAND).values(name="Maison Aurelia"))
    new_owner, _ = claim(db, item_view(tag.item), None, T - timedelta(days=30))
    owner = db.get_one(Owner, new_owner.id)
    owner.email = "owner.person@example.com"
    db.add(TapEvent(at=T, verdict="genuine", item_id=tag.item.id, country="FR"))
    db.add(TapEvent(at=T + timedelta(hours=1), verdict="genuine", item_id=tag.item.id,
                    country="JP"))
    db.commit()
    return tag.item.id, tag.item.serial, owner.email


def brand_id(db: Session) -> int:
    found = db.scalar(select(Brand.id).where(Brand.slug == BRAND))
    assert found is not None
    return found


def staff_of(db: Session) -> None:
    """Two administrators, a disabled one and a marketer of the brand; an admin of another."""
    here = brand_id(db)
    for email, role in (("ada@aurelia.example", staff.ADMIN), ("bo@aurelia.example", staff.ADMIN),
                        ("gone@aurelia.example", staff.ADMIN),
                        ("mia@aurelia.example", staff.MARKETER)):
        staff.add_staff(db, email, here, role, NOW, actor="test")
    staff.disable_staff(db, "gone@aurelia.example", NOW, actor="test")
    other = tagged_item(db, brand="atelier-borel").item.product.brand_id
    staff.add_staff(db, "eve@borel.example", other, staff.ADMIN, NOW, actor="test")
    db.commit()


def scan(app, sessions: sessionmaker[Session], commit: bool = True) -> int:  # type: ignore[no-untyped-def]
    with sessions() as session:
        made = alerts.scan(session, app.config, NOW).created
        if commit:
            session.commit()
        else:
            session.rollback()
    return made


def queued(db: Session) -> list[outbox.OutboxMail]:
    db.expire_all()
    return list(db.scalars(select(outbox.OutboxMail).order_by(outbox.OutboxMail.id)))


def the_alert(db: Session) -> Alert:
    db.expire_all()
    [alert] = db.scalars(select(Alert))
    return alert


def test_the_brands_administrators_get_an_email_saying_what_was_seen(app, db, sessions, smtp):
    _item_id, serial, owner_email = clone_seen(db)
    staff_of(db)
    assert scan(app, sessions) == 1
    assert sorted(m.to_address for m in queued(db)) == ["ada@aurelia.example",
                                                         "bo@aurelia.example"]
    # Queued and handed over: no CRM endpoint, so nothing else waits.
    assert the_alert(db).notified_at == NOW
    assert outbox.deliver_due(sessions, app.config).sent == 2
    mails = smtp.wait_for(2)
    assert sorted(str(m["To"]) for m in mails) == ["ada@aurelia.example", "bo@aurelia.example"]
    mail = mails[0]
    assert mail["Subject"] == f"Maison Aurelia: Possible copied chip ({serial})"
    body = mail.get_content()
    assert f"Item: Test watch, serial {serial}" in body
    assert ("Seen: Genuine taps in France then Japan only 60 minutes apart, when the trip "
            "takes at least 12 hours" in body)
    assert f"When: {(T + timedelta(hours=1)):%Y-%m-%d %H:%M} UTC" in body
    assert "http://localhost/admin/alerts?kind=clone_suspect&state=open" in body
    # Never the owner.
    assert owner_email not in body and "owner.person" not in str(mail)
    # A second scan sends nothing more.
    assert scan(app, sessions) == 0
    assert len(queued(db)) == 2


def test_the_email_is_queued_in_the_alerts_transaction(app, db, sessions):
    clone_seen(db)
    staff_of(db)
    assert scan(app, sessions, commit=False) == 1
    assert queued(db) == [] and db.scalars(select(Alert)).all() == []
    assert scan(app, sessions) == 1
    assert len(queued(db)) == 2


def test_the_crm_gets_a_signed_event_once_the_alert_is_committed(app, db, sessions, receiver):
    url, handler = receiver
    _item_id, serial, owner_email = clone_seen(db)
    old = endpoints.set_endpoint(db, BRAND, url, NOW)
    db.commit()
    new = endpoints.rotate_secret(db, BRAND, NOW)
    db.commit()
    assert old and new
    assert scan(app, sessions) == 1
    # The call waits for the worker: nothing is sent inside the scan's transaction.
    assert handler.received == [] and the_alert(db).notified_at is None
    at = NOW + timedelta(seconds=5)
    assert alerts.deliver_pending(sessions, app.config, at=at) == 1
    [(headers, body)] = handler.received
    alert = the_alert(db)
    assert alert.notified_at == at
    assert headers["webhook-id"] == f"alert_{alert.id}"
    assert headers["webhook-signature"].count("v1,") == 2
    for secret in (old, new):
        payload = verify_at(secret, body, headers, at)
        assert payload["type"] == "integrity.alert" and payload["kind"] == "clone_suspect"
        assert payload["item"] == {"serial": serial, "product": "Test watch"}
        assert "France then Japan" in str(payload["summary"])
    assert owner_email not in body.decode()
    with pytest.raises(sw.WebhookVerificationError):
        verify_at(endpoints.new_secret(), body, headers, at)
    # Done: not called again.
    assert alerts.deliver_pending(sessions, app.config, at=at + timedelta(hours=1)) == 0
    assert len(handler.received) == 1


def test_a_failing_crm_is_asked_again_after_a_back_off_with_the_same_id(app, db, sessions,
                                                                        receiver):
    url, handler = receiver
    handler.status = 503
    clone_seen(db)
    endpoints.set_endpoint(db, BRAND, url, NOW)
    db.commit()
    assert scan(app, sessions) == 1
    rng = random.Random(4)
    assert alerts.deliver_pending(sessions, app.config, at=NOW, rng=rng) == 0
    assert len(handler.received) == 1 and the_alert(db).notified_at is None
    # Within the back-off (at least half of MAIL_RETRY_BASE_SECONDS): not called.
    assert alerts.deliver_pending(sessions, app.config, at=NOW + timedelta(seconds=10),
                                  rng=rng) == 0
    assert len(handler.received) == 1
    handler.status = 200
    later = NOW + timedelta(seconds=31)
    assert alerts.deliver_pending(sessions, app.config, at=later, rng=rng) == 1
    first, second = handler.received
    assert first[0]["webhook-id"] == second[0]["webhook-id"]
    assert the_alert(db).notified_at == later


def test_an_alert_past_the_give_up_time_is_not_called_again(app, db, sessions, receiver):
    url, handler = receiver
    handler.status = 503
    clone_seen(db)
    endpoints.set_endpoint(db, BRAND, url, NOW)
    db.commit()
    assert scan(app, sessions) == 1
    late = T + timedelta(hours=1, seconds=1) + timedelta(hours=app.config["MAIL_GIVE_UP_HOURS"])
    assert alerts.deliver_pending(sessions, app.config, at=late) == 0
    assert handler.received == [] and the_alert(db).notified_at is None


def test_an_endpoint_removed_meanwhile_ends_the_wait(app, db, sessions, receiver):
    url, handler = receiver
    clone_seen(db)
    endpoints.set_endpoint(db, BRAND, url, NOW)
    db.commit()
    assert scan(app, sessions) == 1
    from app.messages.models import Endpoint

    db.execute(Endpoint.__table__.delete())
    db.commit()
    assert alerts.deliver_pending(sessions, app.config, at=NOW) == 1
    assert handler.received == [] and the_alert(db).notified_at == NOW


def test_the_email_words_name_no_person(app, db):
    about = type("About", (), {"brand_name": "B", "product": "Bag", "serial": "S-1"})()
    subject, text = messages_alerts.email_text(
        app.config, about, "Stolen item seen", "This item, reported stolen, was tapped in Japan.",
        "stolen_seen", datetime(2026, 11, 30, 9, 5, tzinfo=UTC))
    assert subject == "B: Stolen item seen (S-1)"
    assert "When: 2026-11-30 09:05 UTC" in text and "tapped in Japan" in text
    assert json.dumps(messages_alerts.payload(app.config, type("A", (), {
        "slug": "b", "serial": "S-1", "product": "Bag"})(), 3, "stolen_seen", "t", "s",
        datetime(2026, 11, 30, tzinfo=UTC)))


def test_alerts_found_in_old_taps_are_listed_but_nobody_is_emailed(app, db, sessions):
    # A first refresh over last year's taps (or one after a long stop) finds old clone pairs:
    # the page lists them; nobody gets an email about something long past.
    clone_seen(db)
    staff_of(db)
    with sessions() as session:
        made = alerts.scan(session, app.config, NOW + timedelta(days=3)).created
        session.commit()
    assert made == 1
    assert queued(db) == []
    assert the_alert(db).notified_at is None
