"""Catalogue rules: GS1 identifiers and find-or-create of products."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.models import Brand, Item, Product
from app.core.errors import N_, DomainError, NotFound

# GS1 General Specifications: serial (AI 21) is up to 20 characters from the "AI encodable set 82";
# we accept its URL-safe subset so the Digital Link path needs no escaping.
_SERIAL_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,20}$")


class InvalidIdentifier(DomainError):
    code = "invalid_identifier"


def gtin_check_digit(body: str) -> int:
    """Return the GS1 mod-10 check digit for ``body`` (all digits but the last)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        total += int(ch) * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


def normalize_gtin(value: str) -> str:
    """Return ``value`` as a 14-digit GTIN (GTIN-8/12/13/14 accepted, left-padded with zeros).

    Raises:
        InvalidIdentifier: not 8, 12, 13 or 14 digits, or the check digit is wrong.
    """
    value = (value or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) not in (8, 12, 13, 14):
        raise InvalidIdentifier(f"GTIN {value!r} must be 8, 12, 13 or 14 digits.")
    gtin = value.zfill(14)
    if gtin_check_digit(gtin[:-1]) != int(gtin[-1]):
        raise InvalidIdentifier(
            f"GTIN {value} has a wrong check digit (expected {gtin_check_digit(gtin[:-1])})."
        )
    return gtin


def normalize_serial(value: str) -> str:
    """Return ``value`` if it is a usable GS1 serial.

    Raises:
        InvalidIdentifier: empty, longer than 20 characters, or with characters a URL would escape.
    """
    value = (value or "").strip()
    if not _SERIAL_RE.match(value):
        raise InvalidIdentifier(
            f"serial {value!r} must be 1 to 20 letters, digits, '-', '_' or '.'."
        )
    return value


def brand_slug(session: Session, brand_id: int | None) -> str | None:
    """Return the slug of brand ``brand_id`` (None for None: every brand)."""
    if brand_id is None:
        return None
    return session.scalar(select(Brand.slug).where(Brand.id == brand_id))


def get_or_create_brand(session: Session, slug: str, name: str) -> Brand:
    """Return the brand with ``slug``, creating it (flushed, not committed) if absent."""
    brand = session.scalar(select(Brand).where(Brand.slug == slug))
    if brand is None:
        brand = Brand(slug=slug, name=name)
        session.add(brand)
        session.flush()
    return brand


def get_or_create_product(
    session: Session,
    brand: Brand,
    gtin: str,
    *,
    name: str | None,
    category: str | None,
    attributes: dict[str, Any] | None = None,
    care_text: str | None = None,
    owner_content: str | None = None,
) -> Product:
    """Return the product with ``gtin``; create it from ``name``/``category`` (and the rest) if
    it is new.

    Raises:
        InvalidIdentifier: the GTIN is bad, or the product is new and has no name or category.
        DomainError: the GTIN belongs to another brand.
    """
    gtin = normalize_gtin(gtin)
    product = session.scalar(select(Product).where(Product.gtin == gtin))
    if product is not None:
        if product.brand_id != brand.id:
            raise DomainError(f"GTIN {gtin} already belongs to another brand.")
        return product
    if not name or not category:
        raise InvalidIdentifier(
            f"GTIN {gtin} is not in the catalogue; give product_name and category to create it."
        )
    product = Product(
        brand=brand, gtin=gtin, name=name, category=category, attributes=attributes or {},
        care_text=care_text, owner_content=owner_content,
    )
    session.add(product)
    session.flush()
    return product


def find_item(session: Session, gtin: str, serial: str, brand_id: int | None = None) -> Item:
    """Return the item ``gtin``/``serial`` (of brand ``brand_id`` only, when given).

    Raises:
        NotFound: no such item, or it is another brand's (the same answer: a brand's staff
            must not learn what another brand holds).
    """
    stmt = select(Item).join(Product).where(Product.gtin == gtin, Item.serial == serial)
    if brand_id is not None:
        stmt = stmt.where(Product.brand_id == brand_id)
    item = session.scalar(stmt)
    if item is None:
        raise NotFound(N_("No item %(gtin)s/%(serial)s is registered."), gtin=gtin, serial=serial)
    return item
