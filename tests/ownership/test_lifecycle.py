"""The life of an item: claim, warranty, owner-only access, the facts a tap reads, history."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.catalog.holdings import current_holding
from app.catalog.models import Item, Owner, Ownership
from app.catalog.views import item_view
from app.core.audit import AuditEntry
from app.core.db import make_engine
from app.core.errors import Conflict, Forbidden
from app.ownership.lifecycle import (
    activate_warranty,
    add_months,
    claim,
    history,
    lifecycle,
    lifecycle_fact,
    month_number,
    tap_lifecycle,
)
from app.ownership.transfers import accept_offer, create_offer
from app.rewards.ledger import balance
from tests.factories import (
    age_ownership,
    item_path,
    post_form,
    statements_sent,
    tagged_item,
    tap,
    tap_url,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

WATCH = {"made_in": "Le Locle", "warranty_months": 60,
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
    # The owner's browser came back with its cookie: the claim is confirmed, no longer
    # provisional (tests/ownership/test_provisional.py covers a claim that was not).
    assert owner.get(item_path(tag, "owner")).status_code == 200
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
    tag = tagged_item(db, category="watch", attributes=WATCH, owner_content="The film")
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

    (The later counter may land first and make the other a replay; either way one owner. If
    both taps are genuine, the later one may take over the earlier's still provisional claim:
    tests/ownership/test_provisional.py.)
    """
    tag = tagged_item(db)
    urls = [tap_url(db, keyring, tag) for _ in range(2)]
    barrier = threading.Barrier(2)
    clients = [app.test_client() for _ in urls]

    def one(index: int) -> tuple[int, bool]:
        barrier.wait()
        resp = clients[index].get(urls[index], headers={"Accept": "application/json"})
        ownership = resp.get_json()["ownership"]
        return resp.status_code, bool(ownership and ownership["claimed_now"])

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(one, range(2)))
    assert sorted(status for status, _ in results) in ([200, 200], [200, 409])
    assert sum(claimed for _, claimed in results) >= 1
    assert len(_ownerships(db, tag)) == 1
    # Exactly one of the two browsers is the owner.
    pages = [client.get(item_path(tag, "owner")).status_code for client in clients]
    assert sorted(pages) == [200, 403]




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


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        ("2026-01-31", 1, "2026-02-28"),
        ("2024-01-31", 1, "2024-02-29"),
        ("2026-11-23", 24, "2028-11-23"),
        ("2026-12-15", 1, "2027-01-15"),
    ],
)
def test_add_months(start: str, months: int, end: str) -> None:
    moment = datetime.fromisoformat(start)
    assert add_months(moment, months).date().isoformat() == end


def test_claim_refuses_unsold_items_and_second_owners(app, db):
    boutique = tagged_item(db, released=False)
    with pytest.raises(Forbidden):
        claim(db, item_view(boutique.item), None, NOW)
    unknown = tagged_item(db, released=None)
    with pytest.raises(Forbidden):
        claim(db, item_view(unknown.item), None, NOW)
    sold = tagged_item(db)
    owner, _ = claim(db, item_view(sold.item), None, NOW)
    db.commit()
    with pytest.raises(Conflict):
        claim(db, item_view(sold.item), None, NOW)
    assert current_holding(db, sold.item_id).owner_id == owner.id


def test_lifecycle_fact_reads_real_state(app, db):
    tag = tagged_item(db, attributes={"warranty_months": 12})
    view = item_view(tag.item)
    owner, _ = claim(db, view, None, NOW)
    activate_warranty(db, view, NOW)
    db.commit()
    db.expire_all()
    later = NOW.replace(month=12)
    state = lifecycle(db, item_view(tag.item), owner.id)
    fact = lifecycle_fact(state, later)
    assert fact["ownership.state"] == "owned"
    assert fact["ownership.ordinal"] == 1
    assert fact["ownership.days"] == 30
    assert fact["owner.is_current"] is True
    assert fact["warranty.active"] is True
    assert fact["warranty.days_left"] == 365 - 30
    stranger = lifecycle_fact(lifecycle(db, item_view(tag.item), None), later)
    assert stranger["owner.is_current"] is False and stranger["owner.is_previous"] is False


def test_concurrent_claims_on_one_item_one_wins(app, db):
    """Two transactions claim at once; the unique index on current ownership decides."""
    tag = tagged_item(db)
    view = item_view(tag.item)
    engine = make_engine(app.config["DATABASE_URL"])
    first = Session(engine)
    claim(first, view, None, NOW)  # holds its row/lock until commit
    outcome: dict[str, object] = {}

    def second() -> None:
        with Session(engine) as other:
            try:
                claim(other, view, None, NOW)
                other.commit()
                outcome["second"] = "won"
            except Conflict:
                other.rollback()
                outcome["second"] = "conflict"

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(0.3)  # PostgreSQL: the second waits on the first's index entry
    first.commit()
    first.close()
    thread.join(10)
    engine.dispose()
    assert outcome["second"] == "conflict"
    assert len(db.scalars(select(Ownership).where(Ownership.item_id == tag.item_id)).all()) == 1
    # The loser's new owner would own nothing: it is not left behind.
    assert db.scalar(select(func.count()).select_from(Owner)) == 1


def test_month_streak_counts_consecutive_months_with_an_owner_tap(app, db):
    tag = tagged_item(db)
    view = item_view(tag.item)
    jan = datetime(2026, 1, 20, tzinfo=UTC)
    owner, _ = claim(db, view, None, jan)
    db.commit()

    def tap_on(moment: datetime) -> int:
        state = lifecycle(db, view, owner.id, count_tap=True, at=moment)
        db.commit()
        return lifecycle_fact(state, moment)["ownership.month_streak"]

    assert tap_on(jan.replace(day=25)) == 1  # same month as the claim
    assert tap_on(datetime(2026, 2, 3, tzinfo=UTC)) == 2
    assert tap_on(datetime(2026, 3, 31, tzinfo=UTC)) == 3
    assert tap_on(datetime(2026, 5, 1, tzinfo=UTC)) == 1  # April skipped: starts again
    assert tap_on(datetime(2026, 12, 1, tzinfo=UTC)) == 1
    assert tap_on(datetime(2027, 1, 2, tzinfo=UTC)) == 2  # across the year


def test_regular_use_earns_loyalty_points_through_the_tap(app, db, keyring):
    tag = tagged_item(db)
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    start = balance(db, db.scalar(select(Ownership.owner_id)), "maison-aurelia")
    # Two months of taps before this one, and the review already done.
    now = datetime.now(UTC)
    db.execute(update(Ownership).values(month_streak=2,
                                        last_tap_month=month_number(now) - 1,
                                        started_at=now - timedelta(days=200)))
    db.commit()
    body = tap(phone, db, keyring, tag, as_json=True).get_json()
    assert body["experience"]["journey"] == "loyal-owner"
    assert body["reward"]["points"] == 50
    assert balance(db, db.scalar(select(Ownership.owner_id)), "maison-aurelia") == start + 50


def test_history_lists_the_ownerships_first_owner_first(app, db):
    tag = tagged_item(db)
    view = item_view(tag.item)
    seller, _ = claim(db, view, None, NOW)
    token, _offer = create_offer(db, app.config, view, seller, NOW)
    accept_offer(db, token, view, None, NOW + timedelta(days=2))
    db.commit()
    entries = history(db, tag.item_id)
    assert [(h.ordinal, h.began_by, h.started_at, h.ended_at, h.ended_by) for h in entries] == [
        (1, "first_tap", NOW, NOW + timedelta(days=2), "transfer"),
        (2, "transfer", NOW + timedelta(days=2), None, None),
    ]


@pytest.mark.parametrize(("opted_in", "verified", "consent"),
                         [(True, True, True), (True, False, False), (False, True, False)])
def test_the_owners_own_tap_is_counted_and_read_in_one_statement(
    app, db, opted_in, verified, consent
):
    """The owner's tap, named by their cookie credential, is counted, confirmed and read back
    with the owner by one UPDATE; messages consent needs the box ticked on a confirmed address,
    as the two-step read says."""
    tag = tagged_item(db)
    view = item_view(tag.item)
    owner, _ = claim(db, view, None, NOW)
    db.execute(update(Owner).where(Owner.id == owner.id).values(
        email="o@example.com", email_opt_in=opted_in,
        email_verified_at=NOW if verified else None))
    db.commit()
    at = NOW + timedelta(days=1)
    (state, person), sent = statements_sent(
        db, lambda: tap_lifecycle(db, view, owner.public_id, at))
    assert len(sent) == 1 and sent[0].lstrip().upper().startswith("UPDATE")
    assert person is not None and person.id == owner.id
    assert person.email_opt_in is opted_in and (person.email_verified_at is not None) is verified
    assert state.viewer_is_owner and state.holding is not None
    assert not state.holding.provisional
    fact = lifecycle_fact(state, at)
    assert fact["ownership.owner_taps"] == 2
    assert fact["owner.email_opt_in"] is consent
    db.commit()
    assert db.get(Ownership, state.holding.id).confirmed_at is not None


def test_a_tap_by_someone_else_or_an_erased_owner_counts_nothing(app, db):
    """Another owner's credential, a made-up one, none, or the holder's own once erased: the
    holder's tap count does not move, and the person is whoever the credential still names."""
    tag = tagged_item(db)
    view = item_view(tag.item)
    holder, _ = claim(db, view, None, NOW)
    other, _ = claim(db, item_view(tagged_item(db).item), None, NOW)
    db.commit()
    at = NOW + timedelta(days=1)
    for credential, named in ((other.public_id, other.id), ("made-up-credential", None),
                              (None, None)):
        state, person = tap_lifecycle(db, view, credential, at)
        assert (person.id if person else None) == named
        assert not state.viewer_is_owner
        assert state.holding is not None and state.holding.owner_id == holder.id
    db.execute(update(Owner).where(Owner.id == holder.id).values(erased_at=NOW))
    state, person = tap_lifecycle(db, view, holder.public_id, at)
    assert person is None and not state.viewer_is_owner
    db.commit()
    current = db.scalar(select(Ownership).where(Ownership.owner_id == holder.id))
    assert current.owner_taps == 1
