"""Seed the demo brands (idempotent) and mint demo tap links."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.models import Brand, Item, Product
from app.catalog.service import get_or_create_brand, get_or_create_product
from app.verify.keys import KeyVersion
from app.verify.models import Tag
from app.verify.service import mint_tap_url

DEMO_BRAND = ("maison-aurelia", "Maison Aurelia")

# (gtin, name, category, attributes, serials with their market and sale state: True sold,
# False still in the boutique, None not known)
CatalogueEntry = tuple[
    str, str, str, dict[str, str | int], tuple[tuple[str, str, bool | None], ...]
]
DEMO_CATALOGUE: tuple[CatalogueEntry, ...] = (
    ("03760123450003", "Aurelia Weekender Bag", "bag",
     {"material": "full-grain vegetable-tanned calfskin", "made_in": "Florence, Italy",
      "warranty_months": 24},
     (("BAG-0001", "FR", True), ("BAG-0002", "JP", True), ("BAG-0003", "FR", False))),
    ("03760123450010", "Sérum Lumière 30 ml", "serum",
     {"formulation": "10% niacinamide, squalane", "made_in": "Grasse, France",
      "warranty_months": 0}, (("SER-0001", "FR", True), ("SER-0002", "US", True))),
    ("03760123450027", "Glen Aurelia 18 Year Old", "whisky",
     {"cask": "first-fill Oloroso sherry butt", "vintage": 2008, "made_in": "Speyside, Scotland",
      "warranty_months": 0}, (("WHY-0001", "GB", True), ("WHY-0002", "CN", True))),
    ("03760123450034", "Aurelia Court Sneaker", "sneakers",
     {"material": "nappa leather, natural rubber sole", "made_in": "Marche, Italy",
      "warranty_months": 12, "plural": True},
     (("SNK-0001", "FR", True), ("SNK-0002", "DE", True), ("SNK-0003", "DE", None))),
    ("03760123450041", "Aurelia Chronographe 40", "watch",
     {"movement": "automatic calibre AU-7", "made_in": "Le Locle, Switzerland",
      "warranty_months": 60,
      "owner_content_title": "Film: the making of the AU-7 movement"},
     (("WCH-0001", "CH", True), ("WCH-0002", "FR", True))),
)
# The attributes' values in French (the catalogue import's ``made_in:fr`` columns, kept in
# ``Product.texts["values"]``): the item card of a French page shows these, not the English.
DEMO_VALUES: dict[str, dict[str, dict[str, str]]] = {
    "03760123450003": {"made_in": {"fr": "Florence, Italie"},
                       "material": {"fr": "veau pleine fleur tanné végétal"}},
    "03760123450010": {"made_in": {"fr": "Grasse, France"},
                       "formulation": {"fr": "niacinamide 10 %, squalane"}},
    "03760123450027": {"made_in": {"fr": "Speyside, Écosse"},
                       "cask": {"fr": "fût de xérès Oloroso de premier remplissage"}},
    "03760123450034": {"made_in": {"fr": "Marches, Italie"},
                       "material": {"fr": "cuir nappa, semelle en caoutchouc naturel"}},
    "03760123450041": {"made_in": {"fr": "Le Locle, Suisse"},
                       "movement": {"fr": "calibre automatique AU-7"}},
}
# Each product's care text (Markdown), in the brand's words for that product: the care page
# shows it, and a product without one gets a neutral line, never another product's advice.
DEMO_CARE: dict[str, str] = {
    "03760123450003": "Full-grain calfskin ages with you. Keep it away from direct sun and "
                      "heat, let it dry naturally if it gets wet, and store it in its dust bag.",
    "03760123450010": "Keep the bottle closed, away from light and heat, and use it within "
                      "**twelve months** of opening.",
    "03760123450027": "Store the bottle upright, away from light. Once opened it keeps for "
                      "months with the cork pushed home.",
    "03760123450034": "Wipe the nappa with a damp cloth, let the pair dry away from heat, and "
                      "keep them in shape with cedar trees.",
    "03760123450041": "Your automatic movement likes to be worn: wind it fully if it has "
                      "stopped, and keep it away from strong magnets. Have it serviced every "
                      "five years.",
}
# The second demo brand, with its own ruleset (rulesets/nordwand.yaml) and look
# (brand-assets/nordwand/): every one of its pages is written in the ruleset, none in HTML.
NORDWAND_BRAND = ("nordwand", "Nordwand")
NORDWAND_CATALOGUE: tuple[CatalogueEntry, ...] = (
    ("07612345600017", "Nordwand Eiger Shell Jacket", "jacket",
     {"material": "three-layer recycled nylon, taped seams", "made_in": "Valais, Switzerland",
      "warranty_months": 36},
     (("NW-JKT-0001", "CH", True), ("NW-JKT-0002", "DE", True))),
    ("07612345600024", "Nordwand Gipfel Boots", "boots",
     {"material": "waxed suede, Vibram sole", "made_in": "Montebelluna, Italy",
      "warranty_months": 24, "plural": True},
     (("NW-BOT-0001", "CH", True), ("NW-BOT-0002", "FR", True))),
)
NORDWAND_CARE: dict[str, str] = {
    "07612345600017": "Wash it cold with a technical cleaner, never softener, then tumble dry "
                      "on low for **twenty minutes**: the warmth revives the water repellency.",
    "07612345600024": "Brush off the mud after each outing, let the boots dry away from the "
                      "stove, and wax the suede when water stops beading.",
}
DEMO_OWNER_CONTENT: dict[str, str] = {
    "03760123450041": "Forty minutes in the Le Locle workshop, from the first plate to the "
                      "final regulation, told by the watchmakers who assembled your movement.",
}


DEMO_ZONES = {"maison-aurelia": "Europe/Paris", "nordwand": "Europe/Zurich"}
# Serials of the items `demo history` makes up (app/demo/history.py): thousands, never buttons.
HISTORY_SERIAL_PREFIX = "HIST-"


@dataclass(frozen=True)
class SeedSummary:
    products: int
    tags_created: int


# Each demo brand: (slug, name), its catalogue, and its products' care texts by GTIN.
DEMO_BRANDS: tuple[tuple[tuple[str, str], tuple[CatalogueEntry, ...], dict[str, str]], ...] = (
    (DEMO_BRAND, DEMO_CATALOGUE, DEMO_CARE),
    (NORDWAND_BRAND, NORDWAND_CATALOGUE, NORDWAND_CARE),
)


def seed_demo(session: Session, key_version: str) -> SeedSummary:
    """Create the demo brands, products, items and tags that are missing; return what exists now.

    Tags get random NXP-style UIDs (first byte 0x04). Running it again changes nothing.
    """
    created = 0
    products = 0
    for brand_names, catalogue, care in DEMO_BRANDS:
        brand = get_or_create_brand(session, *brand_names)
        if brand.timezone == "UTC":
            # The zone its ruleset speaks in, so pages show the brand's own clock.
            brand.timezone = DEMO_ZONES[brand.slug]
        products += len(catalogue)
        created += _seed_catalogue(session, brand, catalogue, care, key_version)
    return SeedSummary(products=products, tags_created=created)


def _seed_catalogue(
    session: Session, brand: Brand, catalogue: tuple[CatalogueEntry, ...],
    care: dict[str, str], key_version: str,
) -> int:
    """Create ``brand``'s missing demo products, items and tags; return how many tags were made."""
    created = 0
    for gtin, name, category, attributes, serials in catalogue:
        product = get_or_create_product(
            session, brand, gtin, name=name, category=category, attributes=attributes,
            care_text=care.get(gtin), owner_content=DEMO_OWNER_CONTENT.get(gtin),
        )
        values = DEMO_VALUES.get(gtin)
        if values and (product.texts or {}).get("values") != values:
            # Also on a demo seeded before the values existed: reseeding adds them.
            product.texts = {**(product.texts or {}), "values": values}
        for serial, market, released in serials:
            item = session.scalar(
                select(Item).where(Item.product_id == product.id, Item.serial == serial)
            )
            if item is None:
                item = Item(product=product, serial=serial, market=market, released=released)
                session.add(item)
                session.flush()
            if session.scalar(select(Tag.id).where(Tag.item_id == item.id)) is None:
                uid = "04" + secrets.token_hex(6).upper()
                session.add(Tag(uid=uid, item=item, key_version=key_version))
                session.flush()
                created += 1
    return created


def demo_tags(session: Session) -> list[Tag]:
    """Return the demo brands' tags, one per item, brand by brand in catalogue order (not the
    made-up history's items)."""
    return list(
        session.scalars(
            select(Tag)
            .join(Item)
            .join(Product)
            .join(Brand)
            .where(Brand.slug.in_([names[0] for names, _catalogue, _care in DEMO_BRANDS]),
                   ~Item.serial.startswith(HISTORY_SERIAL_PREFIX))
            .order_by(Brand.slug, Product.gtin, Item.serial)
        )
    )


def demo_links(
    session: Session, keyring: Mapping[str, KeyVersion], base_url: str
) -> list[tuple[Tag, str]]:
    """Return one fresh tap URL for the first item of each demo product, and for every item
    that is not plainly sold (still in the boutique, or its sale not known)."""
    seen: set[int] = set()
    links = []
    for tag in demo_tags(session):
        if tag.item.product_id in seen and tag.item.released is True:
            continue
        seen.add(tag.item.product_id)
        links.append((tag, mint_tap_url(session, keyring, tag, base_url)))
    return links
