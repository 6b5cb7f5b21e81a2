"""The bench's yardsticks. Both are off unless the bench turns them on. The stateless verifier
page verifies without the database (and so, unlike a tap, cannot tell a replayed URL); the
verify-and-count page keeps the tap's replay defence and event log, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import create_app
from app.verify.keys import load_key_versions
from app.verify.models import Tag, TapEvent
from app.verify.sun import mint_query
from tests.factories import tagged_item

UID = bytes.fromhex("04AABBCCDDEE01")


@pytest.fixture
def bench_app(settings: dict[str, object]):  # type: ignore[no-untyped-def]
    app = create_app({**settings, "BENCH_VERIFY_ONLY": True})
    yield app
    app.extensions["aftertap.db"].engine.dispose()


def _query(keys_file: Path, counter: int) -> str:
    return mint_query(load_key_versions(keys_file)["test-2026"], UID, counter)


def test_off_unless_the_bench_turns_it_on(client, keys_file: Path) -> None:  # type: ignore[no-untyped-def]
    assert client.get(f"/bench/verify-only?{_query(keys_file, 5)}").status_code == 404
    assert client.get(f"/bench/verify-and-count?{_query(keys_file, 5)}").status_code == 404


def test_verifies_and_renders_a_page_without_recording_anything(
    bench_app, keys_file: Path, db  # type: ignore[no-untyped-def]
) -> None:
    client = bench_app.test_client()
    query = _query(keys_file, 7)
    for _ in range(2):  # no database, no counter: the same URL verifies again
        response = client.get(f"/bench/verify-only?{query}")
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert "Authentic" in page and UID.hex().upper() in page and "tap 7" in page
        assert response.headers["Cache-Control"] == "no-store"
    assert db.scalar(select(func.count()).select_from(TapEvent)) == 0


def test_a_forged_or_malformed_message_is_a_400(bench_app, keys_file: Path) -> None:  # type: ignore[no-untyped-def]
    client = bench_app.test_client()
    query = _query(keys_file, 9)
    forged = query[:-1] + ("0" if query[-1] != "0" else "1")
    for bad in (forged, "picc_data=zz&cmac=00", "nothing=here"):
        response = client.get(f"/bench/verify-only?{bad}")
        assert response.status_code == 400
        assert "Not verified" in response.get_data(as_text=True)


def test_verify_and_count_keeps_the_replay_defence_and_logs_each_tap(
    bench_app, keys_file: Path, db  # type: ignore[no-untyped-def]
) -> None:
    tag = tagged_item(db)
    uid = bytes.fromhex(tag.uid)
    kv = load_key_versions(keys_file)["test-2026"]
    client = bench_app.test_client()
    first = client.get(f"/bench/verify-and-count?{mint_query(kv, uid, 3)}")
    assert first.status_code == 200
    assert "Authentic" in first.get_data(as_text=True) and "tap 3" in first.get_data(as_text=True)
    assert first.headers["Cache-Control"] == "no-store"
    # The same URL again is a replay, as on the tap; so is an older counter.
    again = client.get(f"/bench/verify-and-count?{mint_query(kv, uid, 3)}")
    older = client.get(f"/bench/verify-and-count?{mint_query(kv, uid, 2)}")
    assert (again.status_code, older.status_code) == (409, 409)
    assert "Not verified" in again.get_data(as_text=True)
    assert client.get(f"/bench/verify-and-count?{mint_query(kv, uid, 4)}").status_code == 200
    db.expire_all()
    assert db.get(Tag, tag.id).last_counter == 4
    genuine = db.scalars(select(TapEvent.counter).where(
        TapEvent.tag_id == tag.id, TapEvent.verdict == "genuine").order_by(TapEvent.counter))
    assert list(genuine) == [3, 4]


def test_verify_and_count_answers_a_bad_tap_as_the_tap_does(
    bench_app, keys_file: Path, db  # type: ignore[no-untyped-def]
) -> None:
    client = bench_app.test_client()
    # Genuine signature, but no such tag registered.
    assert client.get(f"/bench/verify-and-count?{_query(keys_file, 5)}").status_code == 404
    query = _query(keys_file, 6)
    forged = query[:-1] + ("0" if query[-1] != "0" else "1")
    for bad in (forged, "picc_data=zz&cmac=00", "nothing=here"):
        assert client.get(f"/bench/verify-and-count?{bad}").status_code == 400
    assert db.scalar(select(func.count()).select_from(TapEvent).where(
        TapEvent.verdict == "genuine")) == 0
