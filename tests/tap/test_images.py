"""``/assets/<brand>/<file>`` serves a brand's imported product images and nothing else."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.factories import tagged_item


@pytest.fixture
def settings(settings, tmp_path):  # type: ignore[no-untyped-def]
    return {**settings, "ASSETS_DIR": str(tmp_path / "assets")}


@pytest.fixture
def folder(app, db, tmp_path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "assets" / "nordwand"
    folder.mkdir(parents=True)
    Image.new("RGB", (4, 3), "red").save(folder / "parka.png", "PNG")
    Image.new("RGB", (4, 3), "red").save(folder / "unlisted.png", "PNG")
    (tmp_path / "assets" / "secret.png").write_bytes(b"secret")
    tag = tagged_item(db, brand="nordwand")
    tag.item.product.images = [{"file": "parka.png", "width": 4, "height": 3}]
    db.commit()
    return folder


def test_an_imported_image_is_served_with_its_type_and_cached(client, folder):
    resp = client.get("/assets/nordwand/parka.png")
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    assert resp.data == (folder / "parka.png").read_bytes()
    assert resp.headers["Cache-Control"] == "public, max-age=86400"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", [
    "/assets/nordwand/unlisted.png",      # in the folder, but no product names it
    "/assets/maison-aurelia/parka.png",   # another brand
    "/assets/nordwand/..%2Fsecret.png",
    "/assets/nordwand/%2E%2E%2Fsecret.png",
    "/assets/Nord_wand/parka.png",
    "/assets/nordwand/.parka.png",
    "/assets/../secret.png",
])
def test_anything_else_is_not_found(client, folder, path):
    assert client.get(path).status_code == 404


def test_a_listed_file_missing_from_disk_is_not_found(client, folder):
    (folder / "parka.png").unlink()
    assert client.get("/assets/nordwand/parka.png").status_code == 404


def test_a_listed_name_the_import_would_refuse_is_not_served(client, db, folder):
    # Defence in depth: a row written around `products import` cannot serve a hidden file.
    (folder / ".hidden.png").write_bytes((folder / "parka.png").read_bytes())
    tag = tagged_item(db, brand="nordwand")
    tag.item.product.images = [{"file": ".hidden.png", "width": 4, "height": 3}]
    db.commit()
    assert client.get("/assets/nordwand/.hidden.png").status_code == 404
