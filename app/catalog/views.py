"""Read views of the catalogue: immutable snapshots of an item, its product and brand.

A tap, a page or a simulation reads an item once and passes the view along; nothing downstream
touches the ORM row. ``ITEM_COLUMNS`` and ``item_view_from_row`` let hot paths load the same view
in one Core statement, reading the row's columns by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from app.catalog.models import Brand, Item, Product


@dataclass(frozen=True)
class BrandView:
    slug: str
    name: str
    # IANA zone the brand's pages show times in (app.core.wording.brand_time).
    timezone: str = "UTC"
    # Its main language (``Brand.locale``): pages speak it when its live ruleset says none.
    locale: str = "en"


# The attributes that describe the object itself for products that do not list their own
# (the demo's, and any made before ``products import``): anything else in ``attributes``
# (prices, warranty terms, internal codes) is not shown or signed.
DEFAULT_PROVENANCE_ATTRIBUTES = ("made_in", "material", "formulation", "cask", "vintage",
                                 "movement")


@dataclass(frozen=True)
class ProductImage:
    """An image file in the brand's asset folder, with its size in pixels."""

    file: str
    width: int
    height: int


@dataclass(frozen=True)
class ProductView:
    id: int
    gtin: str
    name: str
    category: str
    attributes: Mapping[str, Any]
    brand: BrandView
    care_text: str | None = None
    owner_content: str | None = None
    images: tuple[ProductImage, ...] = ()
    provenance_names: tuple[str, ...] = DEFAULT_PROVENANCE_ATTRIBUTES
    # Care and owner-only words in other languages, attribute labels (``Product.texts``).
    texts: Mapping[str, Any] = field(default_factory=dict)

    def provenance(self) -> list[tuple[str, Any]]:
        """Return ``(name, value)`` of the attributes that describe the object, in order,
        leaving out those the product has no value for."""
        return [(name, self.attributes[name]) for name in self.provenance_names
                if self.attributes.get(name) not in (None, "")]


def _images(value: Any) -> tuple[ProductImage, ...]:
    return tuple(ProductImage(str(i["file"]), int(i["width"]), int(i["height"]))
                 for i in value or ())


def _names(value: Any) -> tuple[str, ...]:
    return DEFAULT_PROVENANCE_ATTRIBUTES if value is None else tuple(value)


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
    Product.category, Product.attributes, Product.care_text, Product.owner_content,
    Product.images, Product.provenance_attributes, Product.texts,
    Brand.slug.label("brand_slug"), Brand.name.label("brand_name"),
    Brand.timezone.label("brand_timezone"), Brand.locale.label("brand_locale"),
)


def item_view_from_row(row: Row[Any]) -> ItemView:
    """Return the view of a row selected with ``ITEM_COLUMNS`` (joined item, product, brand)."""
    m = row._mapping
    product = ProductView(m["product_id"], m["gtin"], m["product_name"], m["category"],
                          m["attributes"] or {}, BrandView(m["brand_slug"], m["brand_name"],
                                                              m["brand_timezone"] or "UTC",
                                                              m["brand_locale"] or "en"),
                          care_text=m["care_text"], owner_content=m["owner_content"],
                          images=_images(m["images"]),
                          provenance_names=_names(m["provenance_attributes"]),
                          texts=m["texts"] or {})
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
                            BrandView(product.brand.slug, product.brand.name,
                                      product.brand.timezone or "UTC",
                                      product.brand.locale or "en"),
                            care_text=product.care_text, owner_content=product.owner_content,
                            images=_images(product.images),
                            provenance_names=_names(product.provenance_attributes),
                            texts=product.texts or {}),
        created_at=item.created_at, warranty_started_at=item.warranty_started_at,
        warranty_ends_at=item.warranty_ends_at, stolen=item.stolen_at is not None,
        service_count=item.service_count or 0, last_service_at=item.last_service_at,
    )
