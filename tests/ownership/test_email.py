"""Email with opt-in and recovery on a new phone, through a real SMTP server."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.catalog.models import Owner
from app.core import outbox
from app.ownership.models import OwnerToken
from tests.factories import item_path, post_form, tagged_item, tap
from tests.ownership.helpers import confirmed_owner, mail_link


def test_email_is_confirmed_before_it_counts(app, db, keyring, mailbox):
    tag, phone = confirmed_owner(app, db, keyring, mailbox)
    db.expire_all()
    owner = db.scalar(select(Owner))
    assert owner.email == "ana@example.com" and owner.email_opt_in is True
    # Opt-in now shows in the owner's facts.
    assert "Stop emails" in phone.get(item_path(tag, "owner")).get_data(as_text=True)
    # A confirmation link works once.
    link = mail_link(mailbox.messages[0])
    assert post_form(phone, link).status_code == 409


def test_recovery_on_a_new_phone(app, db, keyring, mailbox):
    tag, _old_phone = confirmed_owner(app, db, keyring, mailbox)
    new_phone = app.test_client()
    page = tap(new_phone, db, keyring, tag).get_data(as_text=True)
    assert "This is mine, on a new phone" in page

    wrong = post_form(new_phone, item_path(tag, "recover"), {"email": "eve@example.com"})
    right = post_form(new_phone, item_path(tag, "recover"), {"email": "ANA@example.com"})
    # Same page either way: the form does not reveal whose address it is.
    assert wrong.get_data(as_text=True) == right.get_data(as_text=True)
    messages = mailbox.wait_for(2)
    assert len(messages) == 2  # the confirmation, and one recovery link (none for eve)
    assert messages[1]["To"] == "ana@example.com"
    link = mail_link(messages[1])
    assert new_phone.get(item_path(tag, "owner")).status_code == 403
    done = post_form(new_phone, link)
    assert done.status_code == 200
    assert any(c.startswith("aftertap_owner=") for c in done.headers.getlist("Set-Cookie"))
    assert new_phone.get(item_path(tag, "owner")).status_code == 200
    assert post_form(app.test_client(), link).status_code == 409  # one-time


def test_recovery_needs_the_item_in_hand(app, db, keyring, mailbox):
    tag, _phone = confirmed_owner(app, db, keyring, mailbox)
    stranger = app.test_client()
    resp = post_form(stranger, item_path(tag, "recover"), {"email": "ana@example.com"})
    assert resp.status_code == 403
    assert len(mailbox.messages) == 1  # only the confirmation


def test_an_unanswering_mail_server_does_not_hold_the_page(app, db, keyring):
    # A server that accepts the connection and never says a word: sending in the request
    # would hang here for the whole SMTP timeout.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=silent.getsockname()[1],
                          SMTP_TIMEOUT_SECONDS=8)
        tag = tagged_item(db)
        phone = app.test_client()
        tap(phone, db, keyring, tag)
        started = time.monotonic()
        resp = post_form(phone, item_path(tag, "email"), {"email": "ana@example.com"})
        elapsed = time.monotonic() - started
    assert resp.status_code == 200 and "Check your inbox" in resp.get_data(as_text=True)
    assert elapsed < 4, f"the page waited {elapsed:.1f} s for the mail server"
    assert outbox.counts(db) == {"pending": 1}


def test_mail_queued_while_the_server_is_down_arrives_once_it_is_back(app, db, keyring, smtp):
    tag = tagged_item(db)
    port = smtp.port
    app.config.update(SMTP_PORT=1, SMTP_TIMEOUT_SECONDS=2)  # nothing listens on port 1
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    post_form(phone, item_path(tag, "email"), {"email": "ana@example.com"})
    sessions = app.extensions["aftertap.db"].sessionmaker
    assert outbox.deliver_due(sessions, app.config).retrying == 1
    app.config.update(SMTP_PORT=port)
    later = datetime.now(UTC) + timedelta(minutes=2)  # past the first retry's back-off
    assert outbox.deliver_due(sessions, app.config, at=later).sent == 1
    (message,) = smtp.wait_for(1)
    assert message["To"] == "ana@example.com"
    assert post_form(phone, mail_link(message)).status_code == 200


def test_bad_email_is_refused_and_nothing_stored(app, db, keyring):
    tag = tagged_item(db)
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    resp = post_form(phone, item_path(tag, "email"), {"email": "not an address"})
    assert resp.status_code == 400
    assert "email address like" in resp.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(OwnerToken)) == 0
