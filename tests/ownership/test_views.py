"""Owner pages with no other test: withdrawing a transfer, reporting theft, stopping messages."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.catalog.models import Item, Owner
from tests.factories import item_path, post_form, tap
from tests.ownership.helpers import confirmed_owner, owned


def _offer_link(resp) -> str:  # type: ignore[no-untyped-def]
    match = re.search(r'value="http://localhost(/transfer/[^"]+)"', resp.get_data(as_text=True))
    assert match, "the offer page shows the link"
    return match.group(1)


def test_owner_withdraws_a_transfer_link_and_it_no_longer_works(app, db, keyring):
    tag, seller = owned(app, db, keyring)
    link = _offer_link(post_form(seller, item_path(tag, "transfer")))
    # A visitor holding the item cannot withdraw the owner's offer.
    visitor = app.test_client()
    tap(visitor, db, keyring, tag)
    assert post_form(visitor, item_path(tag, "transfer/cancel")).status_code == 403

    cancelled = post_form(seller, item_path(tag, "transfer/cancel"))
    assert cancelled.status_code == 303
    assert cancelled.headers["Location"].endswith(item_path(tag, "owner"))

    buyer = app.test_client()
    opened = buyer.get(link)
    assert opened.status_code == 409 and "withdrew" in opened.get_data(as_text=True)
    tap(buyer, db, keyring, tag)
    refused = post_form(buyer, link + "/accept")
    assert refused.status_code == 409 and "withdrew" in refused.get_data(as_text=True)
    assert tap(seller, db, keyring, tag, as_json=True).get_json()["ownership"]["you_own_it"]
    # A new link works again.
    fresh = _offer_link(post_form(seller, item_path(tag, "transfer")))
    tap(buyer, db, keyring, tag)
    assert post_form(buyer, fresh + "/accept").status_code == 303


def _stolen(db, tag) -> bool:  # type: ignore[no-untyped-def]
    db.expire_all()
    return db.get_one(Item, tag.item_id).stolen_at is not None


def test_owner_reports_the_item_stolen_then_found(app, db, keyring):
    tag, owner = owned(app, db, keyring)
    link = _offer_link(post_form(owner, item_path(tag, "transfer")))
    stranger = app.test_client()
    tap(stranger, db, keyring, tag)
    assert post_form(stranger, item_path(tag, "stolen"), {"stolen": "yes"}).status_code == 403
    assert not _stolen(db, tag)

    reported = post_form(owner, item_path(tag, "stolen"), {"stolen": "yes"})
    assert reported.status_code == 303
    assert _stolen(db, tag)
    assert "Reported stolen." in owner.get(item_path(tag, "owner")).get_data(as_text=True)
    # Whoever taps it now is told, the open link was withdrawn and no new one can be made.
    page = tap(stranger, db, keyring, tag).get_data(as_text=True)
    assert "This item has been reported stolen" in page
    assert post_form(stranger, link + "/accept").status_code == 409
    assert post_form(owner, item_path(tag, "transfer")).status_code == 409

    found = post_form(owner, item_path(tag, "stolen"), {"stolen": "no"})
    assert found.status_code == 303
    assert not _stolen(db, tag)
    assert post_form(owner, item_path(tag, "transfer")).status_code == 201


def _opted_in(db) -> bool:  # type: ignore[no-untyped-def]
    db.expire_all()
    return db.scalar(select(Owner.email_opt_in))


def test_owner_stops_and_restarts_messages(app, db, keyring, mailbox):
    tag, phone = confirmed_owner(app, db, keyring, mailbox)
    assert _opted_in(db) is True
    assert "Stop emails about my products" in phone.get(item_path(tag, "owner")).get_data(
        as_text=True)
    stranger = app.test_client()
    tap(stranger, db, keyring, tag)
    assert post_form(stranger, item_path(tag, "messages"), {"opt_in": "no"}).status_code == 403
    assert _opted_in(db) is True

    stopped = post_form(phone, item_path(tag, "messages"), {"opt_in": "no"})
    assert stopped.status_code == 303
    assert _opted_in(db) is False
    page = phone.get(item_path(tag, "owner")).get_data(as_text=True)
    assert "Send me care reminders and offers" in page
    assert "Stop emails about my products" not in page

    assert post_form(phone, item_path(tag, "messages"), {"opt_in": "yes"}).status_code == 303
    assert _opted_in(db) is True


def test_messages_cannot_be_switched_on_without_a_confirmed_address(app, db, keyring):
    tag, phone = owned(app, db, keyring)
    assert post_form(phone, item_path(tag, "messages"), {"opt_in": "yes"}).status_code == 303
    assert _opted_in(db) is False
