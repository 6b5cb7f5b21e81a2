"""Live reload: an edited ruleset serves within seconds; a broken one never goes live."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import pytest

from app import create_app
from app.verify.service import mint_tap_url
from tests.factories import tagged_item
from tests.tap.test_views import JSON, path_of

REPO = Path(__file__).resolve().parents[2]
RULESET = """brand: maison-aurelia
journeys:
  - id: {first}
    priority: 10
    when: {{tap.verdict: genuine}}
    experience: {experience}
  - id: refused
    priority: 0
    experience: not_verified
"""


def write(path: Path, text: str) -> None:
    # Atomic replace, as editors and deploy tools do; bump mtime so fast edits are distinct.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    stamp = time.time() + write.bump  # type: ignore[attr-defined]
    write.bump += 1  # type: ignore[attr-defined]
    os.utime(path, (stamp, stamp))


write.bump = 0  # type: ignore[attr-defined]


@pytest.fixture
def live(settings, tmp_path):  # type: ignore[no-untyped-def]
    rules_dir = tmp_path / "rulesets"
    rules_dir.mkdir()
    write(rules_dir / "brand.yaml", RULESET.format(first="welcome-v1", experience="welcome_back"))
    app = create_app({**settings, "RULESETS_DIR": str(rules_dir), "RULESETS_RELOAD_SECONDS": 0})
    yield app, rules_dir / "brand.yaml"
    app.extensions["aftertap.db"].engine.dispose()


def journey(app, db, keyring, tag) -> str:  # type: ignore[no-untyped-def]
    url = path_of(mint_tap_url(db, keyring, tag, "http://localhost"))
    db.commit()
    body = app.test_client().get(url, headers=JSON).get_json()
    assert body["verdict"] == "genuine", body
    return body["experience"]["journey"]


def test_edit_is_served_and_broken_edit_is_refused(live, db, keyring, caplog):
    app, path = live
    tag = tagged_item(db)
    assert journey(app, db, keyring, tag) == "welcome-v1"

    write(path, RULESET.format(first="welcome-v2", experience="authenticity"))
    assert journey(app, db, keyring, tag) == "welcome-v2"

    with caplog.at_level(logging.ERROR):
        write(path, RULESET.format(first="welcome-v3", experience="no_such_template"))
        assert journey(app, db, keyring, tag) == "welcome-v2"
    assert "brand.yaml refused (keeps its previous version)" in caplog.text
    errors = app.extensions["aftertap.rules"].registry.errors
    assert "no_such_template" in errors["brand.yaml"].message

    write(path, "brand: maison-aurelia\njourneys: [\n")
    assert journey(app, db, keyring, tag) == "welcome-v2"

    write(path, RULESET.format(first="welcome-v4", experience="unboxing"))
    assert journey(app, db, keyring, tag) == "welcome-v4"
    assert app.extensions["aftertap.rules"].registry.errors == {}


def test_decisions_record_the_ruleset_version_that_served_them(live, db, keyring):
    from sqlalchemy import select

    from app.verify.models import TapEvent

    app, path = live
    tag = tagged_item(db)
    journey(app, db, keyring, tag)
    write(path, RULESET.format(first="welcome-v2", experience="authenticity"))
    journey(app, db, keyring, tag)
    versions = list(db.scalars(select(TapEvent.ruleset_version).order_by(TapEvent.id)))
    journeys = list(db.scalars(select(TapEvent.journey).order_by(TapEvent.id)))
    assert journeys == ["welcome-v1", "welcome-v2"]
    assert versions[0] != versions[1]


def test_reloading_under_load_drops_no_request(live, db, keyring):
    app, path = live
    tags = [tagged_item(db) for _ in range(4)]
    urls = [[path_of(mint_tap_url(db, keyring, t, "http://localhost")) for _ in range(15)]
            for t in tags]
    db.commit()
    results: list[tuple[int, str]] = []
    stop = threading.Event()

    def tapper(batch: list[str]) -> None:
        client = app.test_client()
        for url in batch:
            resp = client.get(url, headers=JSON)
            results.append((resp.status_code, resp.get_json()["experience"]["journey"]))

    def editor() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            write(path, RULESET.format(first=f"welcome-e{n}", experience="welcome_back"))
            time.sleep(0.005)

    edit = threading.Thread(target=editor)
    edit.start()
    workers = [threading.Thread(target=tapper, args=(batch,)) for batch in urls]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    edit.join()
    assert len(results) == 60
    assert {status for status, _ in results} == {200}
    assert all(j.startswith("welcome-") for _, j in results)
