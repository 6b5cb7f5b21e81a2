"""What `make run` does for a newcomer: bootstrap, seed, demo links, the /demo page."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import func, select

from app.bootstrap import bootstrap
from app.catalog.models import Brand
from app.demo.service import DEMO_BRANDS, NORDWAND_CATALOGUE, seed_demo
from app.provenance.keys import load_key_file
from app.verify.keys import load_key_versions
from app.verify.models import Tag

# Every demo product, both brands.
ALL_PRODUCTS = [entry for _names, catalogue, _care in DEMO_BRANDS for entry in catalogue]


def test_bootstrap_creates_random_secret_and_keys_once(tmp_path, monkeypatch):
    monkeypatch.delenv("AFTERTAP_SECRET_KEY", raising=False)
    monkeypatch.setenv("AFTERTAP_SECRET_KEY_FILE", str(tmp_path / "i" / "secret_key"))
    monkeypatch.setenv("AFTERTAP_KEYS_FILE", str(tmp_path / "i" / "keys.toml"))
    monkeypatch.setenv("AFTERTAP_ADMIN_PASSWORD_FILE", str(tmp_path / "i" / "admin_password"))
    monkeypatch.setenv("AFTERTAP_PROVENANCE_KEY_FILE", str(tmp_path / "i" / "provenance.pem"))
    monkeypatch.delenv("AFTERTAP_ADMIN_PASSWORD", raising=False)
    first = bootstrap()
    assert len(first) == 4
    assert stat.S_IMODE(os.stat(tmp_path / "i" / "admin_password").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "i" / "provenance.pem").st_mode) == 0o600
    signing = load_key_file(tmp_path / "i" / "provenance.pem")
    assert len(signing.public_raw) == 32
    secret = (tmp_path / "i" / "secret_key").read_text()
    keys = (tmp_path / "i" / "keys.toml").read_text()
    assert len(secret) >= 32
    assert stat.S_IMODE(os.stat(tmp_path / "i" / "keys.toml").st_mode) == 0o600
    assert load_key_versions(tmp_path / "i" / "keys.toml")["demo-2026"].simulate
    assert bootstrap() == []  # second run changes nothing
    assert (tmp_path / "i" / "keys.toml").read_text() == keys


def test_no_key_is_committed_to_the_repository():
    repo = Path(__file__).resolve().parents[2]
    assert not list(repo.glob("*.toml")) or [p.name for p in repo.glob("*.toml")] == [
        "pyproject.toml"
    ]
    assert "instance/" in (repo / ".gitignore").read_text()


def test_seed_is_idempotent_and_covers_the_sectors(db):
    first = seed_demo(db, "test-2026")
    db.commit()
    second = seed_demo(db, "test-2026")
    db.commit()
    assert first.tags_created == sum(len(entry[4]) for entry in ALL_PRODUCTS)
    assert second.tags_created == 0
    assert db.scalar(select(func.count()).select_from(Tag)) == first.tags_created
    categories = {entry[2] for entry in ALL_PRODUCTS}
    assert {"bag", "serum", "whisky", "sneakers", "watch", "jacket", "boots"} <= categories
    # Two brands, each with its own products.
    assert {brand.slug for brand in db.scalars(select(Brand))} == {"maison-aurelia", "nordwand"}


def test_demo_links_command_prints_working_links(runner, client, db):
    seed_demo(db, "test-2026")
    db.commit()
    result = runner.invoke(args=["demo", "links", "--base-url", "http://127.0.0.1:5000"])
    assert result.exit_code == 0, result.output
    urls = [line.strip() for line in result.output.splitlines() if "://" in line]
    # One per product, plus the items that show a sale state other than "sold".
    assert len(urls) == len(ALL_PRODUCTS) + 2
    assert "(BAG-0003, still in the boutique)" in result.output
    assert "(SNK-0003, sale not known)" in result.output
    journeys = {}
    for url in urls:
        parts = urlsplit(url)
        resp = client.get(f"{parts.path}?{parts.query}", headers={"Accept": "application/json"})
        assert resp.status_code == 200
        journeys[parts.path.rsplit("/", 1)[1]] = resp.get_json()["experience"]["journey"]
    assert journeys.pop("BAG-0003") == "visitor"
    assert journeys.pop("SNK-0003") == "confirm-unknown-sale"
    # Each brand's own ruleset names its first tap: Nordwand's "first-tap" is written in YAML.
    nordwand = {entry[4][0][0] for entry in NORDWAND_CATALOGUE}
    assert {journeys.pop(serial) for serial in nordwand} == {"first-tap"}
    assert set(journeys.values()) == {"unboxing"}


def test_demo_page_is_off_unless_enabled(client):
    assert client.get("/demo").status_code == 404


def test_demo_tap_button_needs_csrf_and_redirects_to_a_fresh_tap(app, client, db):
    seed_demo(db, "test-2026")
    db.commit()
    app.config["DEMO"] = True
    page = client.get("/demo")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Tap BAG-0001" in html
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/demo/tap/BAG-0001").status_code == 400
    assert client.post("/demo/tap/BAG-0001", data={"csrf_token": "forged"}).status_code == 400
    resp = client.post("/demo/tap/BAG-0001", data={"csrf_token": token})
    assert resp.status_code == 303
    # A path, never an absolute URL built from the request's (forgeable) Host header.
    assert resp.headers["Location"].startswith("/01/")
    landing = client.get(resp.headers["Location"])
    assert landing.status_code == 200
    assert "Welcome to your Aurelia Weekender Bag" in landing.get_data(as_text=True)
    assert client.post("/demo/tap/NOPE", data={"csrf_token": token}).status_code == 404
