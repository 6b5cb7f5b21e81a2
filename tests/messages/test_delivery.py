"""Delivery with real parts: the loopback SMTP server, a Standard Webhooks receiver on loopback,
an injected clock (no sleeping)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.catalog.models import Brand
from app.catalog.owner_refs import owner_of_reference
from app.core import mail, privacy
from app.core.db import make_engine
from app.messages import delivery, endpoints
from app.messages.consent import granted, set_consent
from app.messages.models import ACCEPTED, DEFERRED, FAILED, SCHEDULED, SENT, SUPPRESSED, Message
from app.messages.ticks import tick
from tests.messages.conftest import verify_at
from tests.messages.helpers import BRAND, SLOT, owned_serum, publish_demo, tapped


@pytest.fixture
def sessions(app) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(app.config["DATABASE_URL"])
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def _rows(db: Session) -> list[Message]:
    db.expire_all()
    return list(db.scalars(select(Message).order_by(Message.id)))


def test_refill_email_has_one_click_unsubscribe_and_a_stable_message_id(app, db, smtp, sessions,
                                                                         client):
    publish_demo(db)
    owner = owned_serum(db, 77)
    tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    db.commit()
    report = delivery.deliver_due(sessions, app.config, at=SLOT)
    assert report.delivered == 1
    [mail] = smtp.wait_for(1)
    row = _rows(db)[0]
    assert row.state == ACCEPTED and row.sent_at == SLOT
    assert mail["To"] == owner.email
    assert mail["Message-ID"] == f"<{row.key}@aftertap.invalid>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = str(mail["List-Unsubscribe"]).strip().strip("<>")
    assert url.startswith("http://localhost/unsubscribe/")
    token = url.rsplit("/", 1)[1]
    # Stored hashed only.
    assert row.unsubscribe_hash == delivery.token_hash(token) and token not in row.unsubscribe_hash
    # A link scanner's GET changes nothing.
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and b"Unsubscribe" in page.data
    # The brand that sends the email is named, never the engine behind it.
    assert b'<header class="brand">Maison Aurelia</header>' in page.data
    assert b"Aftertap" not in page.data
    assert granted(db, owner.owner_id, "email", "refill_email")  # still the opt-in default
    # The mail client's one-click POST (no CSRF token, no cookie) unsubscribes, idempotently.
    for _ in range(2):
        done = client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and b"You are unsubscribed" in done.data
    db.expire_all()
    assert not granted(db, owner.owner_id, "email", "refill_email")
    assert client.post("/unsubscribe/not-a-token").status_code == 404


def test_quiet_hours_across_midnight_defer_to_their_end_in_the_owner_zone(app, db, smtp,
                                                                          sessions):
    publish_demo(db)
    owned_serum(db, 77)
    late = SLOT + timedelta(hours=14)  # 23:00 in Paris: quiet (21:00 to 08:00)
    tick(db, app.config, BRAND, "refill-reminder", SLOT, late)
    db.commit()
    report = delivery.deliver_due(sessions, app.config, at=late)
    assert (report.deferred, report.delivered) == (1, 0)
    row = _rows(db)[0]
    assert row.state == DEFERRED
    assert row.next_attempt_at == SLOT + timedelta(hours=23)  # 08:00 Paris the next morning
    assert delivery.deliver_due(sessions, app.config, at=late + timedelta(hours=8)).delivered == 0
    assert delivery.deliver_due(sessions, app.config, at=SLOT + timedelta(days=1)).delivered == 1
    assert _rows(db)[0].state == ACCEPTED
    assert len(smtp.wait_for(1)) == 1


def test_quiet_hours_are_judged_in_the_owners_own_zone_before_their_tap_country(app, db, smtp,
                                                                                 sessions):
    from sqlalchemy import update

    from app.catalog.models import Owner

    publish_demo(db)
    in_tokyo = owned_serum(db, 77)
    tapped(db, in_tokyo.item_id, SLOT - timedelta(days=1), "FR")  # but chose Tokyo
    db.execute(update(Owner).where(Owner.id == in_tokyo.owner_id).values(timezone="Asia/Tokyo"))
    in_paris = owned_serum(db, 77)
    tapped(db, in_paris.item_id, SLOT - timedelta(days=1), "FR")
    db.commit()
    tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    db.commit()
    at = SLOT + timedelta(hours=5)  # 14:00 in Paris, 22:00 in Tokyo (quiet from 21:00 to 08:00)
    report = delivery.deliver_due(sessions, app.config, at=at)
    assert (report.delivered, report.deferred) == (1, 1)
    assert smtp.wait_for(1)[0]["To"] == in_paris.email
    tokyo_row = next(r for r in _rows(db) if r.owner_id == in_tokyo.owner_id)
    assert tokyo_row.state == DEFERRED
    assert tokyo_row.next_attempt_at == SLOT + timedelta(hours=15)  # 08:00 in Tokyo


def test_one_refused_recipient_in_a_batch_does_not_stop_the_others(app, db, smtp, sessions,
                                                                   monkeypatch):
    publish_demo(db)
    owners = [owned_serum(db, 77) for _ in range(4)]
    tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    db.commit()
    refused = {owners[0].email, owners[2].email}

    async def handle_rcpt(server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        if address in refused:
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    smtp.handle_RCPT = handle_rcpt  # type: ignore[method-assign]
    connections = []
    connect = mail._connect

    def counting(settings):  # type: ignore[no-untyped-def]
        connections.append(1)
        return connect(settings)

    monkeypatch.setattr(mail, "_connect", counting)
    report = delivery.deliver_due(sessions, app.config, at=SLOT)
    assert (report.delivered, report.failed, report.retrying) == (2, 2, 0)
    got = smtp.wait_for(2)
    assert sorted(str(m["To"]) for m in got) == sorted({o.email for o in owners} - refused)
    assert len(connections) == 1  # the whole batch over one SMTP connection
    rows = _rows(db)
    assert sorted((r.state, r.reason) for r in rows) == [
        (ACCEPTED, None), (ACCEPTED, None),
        (FAILED, "SMTPRecipientsRefused"), (FAILED, "SMTPRecipientsRefused")]
    assert {r.key for r in rows if r.state == ACCEPTED} == {
        str(m["Message-ID"]).strip("<>").split("@")[0] for m in got}


def test_a_connection_closed_on_one_message_is_reopened_for_the_next(app, db, smtp, sessions,
                                                                     monkeypatch):
    publish_demo(db)
    owners = [owned_serum(db, 77) for _ in range(3)]
    tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    db.commit()
    closing = owners[1].email

    async def handle_rcpt(server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        if address == closing:
            return "421 4.7.0 Try again later, closing connection"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    smtp.handle_RCPT = handle_rcpt  # type: ignore[method-assign]
    connections = []
    connect = mail._connect

    def counting(settings):  # type: ignore[no-untyped-def]
        connections.append(1)
        return connect(settings)

    monkeypatch.setattr(mail, "_connect", counting)
    report = delivery.deliver_due(sessions, app.config, at=SLOT)
    assert (report.delivered, report.retrying, report.failed) == (2, 1, 0)
    got = smtp.wait_for(2)
    assert sorted(str(m["To"]) for m in got) == sorted({o.email for o in owners} - {closing})
    rows = _rows(db)
    # The client closes on 421; a message after it (rows go in id order) opens a new connection.
    assert len(connections) == (1 if rows[-1].owner_id == owners[1].owner_id else 2)
    assert sorted(r.state for r in rows) == sorted([ACCEPTED, ACCEPTED, SCHEDULED])
    retry = next(r for r in rows if r.state == SCHEDULED)
    assert retry.reason == "SMTPRecipientsRefused" and retry.next_attempt_at > SLOT


def test_consent_withdrawn_between_enqueue_and_send_suppresses(app, db, smtp, sessions):
    publish_demo(db)
    owner = owned_serum(db, 77)
    tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    db.commit()
    set_consent(db, owner.owner_id, "email", "refill_email", False, SLOT)
    db.commit()
    assert delivery.deliver_due(sessions, app.config, at=SLOT).suppressed == 1
    row = _rows(db)[0]
    assert (row.state, row.reason) == (SUPPRESSED, "unsubscribed")
    assert smtp.messages == []


def test_an_erased_owner_gets_nothing(app, db, smtp, sessions):
    publish_demo(db)
    owner = owned_serum(db, 77)
    tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    set_consent(db, owner.owner_id, "email", "win_back_email", True, SLOT)
    db.commit()
    privacy.erase_owner(db, owner.owner_id, SLOT)
    db.commit()
    assert delivery.deliver_due(sessions, app.config, at=SLOT).delivered == 0
    row = _rows(db)[0]
    assert (row.state, row.reason) == (SUPPRESSED, "erased")
    assert privacy.export_owner(db, owner.owner_id)["message_consents"] == []
    assert smtp.messages == []


def test_the_cap_holds_across_schedules(app, db, smtp, sessions):
    publish_demo(db)
    owner = owned_serum(db, 77)
    tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    db.commit()
    # Two messages of other schedules and channels already counted this week (2 per 7 days).
    for n, (channel, state) in enumerate((("crm_webhook", SENT), ("email", ACCEPTED))):
        db.add(Message(brand=BRAND, schedule_id=f"other-{n}", ownership_id=owner.ownership_id,
                       owner_id=owner.owner_id, slot=SLOT, channel=channel,
                       template="win_back_email", key=f"k{n}", state=state, attempts=1,
                       created_at=SLOT, next_attempt_at=SLOT, give_up_at=SLOT,
                       counted_at=SLOT - timedelta(days=6, hours=23)))
    db.commit()
    assert delivery.deliver_due(sessions, app.config, at=SLOT).suppressed == 1
    row = _rows(db)[0]
    assert (row.state, row.reason) == (SUPPRESSED, "cap")
    assert smtp.messages == []


def test_the_cap_window_ends(app, db, smtp, sessions):
    publish_demo(db)
    owner = owned_serum(db, 77)
    tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    for n in range(2):
        db.add(Message(brand=BRAND, schedule_id=f"other-{n}", ownership_id=owner.ownership_id,
                       owner_id=owner.owner_id, slot=SLOT, channel="email",
                       template="win_back_email", key=f"k{n}", state=SENT, attempts=1,
                       created_at=SLOT, next_attempt_at=SLOT, give_up_at=SLOT,
                       counted_at=SLOT - timedelta(days=7)))
    db.commit()
    assert delivery.deliver_due(sessions, app.config, at=SLOT).delivered == 1


def _win_back_ruleset() -> str:
    from tests.messages.helpers import REPO

    text = (REPO / "rulesets" / "maison-aurelia.yaml").read_text()
    return text.replace("    channel: [email, crm_webhook]", "    channel: [crm_webhook]")


def test_crm_webhook_is_signed_per_standard_webhooks_with_both_secrets_in_rotation(
        app, db, sessions, receiver):
    url, handler = receiver
    publish_demo(db, _win_back_ruleset())
    owned = owned_serum(db, 300)
    tapped(db, owned.item_id, SLOT - timedelta(days=200))
    old = endpoints.set_endpoint(db, BRAND, url, SLOT)
    db.commit()
    new = endpoints.rotate_secret(db, BRAND, SLOT)
    db.commit()
    assert old and new and old != new and new.startswith("whsec_")
    at = SLOT + timedelta(hours=1)
    report = tick(db, app.config, BRAND, "dormant-win-back", SLOT, at)
    db.commit()
    assert report.enqueued == 1
    assert delivery.deliver_due(sessions, app.config, at=at).delivered == 1
    [(headers, body)] = handler.received
    row = _rows(db)[0]
    assert row.state == SENT and headers["webhook-id"] == row.key
    assert headers["webhook-signature"].count("v1,") == 2
    # Verified with a real verifier, by a receiver on either secret.
    for secret in (old, new):
        payload = verify_at(secret, body, headers, at)
        assert payload["message"] == "win_back_email"
        assert owned.email not in json.dumps(payload)  # no personal data to the CRM
        # The owner is named by a reference only this brand's systems can send back, which
        # resolves to the owner (a shop's order names them with it), and never by our id.
        reference = payload["owner"]["id"]
        brand_id = db.scalar(select(Brand.id).where(Brand.slug == BRAND))
        assert owner_of_reference(app.config, brand_id, reference) == owned.owner_id
        assert owner_of_reference(app.config, brand_id + 1, reference) is None
        assert str(owned.owner_id) != reference.removeprefix("own_")


def test_crm_failures_retry_with_backoff_then_fail_after_24_hours(app, db, sessions, receiver):
    url, handler = receiver
    handler.status = 503
    publish_demo(db, _win_back_ruleset())
    owned = owned_serum(db, 300)
    tapped(db, owned.item_id, SLOT - timedelta(days=200))
    endpoints.set_endpoint(db, BRAND, url, SLOT)
    at = SLOT + timedelta(hours=1)
    tick(db, app.config, BRAND, "dormant-win-back", SLOT, at)
    db.commit()
    rng = random.Random(1)
    moment, tries = at, 0
    while _rows(db)[0].state in (SCHEDULED, DEFERRED):
        delivery.deliver_due(sessions, app.config, at=moment, rng=rng)
        tries += 1
        moment = max(moment, _rows(db)[0].next_attempt_at)
    row = _rows(db)[0]
    assert (row.state, row.reason) == (FAILED, "HTTP 503")
    # Each round sent once, except rounds that only deferred the message (quiet hours).
    assert tries >= len(handler.received) > 3
    assert row.next_attempt_at > at + timedelta(hours=24) >= moment - timedelta(hours=2)


def test_an_email_whose_connection_drops_during_its_data_is_never_sent_again(app, db, smtp,
                                                                             sessions):
    """The server took the data and the connection dropped before its answer: the email may
    have arrived, so it is failed as interrupted, not retried (at most one copy). The next
    message of the batch goes over a new connection."""
    publish_demo(db)
    owners = [owned_serum(db, 77) for _ in range(2)]
    tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    db.commit()
    first = _rows(db)[0]
    keep = smtp.handle_DATA

    async def drop_after_first(server, session, envelope):  # type: ignore[no-untyped-def]
        reply = await keep(server, session, envelope)
        if len(smtp.messages) == 1:
            server.transport.close()  # the server holds the message; the client hears nothing
        return reply

    smtp.handle_DATA = drop_after_first  # type: ignore[method-assign]
    report = delivery.deliver_due(sessions, app.config, at=SLOT)
    assert (report.delivered, report.failed, report.retrying) == (1, 1, 0)
    assert len(smtp.wait_for(2)) == 2
    rows = {row.id: row for row in _rows(db)}
    assert (rows[first.id].state, rows[first.id].reason) == (FAILED, delivery.INTERRUPTED)
    assert rows[first.id].sent_at == SLOT  # handed over then
    assert [r.state for r in rows.values() if r.id != first.id] == [ACCEPTED]
    # Never again, whenever the worker looks.
    later = delivery.deliver_due(sessions, app.config, at=SLOT + timedelta(days=2))
    assert later.delivered == 0 and len(smtp.messages) == 2
    assert {str(m["To"]) for m in smtp.messages} == {o.email for o in owners}


def test_a_worker_whose_lease_was_taken_over_does_not_send(app, db, smtp, sessions):
    """A worker stalled past its lease, while another claimed the row, must not send it too:
    the hand-over checks the lease is still its own."""
    publish_demo(db)
    owned_serum(db, 77)
    tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    db.commit()
    with sessions() as slow:
        [stale] = delivery.claim_due(slow, app.config, SLOT, 10, delivery.Report())
    later = SLOT + timedelta(seconds=float(app.config["MAIL_LEASE_SECONDS"]) + 1)
    with sessions() as other:
        [fresh] = delivery.claim_due(other, app.config, later, 10, delivery.Report())
    assert fresh.id == stale.id and fresh.lease != stale.lease
    engine = sessions.kw["bind"]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as marks:
        with pytest.raises(delivery.LeaseLost):
            delivery.hand_over(marks, stale, later)
        delivery.hand_over(marks, fresh, later)  # the lease holder hands over
    row = _rows(db)[0]
    assert row.sent_at == later
