"""Test data factories: brands, products, tagged items, fresh tap URLs."""

from __future__ import annotations

import itertools
import secrets
from typing import Any

from sqlalchemy.orm import Session

from app.catalog.models import Item
from app.catalog.service import get_or_create_brand, get_or_create_product, gtin_check_digit
from app.verify.models import Tag

_seq = itertools.count(1)


def gtin(n: int | None = None) -> str:
    """Return a valid GTIN-14 (correct check digit), distinct per call unless ``n`` is given."""
    body = f"0400000{(n if n is not None else next(_seq)):06d}"
    return body + str(gtin_check_digit(body))


def tagged_item(
    session: Session,
    *,
    serial: str | None = None,
    key_version: str = "test-2026",
    category: str = "bag",
    market: str | None = "FR",
    released: bool = True,
    brand: str = "maison-aurelia",
    product_gtin: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> Tag:
    """Create (flushed, committed) a product, an item and its tag; return the tag."""
    b = get_or_create_brand(session, brand, brand.replace("-", " ").title())
    product = get_or_create_product(
        session, b, product_gtin or gtin(), name=f"Test {category}", category=category,
        attributes=attributes or {},
    )
    item = Item(product=product, serial=serial or f"S{next(_seq):06d}", market=market,
                released=released)
    session.add(item)
    session.flush()
    tag = Tag(uid="04" + secrets.token_hex(6).upper(), item=item, key_version=key_version)
    session.add(tag)
    session.commit()
    return tag
