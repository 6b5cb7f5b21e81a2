"""The owner page's consent form: each kind of message the brand sends, per channel, in words;
one POST saves them, and delivery then honours them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.catalog.models import Owner, Ownership
from app.core.db import make_engine
from app.messages import delivery
from app.messages.consent import granted
from app.messages.models import ACCEPTED, SUPPRESSED, Message
from app.messages.ticks import tick
from tests.factories import item_path, post_form, tagged_item, tap
from tests.messages.helpers import BRAND, SLOT, publish_demo

REFILL = "consent:email:refill_email"
WIN_BACK = "consent:email:win_back_email"


@pytest.fixture
def sessions(app) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(app.config["DATABASE_URL"])
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def _owner_of_a_serum(app, db, keyring):  # type: ignore[no-untyped-def]
    """Return (tag, phone, owner id): a serum claimed by ``phone``'s tap, its owner with a
    confirmed, opted-in address and an ownership 77 days old at SLOT."""
    tag = tagged_item(db, category="serum")
    phone = app.test_client()
    assert tap(phone, db, keyring, tag).status_code == 200
    db.expire_all()
    holding = db.scalar(select(Ownership).where(Ownership.item_id == tag.item.id))
    owner = db.get(Owner, holding.owner_id)
    owner.email, owner.email_opt_in = "ana@example.com", True
    owner.email_verified_at = SLOT - timedelta(days=80)
    holding.started_at = SLOT - timedelta(days=77, hours=1)
    db.commit()
    return tag, phone, owner.id


def _refill_state(app, db, sessions, at) -> str:  # type: ignore[no-untyped-def]
    tick(db, app.config, BRAND, "refill-reminder", at, at)
    db.commit()
    delivery.deliver_due(sessions, app.config, at=at)
    db.expire_all()
    return db.scalars(select(Message.state).where(Message.slot == at)).one()


def test_owner_unticks_refill_reminders_then_ticks_them_again(app, db, keyring, smtp, sessions):
    publish_demo(db)
    tag, phone, owner_id = _owner_of_a_serum(app, db, keyring)
    page = phone.get(item_path(tag, "owner")).get_data(as_text=True)
    # In words, per channel; never the template's identifier (field names aside).
    words = re.sub(r"<[^>]+>", " ", page)
    assert "Refill reminders" in words and "refill" not in words.replace("Refill", "")
    assert f'name="{REFILL}" value="yes" checked' in page
    assert "The brand’s customer service" in page  # the win-back also goes to the CRM

    # Someone else's phone cannot change the owner's answers.
    stranger = app.test_client()
    tap(stranger, db, keyring, tag)
    assert post_form(stranger, item_path(tag, "consent"), {WIN_BACK: "yes"}).status_code == 403
    db.expire_all()
    assert granted(db, owner_id, "email", "refill_email")

    # Unticked: the browser sends nothing for the box.
    saved = post_form(phone, item_path(tag, "consent"), {WIN_BACK: "yes"})
    assert saved.status_code == 303 and saved.headers["Location"].endswith("/owner#messages")
    db.expire_all()
    assert not granted(db, owner_id, "email", "refill_email")
    assert granted(db, owner_id, "email", "win_back_email")
    assert not granted(db, owner_id, "crm_webhook", "win_back_email")
    page = phone.get(item_path(tag, "owner")).get_data(as_text=True)
    assert f'name="{REFILL}" value="yes">' in page
    assert _refill_state(app, db, sessions, SLOT) == SUPPRESSED
    assert smtp.messages == []

    assert post_form(phone, item_path(tag, "consent"), {REFILL: "yes"}).status_code == 303
    db.expire_all()
    assert granted(db, owner_id, "email", "refill_email")
    holding = db.scalar(select(Ownership).where(Ownership.item_id == tag.item.id))
    holding.started_at += timedelta(days=1)  # 77 days old again, a day later
    db.commit()
    assert _refill_state(app, db, sessions, SLOT + timedelta(days=1)) == ACCEPTED
    assert len(smtp.wait_for(1)) == 1


def test_consent_needs_the_csrf_token(app, db, keyring):
    publish_demo(db)
    tag, phone, owner_id = _owner_of_a_serum(app, db, keyring)
    assert phone.post(item_path(tag, "consent"), data={}).status_code in (400, 403)
    db.expire_all()
    assert granted(db, owner_id, "email", "refill_email")


def test_owner_chooses_a_time_zone_and_back_to_automatic(app, db, keyring):
    from app.core import privacy

    publish_demo(db)
    tag, phone, owner_id = _owner_of_a_serum(app, db, keyring)
    page = phone.get(item_path(tag, "owner")).get_data(as_text=True)
    assert '<option value="">Automatic (from where you tap)</option>' in page
    assert '<option value="Asia/Tokyo">Asia · Tokyo</option>' in page
    assert 'value="Etc/GMT-14"' not in page

    saved = post_form(phone, item_path(tag, "consent"), {REFILL: "yes", "timezone": "Asia/Tokyo"})
    assert saved.status_code == 303
    db.expire_all()
    assert db.get(Owner, owner_id).timezone == "Asia/Tokyo"
    page = phone.get(item_path(tag, "owner")).get_data(as_text=True)
    assert '<option value="Asia/Tokyo" selected>Asia · Tokyo</option>' in page
    assert privacy.export_owner(db, owner_id)["message_time_zone"] == "Asia/Tokyo"

    assert post_form(phone, item_path(tag, "consent"),
                     {REFILL: "yes", "timezone": ""}).status_code == 303
    db.expire_all()
    assert db.get(Owner, owner_id).timezone is None
    assert privacy.export_owner(db, owner_id)["message_time_zone"] is None


def test_an_unknown_time_zone_is_refused_and_nothing_changes(app, db, keyring):
    publish_demo(db)
    tag, phone, owner_id = _owner_of_a_serum(app, db, keyring)
    assert post_form(phone, item_path(tag, "consent"),
                     {REFILL: "yes", "timezone": "Europe/Paris"}).status_code == 303
    # The refill box unticked and a zone nobody offered: neither is saved.
    refused = post_form(phone, item_path(tag, "consent"), {"timezone": "Mars/Olympus_Mons"})
    assert refused.status_code == 400
    assert "We do not know this time zone" in refused.get_data(as_text=True)
    db.expire_all()
    assert db.get(Owner, owner_id).timezone == "Europe/Paris"
    assert granted(db, owner_id, "email", "refill_email")


def test_erasing_the_owner_clears_their_time_zone(app, db, keyring):
    from app.core import privacy

    publish_demo(db)
    tag, phone, owner_id = _owner_of_a_serum(app, db, keyring)
    post_form(phone, item_path(tag, "consent"), {REFILL: "yes", "timezone": "Asia/Tokyo"})
    privacy.erase_owner(db, owner_id, SLOT)
    db.commit()
    db.expire_all()
    assert db.get(Owner, owner_id).timezone is None


def test_any_time_zone_from_its_own_page_and_the_owner_page_stays_light(app, db, keyring):
    publish_demo(db)
    tag, phone, owner_id = _owner_of_a_serum(app, db, keyring)
    owner_page = phone.get(item_path(tag, "owner")).get_data(as_text=True)
    # Inline: the markets' few zones, and a link to the rest (some 500 would weigh 20 KB).
    assert owner_page.count("<option") < 12
    assert 'Pacific/Auckland' not in owner_page
    assert f'href="{item_path(tag, "timezone")}">Another time zone</a>' in owner_page

    full = phone.get(item_path(tag, "timezone"))
    assert full.status_code == 200
    text = full.get_data(as_text=True)
    assert '<optgroup label="Pacific">' in text and '<option value="Pacific/Auckland">Auckland' \
        in text
    assert full.headers["Cache-Control"].startswith("no-store")
    assert post_form(phone, item_path(tag, "timezone"),
                     {"timezone": "Pacific/Auckland"}).status_code == 303
    db.expire_all()
    assert db.get(Owner, owner_id).timezone == "Pacific/Auckland"
    # Chosen there, it is shown selected on the owner page, among the few.
    owner_page = phone.get(item_path(tag, "owner")).get_data(as_text=True)
    assert '<option value="Pacific/Auckland" selected>Pacific · Auckland</option>' in owner_page
    assert '<option value="Pacific/Auckland" selected>Auckland' in phone.get(
        item_path(tag, "timezone")).get_data(as_text=True)

    refused = post_form(phone, item_path(tag, "timezone"), {"timezone": "Mars/Olympus_Mons"})
    assert refused.status_code == 400
    db.expire_all()
    assert db.get(Owner, owner_id).timezone == "Pacific/Auckland"

    # Only the owner, with a live tap: a stranger's browser sees neither the page nor a change.
    stranger = app.test_client()
    assert stranger.get(item_path(tag, "timezone")).status_code in (401, 403)
    assert post_form(stranger, item_path(tag, "timezone"),
                     {"timezone": "Asia/Tokyo"}).status_code in (400, 401, 403)
    db.expire_all()
    assert db.get(Owner, owner_id).timezone == "Pacific/Auckland"
