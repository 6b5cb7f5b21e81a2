"""A first-tap claim that survives a lost response: provisional until its browser comes back;
until then, within the tap-session window, another browser's genuine tap takes it over."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.client import HTTPConnection
from typing import Any

import pytest
from sqlalchemy import func, select, update
from werkzeug.serving import make_server

from app.catalog.models import Item, Owner, Ownership
from app.catalog.views import item_view
from app.core.audit import AuditEntry
from app.core.errors import Conflict
from app.ownership.lifecycle import confirm_claims, lifecycle, take_over
from tests.factories import JSON_ACCEPT, item_path, tagged_item, tap, tap_url

WINDOW = timedelta(seconds=600)  # TAP_SESSION_SECONDS by default


def _holdings(db: Any, tag: Any) -> list[Ownership]:
    db.expire_all()
    return list(db.scalars(select(Ownership).where(Ownership.item_id == tag.item_id)))


def _current(db: Any, tag: Any) -> Ownership:
    (current,) = [row for row in _holdings(db, tag) if row.ended_at is None]
    return current


def _age_claim(db: Any, tag: Any, seconds: float) -> None:
    db.execute(update(Ownership).where(Ownership.item_id == tag.item_id)
               .values(started_at=datetime.now(UTC) - timedelta(seconds=seconds)))
    db.commit()


# --- the service ----------------------------------------------------------------------------


def test_a_first_tap_claim_is_provisional_and_confirmed_once(app, db, keyring):
    tag = tagged_item(db)
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    claim = _current(db, tag)
    assert claim.confirmed_at is None
    now = datetime.now(UTC)
    assert confirm_claims(db, claim.owner_id, now) == 1
    # Only while provisional: afterwards the same UPDATE changes nothing.
    assert confirm_claims(db, claim.owner_id, now + timedelta(minutes=1)) == 0
    db.commit()
    assert _current(db, tag).confirmed_at is not None


def test_only_another_browsers_young_provisional_claim_is_offered_for_takeover(app, db, keyring):
    tag = tagged_item(db)
    tap(app.test_client(), db, keyring, tag)
    claim = _current(db, tag)
    view = item_view(db.get(Item, tag.item_id))
    at = claim.started_at + timedelta(seconds=30)

    other = lifecycle(db, view, None, at=at, takeover_within=WINDOW)
    assert other.holding is None and other.takeover is not None
    assert other.takeover.owner_id == claim.owner_id
    # The claimant's own browser sees its holding, never a takeover.
    own = lifecycle(db, view, claim.owner_id, at=at, takeover_within=WINDOW)
    assert own.viewer_is_owner and own.takeover is None
    # Past the window, and without one (pages other than a tap), the item is simply owned.
    late = lifecycle(db, view, None, at=claim.started_at + WINDOW + timedelta(seconds=1),
                     takeover_within=WINDOW)
    assert late.holding is not None and late.takeover is None
    assert lifecycle(db, view, None, at=at).takeover is None
    # Once confirmed, never.
    confirm_claims(db, claim.owner_id, at)
    db.commit()
    confirmed = lifecycle(db, view, None, at=at, takeover_within=WINDOW)
    assert confirmed.holding is not None and confirmed.takeover is None


# --- through the tap ------------------------------------------------------------------------


def test_any_later_request_with_the_owner_cookie_confirms_the_claim(app, db, keyring):
    tag = tagged_item(db)
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    assert phone.get_cookie("aftertap_claim") is not None
    assert _current(db, tag).confirmed_at is None

    assert phone.get("/healthz").status_code == 200  # any page at all
    assert _current(db, tag).confirmed_at is not None
    # The marker is gone: the phone's next requests cost no query.
    assert phone.get_cookie("aftertap_claim") is None

    stranger = app.test_client()
    body = tap(stranger, db, keyring, tag, as_json=True).get_json()
    assert body["ownership"] == {"state": "owned", "ordinal": 1, "you_own_it": False,
                                 "claimed_now": False}
    assert phone.get(item_path(tag, "owner")).status_code == 200


def test_a_forged_marker_without_the_owner_cookie_confirms_nothing(app, db, keyring):
    tag = tagged_item(db)
    tap(app.test_client(), db, keyring, tag)
    forger = app.test_client()
    forger.set_cookie("aftertap_claim", "1")
    assert forger.get("/healthz").status_code == 200
    assert _current(db, tag).confirmed_at is None
    assert forger.get_cookie("aftertap_claim") is None  # a marker that named nobody is dropped
    # A stale marker on a browser that now claims an item: the new marker is kept.
    forger.set_cookie("aftertap_claim", "1")
    tap(forger, db, keyring, tagged_item(db))
    assert forger.get_cookie("aftertap_claim") is not None
    assert forger.get_cookie("aftertap_owner") is not None


def test_the_claimants_own_tap_confirms_even_without_the_marker(app, db, keyring):
    tag = tagged_item(db)
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    phone.delete_cookie("aftertap_claim")
    assert tap(phone, db, keyring, tag, as_json=True).get_json()["ownership"]["you_own_it"]
    assert _current(db, tag).confirmed_at is not None
    stranger = app.test_client()
    assert not tap(stranger, db, keyring, tag, as_json=True).get_json()["ownership"]["you_own_it"]


def test_another_browser_takes_over_a_claim_whose_response_was_lost(app, db, keyring):
    tag = tagged_item(db, attributes={"warranty_months": 24})
    lost = app.test_client()
    tap(lost, db, keyring, tag)  # its response never reached the phone: nobody keeps `lost`
    first = _current(db, tag)
    first_id, first_owner = first.id, first.owner_id
    warranty = db.get(Item, tag.item_id).warranty_ends_at
    assert warranty is not None

    phone = app.test_client()
    body = tap(phone, db, keyring, tag, as_json=True).get_json()
    assert body["experience"]["journey"] == "unboxing"
    assert body["ownership"] == {"state": "owned", "ordinal": 1, "you_own_it": True,
                                 "claimed_now": True}
    (holding,) = _holdings(db, tag)  # still one ownership: owner #1, now this phone's
    assert holding.id == first_id and holding.ordinal == 1 and holding.ended_at is None
    assert holding.owner_id != first_owner
    db.expire_all()
    assert db.get(Item, tag.item_id).warranty_ends_at == warranty
    assert phone.get(item_path(tag, "owner")).status_code == 200
    # The abandoned owner holds nothing personal and nothing at all.
    abandoned = db.get(Owner, first_owner)
    assert abandoned.email is None and abandoned.email_verified_at is None
    assert db.scalar(select(AuditEntry.detail).where(AuditEntry.action == "take_over")) == {
        "replaced_owner_id": first_owner,
        "reason": "provisional first-tap claim never confirmed by its browser",
    }
    # Had the first phone got its answer after all, its cookie opens nothing now.
    assert lost.get(item_path(tag, "owner")).status_code == 403


def test_a_browser_that_already_owns_things_claims_for_good(app, db, keyring):
    tag, other = tagged_item(db), tagged_item(db)
    phone = app.test_client()
    tap(phone, db, keyring, other)
    phone.get("/healthz")
    tap(phone, db, keyring, tag)  # its cookie is already on the phone, whatever happens now
    assert _current(db, tag).confirmed_at is not None
    stranger = app.test_client()
    assert not tap(stranger, db, keyring, tag, as_json=True).get_json()["ownership"]["you_own_it"]


def test_an_owner_from_an_earlier_purchase_takes_over_for_good(app, db, keyring):
    tag, earlier = tagged_item(db), tagged_item(db)
    tap(app.test_client(), db, keyring, tag)
    phone = app.test_client()
    tap(phone, db, keyring, earlier)
    phone.get("/healthz")
    assert tap(phone, db, keyring, tag, as_json=True).get_json()["ownership"]["claimed_now"]
    assert _current(db, tag).confirmed_at is not None  # its cookie was on the phone already


@pytest.mark.parametrize("change", ["confirmed", "ended", "too_old"])
def test_a_claim_that_changed_after_the_tap_read_it_is_not_taken_over(app, db, keyring, change):
    tag = tagged_item(db)
    tap(app.test_client(), db, keyring, tag)
    view = item_view(db.get(Item, tag.item_id))
    at = datetime.now(UTC)
    state = lifecycle(db, view, None, at=at, takeover_within=WINDOW)
    assert state.takeover is not None and state.takeover_after is not None
    first_owner = state.takeover.owner_id
    after = state.takeover_after
    if change == "confirmed":
        confirm_claims(db, first_owner, at)
    elif change == "ended":
        db.execute(update(Ownership).where(Ownership.item_id == tag.item_id)
                   .values(ended_at=at, ended_by="brand"))
    else:
        after = state.takeover.started_at
    owners_before = db.scalar(select(func.count()).select_from(Owner))
    with pytest.raises(Conflict):
        take_over(db, view, state.takeover, after, None, at)
    assert _current_or_ended_owner(db, tag) == first_owner
    # The owner made for the failed takeover is gone again.
    assert db.scalar(select(func.count()).select_from(Owner)) == owners_before


def _current_or_ended_owner(db: Any, tag: Any) -> int:
    (row,) = db.execute(select(Ownership.owner_id).where(Ownership.item_id == tag.item_id)).all()
    return int(row.owner_id)


def test_no_takeover_after_the_tap_session_window(app, db, keyring):
    tag = tagged_item(db)
    tap(app.test_client(), db, keyring, tag)
    before = _current(db, tag)
    _age_claim(db, tag, WINDOW.total_seconds() + 5)
    stranger = app.test_client()
    body = tap(stranger, db, keyring, tag, as_json=True).get_json()
    assert body["ownership"]["you_own_it"] is False
    assert _current(db, tag).owner_id == before.owner_id
    assert stranger.get_cookie("aftertap_owner") is None


def test_a_takeover_is_itself_provisional_and_can_be_confirmed(app, db, keyring):
    tag = tagged_item(db)
    tap(app.test_client(), db, keyring, tag)
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    assert _current(db, tag).confirmed_at is None  # this response could be lost too
    phone.get("/healthz")
    assert _current(db, tag).confirmed_at is not None


def test_racing_takeovers_and_the_claimants_return_have_exactly_one_winner(app, db, keyring):
    """Everyone read the same provisional claim; the database lets exactly one of them act."""
    tag = tagged_item(db)
    tap(app.test_client(), db, keyring, tag)
    first_owner = _current(db, tag).owner_id
    view = item_view(db.get(Item, tag.item_id))
    at = datetime.now(UTC)
    state = lifecycle(db, view, None, at=at, takeover_within=WINDOW)
    assert state.takeover is not None and state.takeover_after is not None
    db.rollback()
    makers = app.extensions["aftertap.db"].sessionmaker
    racers = 6
    barrier = threading.Barrier(racers + 1)

    def take(_: int) -> int | None:
        with makers() as session:
            barrier.wait()
            try:
                claimed = take_over(session, view, state.takeover, state.takeover_after,
                                    None, at)
            except Conflict:
                session.commit()
                return None
            time.sleep(0.2)  # hold the row: the others must queue on it, then re-check
            session.commit()
            return claimed.owner.id

    def come_back() -> int | None:
        with makers() as session:
            barrier.wait()
            done = confirm_claims(session, first_owner, at)
            time.sleep(0.2)
            session.commit()
            return first_owner if done else None

    with ThreadPoolExecutor(racers + 1) as pool:
        back = pool.submit(come_back)
        winners = [owner for owner in pool.map(take, range(racers)) if owner is not None]
        if back.result() is not None:
            winners.append(first_owner)
    assert len(winners) == 1
    (holding,) = _holdings(db, tag)
    assert holding.owner_id == winners[0] and holding.ended_at is None
    # Losers' owners were made and removed in their own transactions: no owner is left over.
    assert set(db.scalars(select(Owner.id)).all()) == {first_owner, *winners}


# --- end to end: a real server, a response that never arrives -------------------------------


def _serve(app: Any) -> tuple[Any, threading.Thread]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def _cookies(set_cookies: list[str]) -> str:
    return "; ".join(header.split(";", 1)[0] for header in set_cookies)


def test_a_dropped_first_response_does_not_lock_the_item_away(app, db, keyring):
    tag = tagged_item(db)
    server, thread = _serve(app)
    try:
        port = server.server_port
        # The first tap: the request goes out, the phone loses the connection before any answer.
        raw = socket.create_connection(("127.0.0.1", port))
        raw.sendall(f"GET {tap_url(db, keyring, tag)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    "Accept: application/json\r\nConnection: close\r\n\r\n".encode())
        raw.close()
        deadline = time.monotonic() + 10
        while not _holdings(db, tag) and time.monotonic() < deadline:
            time.sleep(0.02)
        (lost,) = _holdings(db, tag)  # the server claimed the item for a cookie nobody has
        lost_owner = lost.owner_id

        # The person taps again, from a browser with no cookie at all: they own the item.
        conn = HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", tap_url(db, keyring, tag), headers=JSON_ACCEPT)
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, body
        assert b'"you_own_it":true' in body.replace(b" ", b"")
        cookies = _cookies(resp.headers.get_all("Set-Cookie") or [])
        assert "aftertap_owner=" in cookies
        conn.request("GET", item_path(tag, "owner"), headers={"Cookie": cookies})
        page = conn.getresponse()
        page.read()
        assert page.status == 200
        conn.close()
        (holding,) = _holdings(db, tag)
        assert holding.ordinal == 1 and holding.owner_id != lost_owner
        assert holding.confirmed_at is not None  # the owner page request confirmed it
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
