"""Owner actions and taps from many phones at once: nobody waits out a lock and gets a 503."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from app import create_app
from tests.factories import item_path, post_form, tagged_item, tap_url


@pytest.fixture
def impatient_app(settings):  # type: ignore[no-untyped-def]
    # A short busy timeout turns a lock-order deadlock into a quick, visible 503.
    app = create_app({**settings, "SQLITE_BUSY_TIMEOUT_MS": 1500})
    yield app
    app.extensions["aftertap.db"].engine.dispose()


def test_owner_actions_and_taps_interleave_without_deadlock(impatient_app, db, keyring):
    app = impatient_app
    tags = [tagged_item(db) for _ in range(6)]
    phones = [app.test_client() for _ in tags]
    for phone, tag in zip(phones, tags, strict=True):
        assert phone.get(tap_url(db, keyring, tag)).status_code == 200
    urls = {tag.id: [tap_url(db, keyring, tag) for _ in range(4)] for tag in tags}
    barrier = threading.Barrier(len(tags))

    def life(index: int) -> list[int]:
        phone, tag = phones[index], tags[index]
        barrier.wait()
        statuses = []
        for url in urls[tag.id]:
            statuses.append(phone.get(url).status_code)
            statuses.append(post_form(phone, item_path(tag, "transfer")).status_code)
        return statuses

    with ThreadPoolExecutor(len(tags)) as pool:
        seen = Counter(s for statuses in pool.map(life, range(len(tags))) for s in statuses)
    assert seen == Counter({200: 4 * len(tags), 201: 4 * len(tags)})


def test_a_write_request_takes_its_writer_turn_before_touching_sqlite(impatient_app, db, keyring):
    """Regression: the owner-action guard used to read (and so, on SQLite, open the write
    transaction) before taking this process's writer turn. A thread holding the turn and
    starting its own transaction then waited out the busy timeout: a 503 for someone.
    """
    app = impatient_app
    if not app.config["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("the per-process writer turn exists only on SQLite")
    from sqlalchemy import text

    tag = tagged_item(db)
    phone = app.test_client()
    phone.get(tap_url(db, keyring, tag))
    database = app.extensions["aftertap.db"]
    result: dict[str, int] = {}
    with database.writer():  # another request of this process holds the turn...
        worker = threading.Thread(
            target=lambda: result.update(status=post_form(phone, item_path(tag, "transfer"))
                                         .status_code))
        worker.start()
        worker.join(0.5)  # ...while the owner's request arrives and waits for it
        with database.engine.connect() as conn:  # the turn-holder now writes: no lock in its way
            conn.execute(text("UPDATE tags SET sim_counter = sim_counter WHERE id = :id"),
                         {"id": tag.id})
            conn.commit()
    worker.join(10)
    assert result["status"] == 201
