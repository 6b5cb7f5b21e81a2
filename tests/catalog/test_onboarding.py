"""docs/onboarding.md, followed on an empty database through the command line, on both backends:
a brand, its products, its tags, its published ruleset, its provenance key and first staff
account, and a first genuine tap that shows this brand's product (name, care text, image) and
reward, never the demo brand's journeys or words."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app.catalog.models import Brand, Item, Product
from app.ownership.lifecycle import add_months
from app.verify.keys import write_demo_keys_file
from app.verify.models import TapEvent
from tests.factories import post_form

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "docs" / "examples" / "onboarding"
PARKA = "07612345000015"
# Words that belong to the demo brand only: its name, its care advice, its rewards.
DEMO_WORDS = ("Aurelia", "dust bag", "calfskin", "+100 points")
STAFF = "ops@nordwand.example"
PASSWORD = "a long staff passphrase"


@pytest.fixture
def settings(settings, tmp_path):  # type: ignore[no-untyped-def]
    """The doc's set-up: the brand's asset folder, its keys file and rulesets/<slug>.yaml."""
    rulesets = tmp_path / "rulesets"
    rulesets.mkdir()
    # The demo's ruleset stays live beside the new brand's: its journeys must not leak.
    shutil.copy(REPO / "rulesets" / "maison-aurelia.yaml", rulesets)
    shutil.copy(EXAMPLES / "nordwand.yaml", rulesets)
    keys = tmp_path / "keys" / "keys.toml"
    # A rehearsal: the doc's key version, but simulating, so `tags tap` can stand in for a phone.
    write_demo_keys_file(keys, name="nordwand-2026")
    # Production's rule: only published rulesets serve, never files lying in the folder.
    return {**settings, "RULESETS_DIR": str(rulesets), "KEYS_FILE": str(keys),
            "ASSETS_DIR": str(EXAMPLES / "assets"), "RULESETS_SERVE_FILES": False}


def _ok(result):  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    return result.output


def _path(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.path}?{parts.query}"


def test_a_brand_s_first_day_from_an_empty_database_to_its_first_tap(app, runner, client, db):
    assert db.scalar(select(Brand.id)) is None
    out = _ok(runner.invoke(args=["brands", "create", "nordwand", "--name", "Nordwand",
                                  "--timezone", "Europe/Zurich", "--locale", "en",
                                  "--market", "CH"]))
    assert "brand nordwand created" in out
    assert "nordwand\tNordwand\tEurope/Zurich\ten\tCH\t0 product(s)" in _ok(
        runner.invoke(args=["brands", "list"]))

    products = str(EXAMPLES / "products.csv")
    out = _ok(runner.invoke(args=["products", "import", "--brand", "nordwand", products]))
    assert "2 product(s) created, 0 updated, 0 unchanged" in out
    # Idempotent: the same file again changes nothing (and now needs no --brand).
    assert "0 product(s) created, 0 updated, 2 unchanged" in _ok(
        runner.invoke(args=["products", "import", products]))

    out = _ok(runner.invoke(args=["tags", "import", str(EXAMPLES / "tags.csv")]))
    assert "3 tag(s) registered, 0 already registered, 0 product(s) created" in out

    ruleset = str(Path(app.config["RULESETS_DIR"]) / "nordwand.yaml")
    _ok(runner.invoke(args=["journeys", "validate", ruleset]))
    _ok(runner.invoke(args=["journeys", "test", ruleset]))
    _ok(runner.invoke(args=["journeys", "publish", ruleset, "--author", STAFF]))
    app.extensions["aftertap.rules"].registry.refresh()  # as every server does within 2 s

    key_id = _ok(runner.invoke(args=["provenance", "rotate-key", "nordwand"])).split()[-1]
    app.extensions["aftertap.provenance_brand_keys"].reload()  # as every server does in 2 s
    published = client.get("/.well-known/aftertap-provenance-keys.json").get_json()["keys"]
    assert {"kid": key_id, "brand": "nordwand"} in [
        {"kid": k["kid"], "brand": k["aftertap_brand"]} for k in published]

    added = _ok(runner.invoke(args=["staff", "add", STAFF, "--brand", "nordwand",
                                    "--role", "admin"]))
    link = re.search(r"http://localhost(/admin/password/\S+)", added).group(1)

    # The first tap of the sold parka: its owner, its warranty, its page.
    url = _ok(runner.invoke(args=["tags", "tap", "NW-P-0001", "--base-url", "http://localhost"]))
    before = datetime.now(UTC)
    first = client.get(_path(url))
    assert first.status_code == 200
    page = first.get_data(as_text=True)
    assert "Welcome to your Eiger Down Parka" in page
    assert "This is the first time this parka has been tapped" in page
    assert "+50 points" in page  # the brand's own welcome reward
    image = re.search(r'<img src="([^"]+)" alt="([^"]+)" width="(\d+)" height="(\d+)" '
                      r'loading="lazy"', page)
    assert image is not None, page
    assert image.groups() == ("/assets/nordwand/eiger-parka.jpg", "Eiger Down Parka", "800",
                              "1000")
    served = client.get(image.group(1))
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert served.data == (EXAMPLES / "assets" / "nordwand" / "eiger-parka.jpg").read_bytes()
    # Provenance attributes from the file, shown as product facts.
    for fact in ("Made in</dt><dd>Lucerne, Switzerland", "Material</dt><dd>Recycled nylon shell",
                 "Fill</dt><dd>800-fill responsibly sourced goose down"):
        assert fact in page
    # The warranty runs for the product's warranty_months (36).
    item = db.scalar(select(Item).join(Product).where(Item.serial == "NW-P-0001"))
    assert item.warranty_started_at is not None and item.warranty_started_at >= before
    assert item.warranty_ends_at == add_months(item.warranty_started_at, 36)
    assert f"until <strong>{item.warranty_ends_at:%d %B %Y}</strong>" in page

    # The owner's next tap: the product's own care text, rendered from Markdown.
    url = _ok(runner.invoke(args=["tags", "tap", "NW-P-0001", "--base-url", "http://localhost"]))
    care = client.get(_path(url)).get_data(as_text=True)
    assert "Caring for your Eiger Down Parka" in care
    assert "Wash it <strong>cold</strong> (30 °C)" in care
    assert "<li>Never dry-clean it.</li>" in care
    assert 'alt="Eiger Down Parka"' in care
    # Owner-only content, from the same file.
    content = client.get(f"/items/{PARKA}/NW-P-0001/content").get_data(as_text=True)
    assert "<h2>Repairs for life</h2>" in content

    for text in (page, care, content):
        for word in DEMO_WORDS:
            assert word not in text, word
    events = db.scalars(select(TapEvent).order_by(TapEvent.id)).all()
    assert [e.journey for e in events] == ["first-tap", "owner-care"]
    assert all(e.ruleset_version and e.ruleset_version.startswith("nordwand") for e in events)

    # The staff member sets a password with the printed link, signs in, and finds the parka.
    staff_browser = app.test_client()
    staff_browser.get(link)
    assert post_form(staff_browser, link, {"password": PASSWORD, "confirm": PASSWORD}
                     ).status_code == 303
    staff_browser.get("/admin/login")
    assert post_form(staff_browser, "/admin/login", {"email": STAFF, "password": PASSWORD}
                     ).status_code == 303
    found = staff_browser.get("/admin/items?q=NW-P-0001")
    assert found.status_code == 200 and "Eiger Down Parka" in found.get_data(as_text=True)
