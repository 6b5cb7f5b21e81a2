"""Read views of the catalogue: immutable snapshots of an item, its product and brand.

A tap, a page or a simulation reads an item once and passes the view along; nothing downstream
touches the ORM row. ``ITEM_COLUMNS`` and ``item_view_from_row`` let hot paths load the same view
in one Core statement, reading the row's columns by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from app.catalog.models import Brand, Item, Product


@dataclass(frozen=True)
class BrandView:
    slug: str
    name: str


@dataclass(frozen=True)
class ProductView:
    id: int
    gtin: str
    name: str
    category: str
    attributes: Mapping[str, Any]
    brand: BrandView


@dataclass(frozen=True)
class ItemView:
    id: int
    serial: str
    market: str | None
    released: bool | None  # None: the sale is not known
    product: ProductView
    created_at: datetime | None = None
    warranty_started_at: datetime | None = None
    warranty_ends_at: datetime | None = None
    stolen: bool = False
    service_count: int = 0
    last_service_at: datetime | None = None


# The columns ``item_view_from_row`` reads, labelled so a joined row is read by name.
ITEM_COLUMNS = (
    Item.id.label("item_id"), Item.serial, Item.market, Item.released,
    Item.created_at.label("item_created_at"), Item.warranty_started_at, Item.warranty_ends_at,
    Item.stolen_at, Item.service_count, Item.last_service_at,
    Product.id.label("product_id"), Product.gtin, Product.name.label("product_name"),
    Product.category, Product.attributes,
    Brand.slug.label("brand_slug"), Brand.name.label("brand_name"),
)


def item_view_from_row(row: Row[Any]) -> ItemView:
    """Return the view of a row selected with ``ITEM_COLUMNS`` (joined item, product, brand)."""
    m = row._mapping
    product = ProductView(m["product_id"], m["gtin"], m["product_name"], m["category"],
                          m["attributes"] or {}, BrandView(m["brand_slug"], m["brand_name"]))
    return ItemView(
        id=m["item_id"], serial=m["serial"], market=m["market"],
        released=None if m["released"] is None else bool(m["released"]), product=product,
        created_at=m["item_created_at"], warranty_started_at=m["warranty_started_at"],
        warranty_ends_at=m["warranty_ends_at"], stolen=m["stolen_at"] is not None,
        service_count=m["service_count"] or 0, last_service_at=m["last_service_at"],
    )


def item_view(item: Item) -> ItemView:
    """Return the read-only view of an ORM ``item`` (for simulations and follow-up pages)."""
    product = item.product
    return ItemView(
        id=item.id, serial=item.serial, market=item.market, released=item.released,
        product=ProductView(product.id, product.gtin, product.name, product.category,
                            product.attributes or {},
                            BrandView(product.brand.slug, product.brand.name)),
        created_at=item.created_at, warranty_started_at=item.warranty_started_at,
        warranty_ends_at=item.warranty_ends_at, stolen=item.stolen_at is not None,
        service_count=item.service_count or 0, last_service_at=item.last_service_at,
    )
