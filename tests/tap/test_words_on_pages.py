"""Words on the tap's pages that a person reads as facts (issue 13, item 7): what "verified"
means, who is the owner, grammar, and times in the brand's time zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.catalog.holdings import current_holding
from app.catalog.models import Brand, Owner
from app.catalog.views import item_view
from app.ownership.models import TransferOffer
from app.tap.present import replay_owner_url
from app.verify.service import GENUINE, INVALID, REPLAYED, REVOKED, UNKNOWN_TAG
from tests.factories import item_path, post_form, tagged_item, tap, tap_url
from tests.ownership.helpers import owned

VERIFIED = "Verified with the chip inside this product"


def text(resp) -> str:  # type: ignore[no-untyped-def]
    return unescape(resp.get_data(as_text=True))


def _offer_link(seller, tag) -> str:  # type: ignore[no-untyped-def]
    created = post_form(seller, item_path(tag, "transfer"))
    assert created.status_code == 201
    match = re.search(r'value="http://localhost(/transfer/[^"]+)"', created.get_data(as_text=True))
    assert match
    return match.group(1)


# --- 1. "Verified" only under a verified tap -------------------------------------------------


def test_only_a_genuine_tap_says_verified_never_a_replayed_forged_or_refused_page(
    app, client, db, keyring
):
    tag = tagged_item(db)
    url = tap_url(db, keyring, tag)
    genuine = client.get(url)
    assert genuine.status_code == 200 and VERIFIED in text(genuine)

    replayed = app.test_client().get(url)
    assert replayed.status_code == 409
    assert "Not verified" in text(replayed) and VERIFIED not in text(replayed)

    head, cmac = url.rsplit("cmac=", 1)
    forged = app.test_client().get(f"{head}cmac={cmac[:-1]}{'1' if cmac[-1] == '0' else '0'}")
    assert forged.status_code == 400
    assert "Not verified" in text(forged) and VERIFIED not in text(forged)

    # The owner's page asked for by a browser that never tapped the item: refused, not verified.
    refused = app.test_client().get(item_path(tag, "owner"))
    assert refused.status_code == 403 and VERIFIED not in text(refused)
    # The offer page a buyer opens before tapping proves nothing about the item either.
    offer = app.test_client().get(_offer_link(client, tag))
    assert offer.status_code == 200 and VERIFIED not in text(offer)


# --- 2. A pending buyer is not welcomed back -----------------------------------------------


def test_a_buyer_holding_the_offer_is_about_to_become_the_owner_not_welcomed_back(
    app, db, keyring
):
    tag, seller = owned(app, db, keyring)
    buyer = app.test_client()
    assert buyer.get(_offer_link(seller, tag)).status_code == 200
    page = text(tap(buyer, db, keyring, tag))
    assert "You are about to become the owner" in page
    assert "Accept and become the owner" in page
    assert "Welcome back" not in page and "tap number" not in page
    assert f"Your {tag.item.product.name}" not in page

    # Someone else tapping it (no offer) is told it is genuine, not that it is theirs.
    friend = text(tap(app.test_client(), db, keyring, tag))
    assert f"This {tag.item.product.name} checked out as genuine again" in friend
    assert "Welcome back" not in friend and "about to become the owner" not in friend
    assert f"Your {tag.item.product.name}" not in friend


# --- 3. Articles and plurals ---------------------------------------------------------------


def test_plural_products_agree_and_names_take_the_right_article(app, db, keyring):
    pair = tagged_item(db, category="sneakers", attributes={"plural": True},
                       released=None)  # type: ignore[arg-type]  # sale not known: register
    page = text(tap(app.test_client(), db, keyring, pair))
    assert "Are these sneakers yours?" in page and "Is this sneakers" not in page

    bag = tagged_item(db, category="bag", released=None)  # type: ignore[arg-type]
    assert "Is this bag yours?" in text(tap(app.test_client(), db, keyring, bag))

    boxed = tagged_item(db, category="sneakers", attributes={"plural": True})
    page = text(tap(app.test_client(), db, keyring, boxed))
    assert "the first time these sneakers have been tapped" in page
    assert "You are owner #1 of these sneakers" in page or "owner #1 of these sneakers" in page

    tag, seller = owned(app, db, keyring)
    tag.item.product.name = "Aurelia Weekender Bag"
    db.commit()
    offer = text(app.test_client().get(_offer_link(seller, tag)))
    assert "You have been offered an Aurelia Weekender Bag" in offer
    assert "a Aurelia" not in offer


# --- 5. The owner reloading their own tap page ---------------------------------------------


def test_a_replayed_tap_offers_the_owner_their_page_and_nobody_else_anything(app, db, keyring):
    tag = tagged_item(db)
    owner = app.test_client()
    url = tap_url(db, keyring, tag)
    assert owner.get(url).status_code == 200  # unboxing: this browser is the owner

    reload = owner.get(url)
    assert reload.status_code == 409
    page = text(reload)
    assert "Not verified" in page
    link = re.search(r'<a class="button" href="([^"]+)">Go to your owner page</a>', page)
    assert link and link.group(1) == item_path(tag, "owner")
    assert owner.get(link.group(1)).status_code == 200

    # The same used link in any other browser: no way in, and nothing about the item.
    item = tag.item
    for stranger in (app.test_client(), _owner_of_another_item(app, db, keyring)):
        replayed = stranger.get(url)
        assert replayed.status_code == 409
        other = text(replayed)
        assert "Not verified" in other and "Go to your owner page" not in other
        for secret in (item.serial, item.product.name, item.product.gtin, "/items/"):
            assert secret not in other, secret


def test_only_a_replayed_tap_looks_for_the_owner(app, db, keyring):
    """The lookup is for reloads only: other verdicts never offer (or query) the owner page."""
    tag, _phone = owned(app, db, keyring)
    owner = db.get(Owner, current_holding(db, tag.item_id).owner_id)
    item = item_view(tag.item)
    with app.test_request_context():
        for verdict in (GENUINE, REVOKED, INVALID, UNKNOWN_TAG):
            outcome = SimpleNamespace(verdict=verdict, item=item)
            assert replay_owner_url(db, outcome, owner) is None, verdict  # type: ignore[arg-type]
        replay = SimpleNamespace(verdict=REPLAYED, item=item)
        assert replay_owner_url(db, replay, owner) == item_path(tag, "owner")  # type: ignore[arg-type]


def _owner_of_another_item(app, db, keyring):  # type: ignore[no-untyped-def]
    _tag, phone = owned(app, db, keyring)
    return phone


# --- 7. Times in the brand's time zone -----------------------------------------------------


def test_times_are_shown_in_the_brand_time_zone(app, client, db, keyring):
    tag = tagged_item(db, attributes={"warranty_months": 24})
    brand = db.scalar(select(Brand).where(Brand.slug == "maison-aurelia"))
    brand.timezone = "Asia/Tokyo"
    # Late evening in UTC: already the next day (and month) in Tokyo.
    tag.item.created_at = datetime(2026, 10, 31, 22, 0, tzinfo=UTC)
    db.commit()
    assert tap(client, db, keyring, tag).status_code == 200  # owner #1
    tag.item.warranty_ends_at = datetime(2028, 3, 31, 20, 0, tzinfo=UTC)
    db.commit()
    page = text(tap(client, db, keyring, tag))
    assert "<dt>Made</dt><dd>November 2026</dd>" in page
    assert "until <strong>1 April 2028</strong>" in page

    link = _offer_link(client, tag)
    offer = db.scalar(select(TransferOffer))
    local = offer.expires_at.astimezone(ZoneInfo("Asia/Tokyo"))
    shown = f"{local.day} {local:%B %Y}, {local:%H:%M} (Tokyo time)"
    page = text(app.test_client().get(link))
    assert f"valid until {shown} and can be accepted once" in page
    assert "UTC" not in page
