"""Each brand signs its provenance records with its own key; rotating it keeps every record ever
signed verifiable, and reaches running processes without a restart."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.provenance.keys import BrandKeys, load_key_file, rotate_brand_key, write_key_file
from app.provenance.models import ProvenanceRecord
from app.provenance.verification import public_keys_from_text, verify_document
from tests.factories import item_path, post_form, tagged_item, tap

KEYS = "/.well-known/aftertap-provenance-keys.json"


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def house(tmp_path: Path):  # type: ignore[no-untyped-def]
    return write_key_file(tmp_path / "house.pem")


def test_a_brand_without_a_key_signs_with_the_house_key(house, tmp_path):
    keys = BrandKeys(house, tmp_path / "brands")
    assert keys.for_brand("nordwand") is house
    assert [(k.brand, k.key_id, k.current) for k in keys.published()] == [
        (None, house.key_id, True)]


def test_rotation_retires_the_old_key_and_publishes_both(house, tmp_path):
    folder = tmp_path / "brands"
    clock = Clock()
    keys = BrandKeys(house, folder, check_every=2.0, clock=clock)
    first = rotate_brand_key(folder, "nordwand")
    clock.now = 2.0
    assert keys.for_brand("nordwand").key_id == first.key_id
    assert keys.for_brand("maison-aurelia") is house  # only the rotated brand changed
    second = rotate_brand_key(folder, "nordwand")
    clock.now = 3.0
    assert keys.for_brand("nordwand").key_id == first.key_id  # not looked at yet
    clock.now = 4.0
    assert keys.for_brand("nordwand").key_id == second.key_id
    published = {(k.brand, k.key_id): k.current for k in keys.published()}
    assert published == {(None, house.key_id): True, ("nordwand", second.key_id): True,
                         ("nordwand", first.key_id): False}
    # The retired key is kept public only: nothing can sign with it any more.
    (retired,) = (folder / "nordwand" / "retired").iterdir()
    assert "PRIVATE" not in retired.read_text()


def test_an_unreadable_key_leaves_the_loaded_keys_in_place(house, tmp_path, caplog):
    folder = tmp_path / "brands"
    first = rotate_brand_key(folder, "nordwand")
    keys = BrandKeys(house, folder, check_every=0)
    (folder / "nordwand" / "current.pem").write_text("not a key")
    with caplog.at_level(logging.ERROR):
        assert keys.for_brand("nordwand").key_id == first.key_id
    assert "provenance keys not reloaded" in caplog.text


def test_a_brand_name_cannot_reach_outside_the_folder(tmp_path):
    from app.provenance.keys import ProvenanceKeyError

    with pytest.raises(ProvenanceKeyError):
        rotate_brand_key(tmp_path / "brands", "../house")
    assert not (tmp_path / "house").exists()


def issue(app, db, keyring, **kw):  # type: ignore[no-untyped-def]
    """Return the record the owner of a newly unboxed item issues through the owner page."""
    tag = tagged_item(db, attributes={"made_in": "Italy"}, **kw)
    phone = app.test_client()
    assert tap(phone, db, keyring, tag).status_code == 200
    response = post_form(phone, item_path(tag, "provenance"))
    assert response.status_code == 303
    record_id = urlsplit(response.headers["Location"]).path.rsplit("/", 1)[1]
    return db.get_one(ProvenanceRecord, record_id)


def rotate(app, runner, brand: str = "maison-aurelia") -> str:  # type: ignore[no-untyped-def]
    """Rotate ``brand``'s key with the command; return the new key id."""
    result = runner.invoke(args=["provenance", "rotate-key", brand])
    assert result.exit_code == 0, result.output
    app.extensions["aftertap.provenance_brand_keys"].reload()  # as the next check would
    return str(result.output.split()[-1])


def test_a_brand_signs_with_its_own_key_and_every_record_stays_verifiable(
        app, db, keyring, runner):
    house = load_key_file(Path(app.config["PROVENANCE_KEY_FILE"]))
    before = issue(app, db, keyring)
    assert before.key_id == house.key_id  # no key of its own yet
    first_key = rotate(app, runner)
    old = issue(app, db, keyring)
    assert old.key_id == first_key
    second_key = rotate(app, runner)
    new = issue(app, db, keyring)
    assert new.key_id == second_key != first_key

    client = app.test_client()
    published = client.get(KEYS).get_json()["keys"]
    assert {(k["kid"], k["aftertap_brand"], k["aftertap_status"]) for k in published} == {
        (house.key_id, None, "current"), (second_key, "maison-aurelia", "current"),
        (first_key, "maison-aurelia", "retired")}
    public = public_keys_from_text(json.dumps({"keys": published}))
    now = datetime.now(UTC)
    for record in (before, old, new):
        exported = client.get(f"/provenance/{record.id}.json").get_json()
        assert verify_document(exported, public, now).ok
    # Records signed before a rotation still verify, and say their key is no longer current.
    assert client.get(f"/provenance/{before.id}.json").get_json()["status"] == "retired_key"
    assert client.get(f"/provenance/{old.id}.json").get_json()["status"] == "retired_key"
    assert client.get(f"/provenance/{new.id}.json").get_json()["status"] == "valid"


def test_rotating_the_key_of_no_brand_is_refused(app, runner):
    result = runner.invoke(args=["provenance", "rotate-key", "nordwand"])
    assert result.exit_code == 1
    assert "no brand 'nordwand'" in result.output
    assert not Path(app.config["PROVENANCE_KEYS_DIR"]).exists()
