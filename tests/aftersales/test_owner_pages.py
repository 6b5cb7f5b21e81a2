"""The owner's service request, through real taps: only the current owner, item in hand."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app.aftersales import events, requests
from app.aftersales.models import ServiceRequest
from app.catalog.holdings import current_holding
from app.catalog.models import Owner, Ownership
from app.catalog.views import item_view
from app.ownership.transfers import accept_offer, create_offer
from app.verify.service import mint_tap_url
from tests.aftersales.conftest import SETTINGS
from tests.factories import tagged_item

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def watch(db):  # type: ignore[no-untyped-def]
    return tagged_item(db, category="watch", serial="W-0001",
                       attributes={"warranty_months": 24})


def tap(client, db, keyring, tag) -> str:  # type: ignore[no-untyped-def]
    """Tap ``tag`` in ``client``'s browser; return the tap URL (now used up)."""
    url = mint_tap_url(db, keyring, tag, "http://localhost")
    db.commit()
    resp = client.get(url)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return url


def form_url(tag) -> str:  # type: ignore[no-untyped-def]
    return f"/items/{tag.item.product.gtin}/{tag.item.serial}/service"


def csrf(client, url: str) -> str:  # type: ignore[no-untyped-def]
    resp = client.get(url)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return _CSRF.search(resp.get_data(as_text=True)).group(1)


def own_csrf(client) -> str:  # type: ignore[no-untyped-def]
    """Give a browser a valid CSRF token of its own, so only the owner guard can stop it."""
    token = "attacker-own-csrf"
    with client.session_transaction() as session:
        session["csrf"] = token
    return token


def requests_count(db) -> int:  # type: ignore[no-untyped-def]
    return db.scalar(select(func.count()).select_from(ServiceRequest))


def assert_refused(client, tag, db, expected: str) -> None:  # type: ignore[no-untyped-def]
    """GET and POST of the form answer 403 with ``expected`` and write nothing."""
    before = requests_count(db)
    resp = client.get(form_url(tag))
    assert resp.status_code == 403
    page = resp.get_data(as_text=True)
    assert expected in page
    assert tag.item.serial not in page.split("<main>")[1]  # nothing about the item leaks
    token = own_csrf(client)
    resp = client.post(form_url(tag), data={"csrf_token": token, "kind": "repair",
                                            "message": "Please fix"})
    assert resp.status_code == 403
    assert expected in resp.get_data(as_text=True)
    assert requests_count(db) == before


def test_owner_requests_a_service_prefilled(client, db, keyring, watch):
    tap(client, db, keyring, watch)
    item = watch.item
    db.expire_all()
    holding = current_holding(db, item.id)
    assert holding is not None  # the unboxing tap made this browser the owner
    owner = db.get(Owner, holding.owner_id)
    owner.email, owner.email_verified_at = "ines@example.com", datetime.now(UTC)
    db.commit()
    events.record_event(db, item.id, "pre-delivery check", datetime(2026, 1, 2, tzinfo=UTC),
                        location="Geneva workshop", settings=SETTINGS)
    db.commit()

    resp = client.get(form_url(watch))
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    page = resp.get_data(as_text=True)
    ends = item_view(db.get(type(item), item.id)).warranty_ends_at
    assert "Test watch" in page and "W-0001" in page
    # In the brand's time zone (UTC for the test brand), as app.core.wording.brand_time shows it.
    assert f"Under warranty</span> until {ends.day} {ends:%B %Y}" in page
    assert "ines@example.com" in page
    assert "pre-delivery check" in page and "Geneva workshop" in page
    for kind in requests.SERVICE_KINDS:
        assert f'value="{kind}"' in page

    token = _CSRF.search(page).group(1)
    resp = client.post(form_url(watch), data={
        "csrf_token": token, "kind": "repair", "message": "The crown came loose."})
    assert resp.status_code == 303
    row = db.scalar(select(ServiceRequest))
    assert (row.kind, row.message, row.under_warranty, row.status) == (
        "repair", "The crown came loose.", True, "open")
    assert row.ownership_id == holding.id
    assert resp.headers["Location"].endswith(f"{form_url(watch)}/{row.id}")

    done = client.get(resp.headers["Location"])
    assert done.status_code == 200
    page = done.get_data(as_text=True)
    assert requests.reference(row.id) in page
    assert "Repair" in page and "Under warranty" in page
    assert "We will reply to ines@example.com" in page

    # Sending the same form twice (a double tap on the button) makes one request.
    again = client.post(form_url(watch), data={
        "csrf_token": token, "kind": "repair", "message": "The crown came loose."})
    assert again.status_code == 303
    assert requests_count(db) == 1
    # The brand sees it, with the verified address to answer.
    (listed,) = requests.open_requests(db, "maison-aurelia")
    assert (listed.id, listed.contact_email) == (row.id, "ines@example.com")


def test_bad_input_shows_the_form_again_and_writes_nothing(client, db, keyring, watch):
    tap(client, db, keyring, watch)
    token = csrf(client, form_url(watch))
    resp = client.post(form_url(watch), data={"csrf_token": token, "kind": "repair",
                                              "message": "   "})
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "Please write the message." in page
    assert 'value="repair" required checked' in page  # what the owner chose is kept
    resp = client.post(form_url(watch), data={"csrf_token": token, "kind": "engrave",
                                              "message": "Initials <b>AB</b>"})
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "choose what the service is for" in page
    assert "Initials &lt;b&gt;AB&lt;/b&gt;" in page
    resp = client.post(form_url(watch), data={"csrf_token": token, "kind": "other",
                                              "message": "x" * 2001})
    assert resp.status_code == 400
    assert requests_count(db) == 0


def test_form_post_needs_the_csrf_token(client, db, keyring, watch):
    tap(client, db, keyring, watch)
    resp = client.post(form_url(watch), data={"kind": "repair", "message": "Fix"})
    assert resp.status_code == 400
    assert requests_count(db) == 0


def test_second_browser_gets_nothing(app, client, db, keyring, watch):
    url = tap(client, db, keyring, watch)
    other = app.test_client()
    assert_refused(other, watch, db, "Hold your phone to the product again")
    # A copied tap link opened elsewhere is a replay: it opens no tap session there either.
    assert other.get(url).status_code == 409
    assert_refused(other, watch, db, "Hold your phone to the product again")


def test_someone_else_tapping_the_item_is_not_the_owner(app, client, db, keyring, watch):
    tap(client, db, keyring, watch)
    client.get(form_url(watch))  # the owner's browser came back: the claim is confirmed
    visitor = app.test_client()
    tap(visitor, db, keyring, watch)  # genuinely in hand, but not theirs
    assert_refused(visitor, watch, db, "Only the registered owner")


def test_previous_owner_after_a_transfer_gets_nothing(app, client, db, keyring, watch):
    tap(client, db, keyring, watch)
    token = csrf(client, form_url(watch))
    # Leave an open request from the seller: the buyer must not see it as theirs.
    client.post(form_url(watch), data={"csrf_token": token, "kind": "cleaning",
                                       "message": "Dusty dial"})
    (seller_request,) = db.scalars(select(ServiceRequest)).all()
    db.expire_all()
    item = watch.item
    seller = db.get(Owner, current_holding(db, item.id).owner_id)
    now = datetime.now(UTC)
    offer_token, _ = create_offer(db, app.config, item_view(item), seller, now)
    accept_offer(db, offer_token, item_view(item), None, now)
    db.commit()
    assert db.scalar(select(func.count()).select_from(Ownership)) == 2

    # The seller's tap session is still live, but the item is no longer theirs.
    assert_refused(client, watch, db, "Only the registered owner")
    assert client.get(f"{form_url(watch)}/{seller_request.id}").status_code == 403


def test_confirmation_of_another_ownerships_request_is_not_found(app, client, db, keyring,
                                                                watch):
    tap(client, db, keyring, watch)
    other_tag = tagged_item(db, category="bag")
    stranger = app.test_client()
    tap(stranger, db, keyring, other_tag)
    token = csrf(stranger, form_url(other_tag))
    resp = stranger.post(form_url(other_tag), data={"csrf_token": token, "kind": "repair",
                                                    "message": "Handle"})
    assert resp.status_code == 303
    (theirs,) = db.scalars(select(ServiceRequest)).all()
    # The owner of the watch asks for the bag's request under the watch's address.
    assert client.get(f"{form_url(watch)}/{theirs.id}").status_code == 404
    assert client.get(f"{form_url(watch)}/999999").status_code == 404


def test_expired_tap_session_gets_nothing(app, client, db, keyring, watch):
    app.config["TAP_SESSION_SECONDS"] = 0
    tap(client, db, keyring, watch)
    db.expire_all()
    assert current_holding(db, watch.item.id) is not None  # the owner, but not item in hand
    assert_refused(client, watch, db, "Hold your phone to the product again")


def test_owner_page_shows_the_service_section(client, db, keyring, watch):
    tap(client, db, keyring, watch)
    events.record_event(db, watch.item.id, "full service", datetime(2026, 2, 3, tzinfo=UTC),
                        note="New gaskets", location="Paris", settings=SETTINGS)
    db.commit()
    resp = client.get(f"/items/{watch.item.product.gtin}/{watch.item.serial}/owner")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "Service history" in page
    assert "full service" in page and "3 February 2026" in page and "New gaskets" in page
    assert f'href="{form_url(watch)}"' in page
    assert "Request a service" in page


def test_open_requests_are_listed_and_capped_on_the_form(client, db, keyring, watch):
    tap(client, db, keyring, watch)
    token = csrf(client, form_url(watch))
    for n in range(requests.MAX_OPEN_REQUESTS):
        resp = client.post(form_url(watch), data={"csrf_token": token, "kind": "other",
                                                  "message": f"Question {n}"})
        assert resp.status_code == 303
    page = client.get(form_url(watch)).get_data(as_text=True)
    assert "Already asked" in page
    first = db.scalars(select(ServiceRequest).order_by(ServiceRequest.id)).first()
    assert requests.reference(first.id) in page
    resp = client.post(form_url(watch), data={"csrf_token": token, "kind": "repair",
                                              "message": "One more"})
    assert resp.status_code == 409
    page = resp.get_data(as_text=True)
    assert "open service requests" in page and "One more" in page  # the text is kept
    assert requests_count(db) == requests.MAX_OPEN_REQUESTS
