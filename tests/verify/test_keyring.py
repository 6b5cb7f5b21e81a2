"""Key versions reload without a restart: a chip personalised with a key version added to the
keys file a moment ago is genuine on its first tap; a broken file never replaces working keys."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from app.verify.keys import Keyring, load_key_versions, write_demo_keys_file
from tests.factories import tagged_item, tap


def add_version(keys_file: Path, tmp_path: Path, name: str) -> None:
    extra = tmp_path / f"{name}.toml"
    write_demo_keys_file(extra, name=name)
    keys_file.write_text(keys_file.read_text() + "\n" + extra.read_text())


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def own_keys(keys_file: Path, tmp_path: Path) -> Path:
    path = tmp_path / "keys.toml"
    shutil.copy(keys_file, path)
    return path


def test_the_file_is_looked_at_again_once_the_interval_has_passed(own_keys, tmp_path):
    clock = Clock()
    ring = Keyring(own_keys, check_every=2.0, clock=clock)
    add_version(own_keys, tmp_path, "batch-2027")
    clock.now = 1.9
    assert "batch-2027" not in ring
    clock.now = 2.0
    assert "batch-2027" in ring
    assert set(ring) == set(load_key_versions(own_keys))


def test_a_broken_file_leaves_the_loaded_keys_serving(own_keys, caplog):
    clock = Clock()
    ring = Keyring(own_keys, check_every=0, clock=clock)
    before = dict(ring.items())
    secret = before["test-2026"].meta_read_key.hex()
    own_keys.write_text(own_keys.read_text().replace("meta_read_key", "meta_read_kee", 1))
    with caplog.at_level(logging.ERROR):
        assert ring.reload_if_changed() is False
    assert dict(ring.items()) == before
    assert ring.error is not None and "meta_read_kee" in ring.error
    assert "key versions not reloaded" in caplog.text
    assert secret.lower() not in caplog.text.lower()


def test_an_unchanged_file_is_not_read_again(own_keys, monkeypatch):
    ring = Keyring(own_keys, check_every=0)
    reads: list[object] = []
    monkeypatch.setattr("app.verify.keys.load_key_versions",
                        lambda path: reads.append(path) or {})
    assert ring.reload_if_changed() is False
    assert "test-2026" in ring and reads == []


@pytest.fixture
def settings(settings, own_keys):  # type: ignore[no-untyped-def]
    # Never on its own timer: only the tap that verifies under no known version reloads.
    return settings | {"KEYS_FILE": str(own_keys), "KEYS_RELOAD_SECONDS": 3600}


def test_a_chip_of_a_key_version_added_while_serving_is_genuine(app, db, own_keys, tmp_path):
    phone = app.test_client()
    assert tap(phone, db, app.extensions["aftertap.keys"], tagged_item(db)).status_code == 200
    add_version(own_keys, tmp_path, "batch-2027")
    tag = tagged_item(db, key_version="batch-2027")
    new_keys = load_key_versions(own_keys)  # what the brand's personalisation station used
    response = tap(phone, db, new_keys, tag, as_json=True)
    assert response.status_code == 200
    assert response.get_json()["verdict"] == "genuine"
