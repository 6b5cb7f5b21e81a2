"""The bench's stateless verifier page: off unless the bench turns it on; when on, it verifies
without the database (and so, unlike a tap, cannot tell a replayed URL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import create_app
from app.verify.keys import load_key_versions
from app.verify.models import TapEvent
from app.verify.sun import mint_query

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
