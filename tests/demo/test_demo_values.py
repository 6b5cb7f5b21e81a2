"""The demo's Maison Aurelia speaks French on its item cards: every attribute a product shows
has a French value (``Product.texts["values"]``), and a French tap page shows those values, not
the English ones."""

from __future__ import annotations

from sqlalchemy import select

from app.catalog.models import Brand, Item, Product
from app.demo.service import seed_demo
from app.verify.models import Tag
from tests.factories import tap_url

SHOWN = ("made_in", "material", "formulation", "cask", "movement")


def test_every_aurelia_value_has_its_french(db):
    seed_demo(db, "test-2026")
    db.commit()
    products = db.scalars(select(Product).join(Brand).where(Brand.slug == "maison-aurelia")).all()
    assert len(products) == 5
    for product in products:
        for name in SHOWN:
            if name in product.attributes:
                french = ((product.texts or {}).get("values") or {}).get(name) or {}
                assert french.get("fr"), (product.name, name)
    # Reseeding keeps them and changes nothing.
    seed_demo(db, "test-2026")
    assert not db.dirty


def test_the_french_item_card_of_the_demo_bag(client, db, keyring):
    seed_demo(db, "test-2026")
    db.commit()
    tag = db.scalar(select(Tag).join(Item).where(Item.serial == "BAG-0001"))
    page = client.get(tap_url(db, keyring, tag), headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    html = page.get_data(as_text=True)
    assert "<dd>Florence, Italie</dd>" in html
    assert "<dd>veau pleine fleur tanné végétal</dd>" in html
    assert "Italy" not in html and "calfskin" not in html


def test_the_demo_brands_keep_the_clock_their_rulesets_speak_in(db):
    """Pages show times in the brand's zone: the demo's must be its rulesets' (not UTC)."""
    import yaml

    from tests.messages.helpers import REPO

    seed_demo(db, "test-2026")
    for brand in db.scalars(select(Brand)):
        ruleset = yaml.safe_load((REPO / "rulesets" / f"{brand.slug}.yaml").read_text())
        assert brand.timezone == ruleset["timezone"] != "UTC", brand.slug
