"""Replay defence under real concurrency: one counter, many simultaneous requests, one genuine."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from app.verify.models import Tag, TapEvent
from app.verify.service import mint_tap_url
from tests.factories import tagged_item
from tests.tap.test_views import JSON, path_of

N = 24


def race(app, url: str, n: int = N) -> Counter[int]:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(n)

    def one(_: int) -> int:
        client = app.test_client()
        barrier.wait()
        return client.get(url, headers=JSON).status_code

    with ThreadPoolExecutor(max_workers=n) as pool:
        return Counter(pool.map(one, range(n)))


def test_same_counter_concurrently_exactly_one_genuine(app, db, keyring):
    tag = tagged_item(db)
    url = path_of(mint_tap_url(db, keyring, tag, "http://localhost"))
    db.commit()
    statuses = race(app, url)
    assert statuses == Counter({200: 1, 409: N - 1})
    db.expire_all()
    row = db.get(Tag, tag.id)
    assert row.genuine_taps == 1
    verdicts = Counter(db.scalars(select(TapEvent.verdict).where(TapEvent.tag_id == tag.id)))
    assert verdicts == Counter({"genuine": 1, "replayed": N - 1})


def test_distinct_counters_concurrently_all_counted(app, db, keyring):
    """Different items tapped at once must not block or lose each other's taps."""
    tags = [tagged_item(db) for _ in range(8)]
    urls = [path_of(mint_tap_url(db, keyring, t, "http://localhost")) for t in tags]
    db.commit()
    barrier = threading.Barrier(len(urls))

    def one(url: str) -> int:
        client = app.test_client()
        barrier.wait()
        return client.get(url, headers=JSON).status_code

    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        assert list(pool.map(one, urls)) == [200] * len(urls)
    db.expire_all()
    assert [db.get(Tag, t.id).genuine_taps for t in tags] == [1] * len(tags)
