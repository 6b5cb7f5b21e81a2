"""Email with opt-in, recovery on a new phone through a real SMTP server, export and erasure."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from sqlalchemy import func, select

from app.catalog.models import Owner, Ownership
from app.ownership.models import OwnerToken
from app.verify.models import TapEvent
from tests.factories import item_path, post_form, tagged_item, tap


def _link(message) -> str:  # type: ignore[no-untyped-def]
    body = message.get_content()
    match = re.search(r"http://localhost(/\S+)", body)
    assert match, body
    return urlsplit(match.group(1)).path


def _confirmed_owner(app, db, keyring, mailbox, address="ana@Example.COM"):  # type: ignore[no-untyped-def]
    tag = tagged_item(db)
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    resp = post_form(phone, item_path(tag, "email"), {"email": address, "opt_in": "yes"})
    assert resp.status_code == 200 and "Check your inbox" in resp.get_data(as_text=True)
    (message,) = mailbox.wait_for(1)
    assert message["To"] == "ana@example.com"
    link = _link(message)
    # Opening the link (a mail scanner would) changes nothing; pressing the button confirms.
    assert phone.get(link).status_code == 200
    db.expire_all()
    assert db.scalar(select(Owner.email_verified_at)) is None
    assert post_form(phone, link).status_code == 200
    return tag, phone


def test_email_is_confirmed_before_it_counts(app, db, keyring, mailbox):
    tag, phone = _confirmed_owner(app, db, keyring, mailbox)
    db.expire_all()
    owner = db.scalar(select(Owner))
    assert owner.email == "ana@example.com" and owner.email_opt_in is True
    # Opt-in now shows in the owner's facts.
    assert "Stop emails" in phone.get(item_path(tag, "owner")).get_data(as_text=True)
    # A confirmation link works once.
    link = _link(mailbox.messages[0])
    assert post_form(phone, link).status_code == 409


def test_recovery_on_a_new_phone(app, db, keyring, mailbox):
    tag, _old_phone = _confirmed_owner(app, db, keyring, mailbox)
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
    link = _link(messages[1])
    assert new_phone.get(item_path(tag, "owner")).status_code == 403
    done = post_form(new_phone, link)
    assert done.status_code == 200
    assert any(c.startswith("aftertap_owner=") for c in done.headers.getlist("Set-Cookie"))
    assert new_phone.get(item_path(tag, "owner")).status_code == 200
    assert post_form(app.test_client(), link).status_code == 409  # one-time


def test_recovery_needs_the_item_in_hand(app, db, keyring, mailbox):
    tag, _phone = _confirmed_owner(app, db, keyring, mailbox)
    stranger = app.test_client()
    resp = post_form(stranger, item_path(tag, "recover"), {"email": "ana@example.com"})
    assert resp.status_code == 403
    assert len(mailbox.messages) == 1  # only the confirmation


def test_smtp_down_is_a_clear_error(app, db, keyring):
    tag = tagged_item(db)
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=1, SMTP_TIMEOUT_SECONDS=2)
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    resp = post_form(phone, item_path(tag, "email"), {"email": "ana@example.com"})
    assert resp.status_code == 503
    assert "could not send the email" in resp.get_data(as_text=True)


def test_bad_email_is_refused_and_nothing_stored(app, db, keyring):
    tag = tagged_item(db)
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    resp = post_form(phone, item_path(tag, "email"), {"email": "not an address"})
    assert resp.status_code == 400
    assert "email address like" in resp.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(OwnerToken)) == 0


def test_export_then_erase(app, db, keyring, mailbox):
    tag, phone = _confirmed_owner(app, db, keyring, mailbox)
    exported = phone.get(item_path(tag, "export"))
    assert exported.status_code == 200
    assert "attachment" in exported.headers["Content-Disposition"]
    data = exported.get_json()
    assert data["owner"]["email"] == "ana@example.com"
    assert [o["serial"] for o in data["ownerships"]] == [tag.item.serial]
    taps_before = db.scalar(select(func.count()).select_from(TapEvent))

    unconfirmed = post_form(phone, item_path(tag, "erase"))
    assert unconfirmed.status_code == 400
    erased = post_form(phone, item_path(tag, "erase"), {"confirm": "yes"})
    assert erased.status_code == 200
    assert any(c.startswith("aftertap_owner=;") for c in erased.headers.getlist("Set-Cookie"))

    db.expire_all()
    owner = db.scalar(select(Owner))
    assert (owner.email, owner.email_opt_in, owner.erased_at is not None) == (None, False, True)
    assert db.scalar(select(OwnerToken.email).where(OwnerToken.email.is_not(None))) is None
    (ownership,) = db.scalars(select(Ownership))
    assert ownership.ended_by == "erased"
    assert db.scalar(select(func.count()).select_from(TapEvent)) == taps_before
    # The item is free again; the next person to tap it becomes owner #2.
    body = tap(app.test_client(), db, keyring, tag, as_json=True).get_json()
    assert body["ownership"]["ordinal"] == 2 and body["ownership"]["claimed_now"] is True


def test_admin_export_and_erase_by_email(app, db, keyring, mailbox, runner):
    app.config["ADMIN_PASSWORD"] = "pw"
    auth = {"Authorization": "Basic YWRtaW46cHc="}
    _confirmed_owner(app, db, keyring, mailbox)
    client = app.test_client()
    resp = client.get("/admin/api/owners/export?email=ana@example.com", headers=auth)
    assert resp.status_code == 200 and resp.get_json()["owner"]["email"] == "ana@example.com"
    assert client.get("/admin/api/owners/export?email=nobody@example.com",
                      headers=auth).status_code == 404
    result = runner.invoke(args=["owners", "erase", "ana@example.com", "--yes"])
    assert result.exit_code == 0, result.output
    assert "1 ownership(s) ended" in result.output
    again = runner.invoke(args=["owners", "erase", "ana@example.com", "--yes"])
    assert again.exit_code == 1 and "No owner has that verified email" in again.output
