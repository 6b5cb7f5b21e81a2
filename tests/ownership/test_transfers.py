"""Resale: single-use expiring offers, accepted by a buyer holding the item; one winner."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.catalog.models import Ownership
from app.catalog.views import item_view
from app.core.errors import Conflict
from app.ownership.lifecycle import claim, lifecycle, lifecycle_fact
from app.ownership.models import TransferOffer
from app.ownership.transfers import accept_offer, create_offer
from tests.factories import item_path, post_form, tagged_item, tap
from tests.ownership.helpers import AUTH, owned

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _offer_path(resp) -> str:  # type: ignore[no-untyped-def]
    match = re.search(r'value="http://localhost(/transfer/[^"]+)"', resp.get_data(as_text=True))
    assert match, "the offer page shows the link"
    return match.group(1)


def _history(db, tag) -> list[tuple]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return [
        (o.ordinal, o.began_by, o.ended_by)
        for o in db.scalars(select(Ownership).where(Ownership.item_id == tag.item_id)
                            .order_by(Ownership.ordinal))
    ]


def test_resale_moves_ownership_to_the_buyer_once(app, db, keyring):
    tag, seller = owned(app, db, keyring)
    created = post_form(seller, item_path(tag, "transfer"))
    assert created.status_code == 201
    link = _offer_path(created)

    buyer = app.test_client()
    landing = buyer.get(link)
    assert landing.status_code == 200
    assert "Now hold this phone to the item" in landing.get_data(as_text=True)
    # The link alone cannot accept: the buyer must hold the item.
    assert post_form(buyer, link + "/accept").status_code == 403
    page = tap(buyer, db, keyring, tag).get_data(as_text=True)
    assert "Accept and become the owner" in page
    accepted = post_form(buyer, link + "/accept")
    assert accepted.status_code == 303
    welcome = buyer.get(accepted.headers["Location"])
    assert welcome.status_code == 200
    assert "Welcome, new owner" in welcome.get_data(as_text=True)
    assert _history(db, tag) == [(1, "first_tap", "transfer"), (2, "transfer", None)]

    # The buyer's next tap is their first as owner: new-owner onboarding.
    body = tap(buyer, db, keyring, tag, as_json=True).get_json()
    assert body["experience"]["journey"] == "new-owner-welcome"
    # The old owner, even tapping the item, gets nothing of the owner's.
    old = tap(seller, db, keyring, tag, as_json=True).get_json()
    assert old["ownership"]["you_own_it"] is False
    for path in ("owner", "export", "content"):
        assert seller.get(item_path(tag, path)).status_code == 403, path
    assert post_form(seller, item_path(tag, "transfer")).status_code == 403

    # The link was single-use.
    third = app.test_client()
    tap(third, db, keyring, tag)
    again = post_form(third, link + "/accept")
    assert again.status_code == 409
    assert "already been used" in again.get_data(as_text=True)
    assert len(_history(db, tag)) == 2


def test_expired_and_unknown_offers_fail_with_a_clear_page(app, db, keyring):
    tag, seller = owned(app, db, keyring)
    link = _offer_path(post_form(seller, item_path(tag, "transfer")))
    db.execute(update(TransferOffer).values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
    db.commit()
    buyer = app.test_client()
    resp = buyer.get(link)
    assert resp.status_code == 410
    assert "expired" in resp.get_data(as_text=True)
    tap(buyer, db, keyring, tag)
    assert post_form(buyer, link + "/accept").status_code == 410
    assert buyer.get("/transfer/not-a-real-token").status_code == 404
    assert _history(db, tag) == [(1, "first_tap", None)]


def test_a_new_link_withdraws_the_old_one(app, db, keyring):
    tag, seller = owned(app, db, keyring)
    first = _offer_path(post_form(seller, item_path(tag, "transfer")))
    second = _offer_path(post_form(seller, item_path(tag, "transfer")))
    buyer = app.test_client()
    tap(buyer, db, keyring, tag)
    resp = post_form(buyer, first + "/accept")
    assert resp.status_code == 409 and "withdrew" in resp.get_data(as_text=True)
    assert post_form(buyer, second + "/accept").status_code == 303


def test_stolen_flag_blocks_transfers(app, db, keyring):
    app.config["ADMIN_PASSWORD"] = "pw"
    tag, seller = owned(app, db, keyring)
    link = _offer_path(post_form(seller, item_path(tag, "transfer")))
    gtin, serial = tag.item.product.gtin, tag.item.serial
    flagged = seller.post(f"/admin/api/items/{gtin}/{serial}/stolen",
                          json={"stolen": True, "reason": "police report 123"}, headers=AUTH)
    assert flagged.status_code == 200 and flagged.get_json()["stolen"] is True

    buyer = app.test_client()
    page = tap(buyer, db, keyring, tag).get_data(as_text=True)
    assert "reported stolen" in page
    assert post_form(buyer, link + "/accept").status_code == 409  # open offers were withdrawn
    tap(seller, db, keyring, tag)
    blocked = post_form(seller, item_path(tag, "transfer"))
    assert blocked.status_code == 409 and "stolen" in blocked.get_data(as_text=True)
    assert _history(db, tag) == [(1, "first_tap", None)]


def test_two_buyers_racing_for_one_offer_exactly_one_wins(app, db, keyring):
    tag, seller = owned(app, db, keyring)
    link = _offer_path(post_form(seller, item_path(tag, "transfer")))
    buyers = [app.test_client() for _ in range(6)]
    for buyer in buyers:
        tap(buyer, db, keyring, tag)
    barrier = threading.Barrier(len(buyers))

    def accept(buyer) -> int:  # type: ignore[no-untyped-def]
        barrier.wait()
        return post_form(buyer, link + "/accept").status_code

    with ThreadPoolExecutor(len(buyers)) as pool:
        statuses = sorted(pool.map(accept, buyers))
    assert statuses == [303] + [409] * (len(buyers) - 1)
    assert _history(db, tag) == [(1, "first_tap", "transfer"), (2, "transfer", None)]


def test_previous_owner_is_known_after_a_transfer(app, db):
    tag = tagged_item(db)
    view = item_view(tag.item)
    seller, _ = claim(db, view, None, NOW)
    token, _offer = create_offer(db, app.config, view, seller, NOW)
    buyer, ordinal = accept_offer(db, token, view, None, NOW)
    db.commit()
    assert ordinal == 2
    old = lifecycle_fact(lifecycle(db, view, seller.id), NOW)
    assert (old["owner.is_current"], old["owner.is_previous"]) == (False, True)
    new = lifecycle_fact(lifecycle(db, view, buyer.id), NOW)
    assert (new["owner.is_current"], new["ownership.ordinal"]) == (True, 2)
    with pytest.raises(Conflict):
        accept_offer(db, token, view, None, NOW)
