"""Ownership without login, through the real tap flow: claim, warranty, owner-only access."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.catalog.models import Item, Ownership
from app.core.audit import AuditEntry
from app.ownership.service import add_months
from app.verify.models import TapEvent
from tests.factories import age_ownership, item_path, post_form, tagged_item, tap, tap_url

WATCH = {"made_in": "Le Locle", "warranty_months": 60, "owner_content": "The film",
         "owner_content_title": "Film: the making of"}


def _ownerships(db, tag) -> list[Ownership]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return list(db.scalars(
        select(Ownership).where(Ownership.item_id == tag.item_id).order_by(Ownership.ordinal)
    ))


def test_first_tap_of_a_sold_item_registers_the_owner_and_starts_the_warranty(app, db, keyring):
    tag = tagged_item(db, attributes={"warranty_months": 24, "made_in": "Florence"})
    client = app.test_client()
    before = datetime.now(UTC)
    resp = tap(client, db, keyring, tag)
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "owner #1" in page
    assert "Warranty now active" in page

    cookie = resp.headers.getlist("Set-Cookie")
    owner_cookie = next(c for c in cookie if c.startswith("aftertap_owner="))
    assert "HttpOnly" in owner_cookie and "SameSite=Lax" in owner_cookie

    (ownership,) = _ownerships(db, tag)
    assert (ownership.ordinal, ownership.began_by, ownership.owner_taps) == (1, "first_tap", 1)
    item = db.get(Item, tag.item_id)
    started = item.warranty_started_at.replace(tzinfo=UTC)
    assert before - timedelta(seconds=1) <= started <= datetime.now(UTC)
    ends = item.warranty_ends_at.replace(tzinfo=UTC)
    assert ends == add_months(started, 24)
    assert ends.strftime("%d %B %Y") in page


def test_owner_taps_again_and_gets_owner_journeys(app, db, keyring):
    tag = tagged_item(db)
    client = app.test_client()
    tap(client, db, keyring, tag)
    second = tap(client, db, keyring, tag, as_json=True).get_json()
    assert second["experience"]["journey"] == "care"
    assert second["ownership"] == {"state": "owned", "ordinal": 1, "you_own_it": True,
                                   "claimed_now": False}
    assert _ownerships(db, tag)[0].owner_taps == 2


def test_someone_else_tapping_an_owned_item_is_a_visitor(app, db, keyring):
    tag = tagged_item(db)
    owner = app.test_client()
    tap(owner, db, keyring, tag)
    stranger = app.test_client()
    body = tap(stranger, db, keyring, tag, as_json=True).get_json()
    assert body["experience"]["journey"] == "welcome-back"
    assert body["ownership"]["you_own_it"] is False
    assert len(_ownerships(db, tag)) == 1
    # The stranger has the product in hand but is not the owner: the owner page stays shut.
    resp = stranger.get(item_path(tag, "owner"))
    assert resp.status_code == 403
    assert "Only the registered owner" in resp.get_data(as_text=True)


def test_item_in_the_boutique_only_authenticates_until_released(app, db, keyring):
    tag = tagged_item(db, released=False)
    client = app.test_client()
    body = tap(client, db, keyring, tag, as_json=True).get_json()
    assert body["experience"]["journey"] == "visitor"
    assert body["ownership"]["state"] == "unclaimed"
    assert _ownerships(db, tag) == []
    assert client.get_cookie("aftertap_owner") is None

    app.config["ADMIN_PASSWORD"] = "pw"
    auth = {"Authorization": "Basic YWRtaW46cHc="}  # admin:pw
    resp = client.post(f"/admin/api/items/{tag.item.product.gtin}/{tag.item.serial}/release",
                       json={"source": "pos"}, headers=auth)
    assert resp.status_code == 200 and resp.get_json()["changed"] is True
    # The first tap after the sale, whatever its number, unboxes it.
    body = tap(client, db, keyring, tag, as_json=True).get_json()
    assert body["experience"]["journey"] == "unboxing"
    assert body["ownership"]["claimed_now"] is True
    actions = db.scalars(select(AuditEntry.action).where(AuditEntry.item_id == tag.item_id))
    assert list(actions) == ["release", "claim"]


def test_unknown_sale_asks_for_one_tap_confirmation(app, db, keyring):
    tag = tagged_item(db, released=None, attributes={"warranty_months": 12})
    client = app.test_client()
    resp = tap(client, db, keyring, tag)
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "Yes, this is mine" in page
    assert _ownerships(db, tag) == []  # nothing until the person confirms

    resp = post_form(client, item_path(tag, "claim"))
    assert resp.status_code == 303
    (ownership,) = _ownerships(db, tag)
    assert ownership.began_by == "confirmed"
    item = db.get(Item, tag.item_id)
    assert item.released is True and item.warranty_ends_at is not None
    assert client.get(resp.headers["Location"]).status_code == 200


def test_claim_without_a_fresh_tap_is_refused_and_changes_nothing(app, db, keyring):
    tag = tagged_item(db, released=None)
    client = app.test_client()  # never tapped the item
    resp = post_form(client, item_path(tag, "claim"))
    assert resp.status_code == 403
    assert "Hold your phone to the product again" in resp.get_data(as_text=True)
    assert _ownerships(db, tag) == []


def test_owner_only_content_needs_the_owner_and_a_live_tap(app, db, keyring):
    tag = tagged_item(db, category="watch", attributes=WATCH)
    owner = app.test_client()
    tap(owner, db, keyring, tag)
    resp = tap(owner, db, keyring, tag)
    assert "For owners only" in resp.get_data(as_text=True)  # the watchmaker-film journey
    content = owner.get(item_path(tag, "content"))
    assert content.status_code == 200 and "The film" in content.get_data(as_text=True)

    # The owner's cookie alone, copied to a browser that never tapped: nothing.
    copied = app.test_client()
    copied.set_cookie("aftertap_owner", owner.get_cookie("aftertap_owner").value)
    for path in ("content", "owner", "export"):
        resp = copied.get(item_path(tag, path))
        assert resp.status_code == 403, path
        assert "The film" not in resp.get_data(as_text=True)
    # Someone else with the item in hand: authenticity, not the film.
    other = app.test_client()
    page = tap(other, db, keyring, tag).get_data(as_text=True)
    assert "For owners only" not in page and "The film" not in page
    assert other.get(item_path(tag, "content")).status_code == 403


def test_tap_session_expires(app, db, keyring):
    tag = tagged_item(db)
    app.config["TAP_SESSION_SECONDS"] = 0
    client = app.test_client()
    assert tap(client, db, keyring, tag).status_code == 200
    assert client.get(item_path(tag, "owner")).status_code == 403


def test_copied_tap_url_does_nothing_for_another_browser(app, db, keyring):
    tag = tagged_item(db)
    url = tap_url(db, keyring, tag)
    owner = app.test_client()
    assert owner.get(url).status_code == 200
    thief = app.test_client()
    resp = thief.get(url)
    assert resp.status_code == 409
    assert thief.get_cookie("aftertap_owner") is None
    assert thief.get(item_path(tag, "owner")).status_code == 403
    assert len(_ownerships(db, tag)) == 1


def test_two_first_taps_at_once_register_one_owner(app, db, keyring):
    """Two phones tapping an unclaimed item at the same moment: one owner.

    (The later counter may land first and make the other a replay; either way one owner.)
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    tag = tagged_item(db)
    urls = [tap_url(db, keyring, tag) for _ in range(2)]
    barrier = threading.Barrier(2)

    def one(url: str) -> tuple[int, bool]:
        client = app.test_client()
        barrier.wait()
        resp = client.get(url, headers={"Accept": "application/json"})
        ownership = resp.get_json()["ownership"]
        return resp.status_code, bool(ownership and ownership["claimed_now"])

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(one, urls))
    assert sorted(status for status, _ in results) in ([200, 200], [200, 409])
    assert sum(claimed for _, claimed in results) == 1
    assert len(_ownerships(db, tag)) == 1


def test_location_is_only_stored_when_shared_and_rounded(app, db, keyring):
    tag = tagged_item(db)
    client = app.test_client()
    tap(client, db, keyring, tag)
    event = db.scalar(select(TapEvent).where(TapEvent.item_id == tag.item_id))
    assert (event.latitude, event.longitude) == (None, None)

    bad = post_form(client, item_path(tag, "location"), {"latitude": "north", "longitude": "1"})
    assert bad.status_code == 400
    far = post_form(client, item_path(tag, "location"), {"latitude": "123", "longitude": "1"})
    assert far.status_code == 400
    ok = post_form(client, item_path(tag, "location"),
                   {"latitude": "48.85661", "longitude": "2.35222"})
    assert ok.status_code == 200
    db.expire_all()
    event = db.get(TapEvent, event.id)
    assert (event.latitude, event.longitude) == (48.9, 2.4)

    stranger = app.test_client()
    resp = post_form(stranger, item_path(tag, "location"), {"latitude": "1", "longitude": "1"})
    assert resp.status_code == 403
    assert db.scalar(select(func.count()).select_from(TapEvent)
                     .where(TapEvent.latitude.is_not(None))) == 1


def test_form_without_csrf_token_is_refused(app, db, keyring):
    tag = tagged_item(db, released=None)
    client = app.test_client()
    tap(client, db, keyring, tag)
    resp = client.post(item_path(tag, "claim"), data={})
    assert resp.status_code == 400
    assert _ownerships(db, tag) == []


def test_service_due_journey_offers_a_service_request(app, db, keyring):

    tag = tagged_item(db, category="watch", attributes=WATCH)
    client = app.test_client()
    tap(client, db, keyring, tag)
    age_ownership(db, tag, 800)
    resp = tap(client, db, keyring, tag)
    page = resp.get_data(as_text=True)
    assert "Time for a service" in page
    assert f'href="{item_path(tag, "service")}"' in page
    assert client.get(item_path(tag, "service")).status_code == 200
