"""Catalogue tables: a brand owns products; a product has serialised items; an item is held by
one owner at a time.

Owners and ownerships live here, below the domains, because every domain reads them (is this
browser the item's owner? who owned it before?). Only ``app.ownership`` changes them.

An owner has no login: the credential is an opaque ``public_id`` in a signed cookie. Erasing an
owner wipes the personal fields and rotates ``public_id`` (every cookie stops working) while the
item's ownership history keeps its anonymous rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, UTCDateTime


class Brand(Base):
    __tablename__ = "brands"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    # IANA time zone, locale (``en``, ``fr-FR``) and home market (ISO 3166 alpha-2) given at
    # ``brands create``; brands made before they existed got UTC and en.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    locale: Mapped[str] = mapped_column(String(35), default="en", server_default="en")
    market: Mapped[str | None] = mapped_column(String(2))

    products: Mapped[list[Product]] = relationship(back_populates="brand")


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    gtin: Mapped[str] = mapped_column(String(14), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(64))
    # Catalogue attributes a journey may read as product.<name> (leather, formulation, vintage...).
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Which attributes describe the object itself (shown on its tap page, signed into provenance
    # records), in display order; None: the built-in list (app.catalog.views).
    provenance_attributes: Mapped[list[str] | None] = mapped_column(JSON)
    # Markdown from the brand's import, rendered safely on the page (app.core.markdown).
    care_text: Mapped[str | None] = mapped_column(Text)
    owner_content: Mapped[str | None] = mapped_column(Text)
    # The same words in other languages, and labels of attributes, from the import:
    # {"care": {locale: markdown}, "owner_content": {...}, "labels": {name: {locale: text}}}.
    texts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # [{"file", "width", "height"}] in display order; files in the brand's asset folder.
    images: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)

    brand: Mapped[Brand] = relationship(back_populates="products")
    items: Mapped[list[Item]] = relationship(back_populates="product")


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("product_id", "serial"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    serial: Mapped[str] = mapped_column(String(20))
    # ISO 3166-1 alpha-2 market the item was allocated to; None when unknown.
    market: Mapped[str | None] = mapped_column(String(2))
    # Sold (True), still in a boutique (False: it only authenticates), or not known (None: the
    # brand has no sales feed, and its ruleset decides what a first tap does).
    released: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    # When it was sold and through which channel or retailer (``sold_at`` and ``channel`` columns
    # of the catalogue import): activation is measured from the sale.
    sold_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    channel: Mapped[str | None] = mapped_column(String(64))
    # The warranty runs from the first owner's activation for the product's term.
    warranty_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    warranty_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Reported stolen: transfers are refused until the flag is cleared.
    stolen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Kept beside the service log so a tap reads service.* facts in the row it already loads.
    service_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_service_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    product: Mapped[Product] = relationship(back_populates="items")


class Owner(Base):
    __tablename__ = "owners"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The cookie credential: random, never shown, rotated on erasure.
    public_id: Mapped[str] = mapped_column(String(43), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    # Set when the owner opened the confirmation link: recovery only goes to verified addresses.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    email_opt_in: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The owner's own time zone (IANA name) for scheduled messages; None: from where they tap.
    timezone: Mapped[str | None] = mapped_column(String(64))


class Ownership(Base):
    """One owner's holding of one item, from start to end; ordinal 1 is the first buyer."""

    __tablename__ = "ownerships"
    __table_args__ = (
        UniqueConstraint("item_id", "ordinal"),
        # At most one current ownership per item: two racing claims or transfers cannot both win.
        Index(
            "uq_ownerships_current_item",
            "item_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    # first_tap | confirmed | transfer | brand
    began_by: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # transfer | brand | erased
    ended_by: Mapped[str | None] = mapped_column(String(16))
    owner_taps: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Regular use: consecutive calendar months (UTC) with an owner tap, and the last such month
    # as year * 12 + month - 1.
    month_streak: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_tap_month: Mapped[int | None] = mapped_column(Integer)
    # None while a first-tap claim that made a new owner is provisional: until the claiming
    # browser comes back with its cookie, another browser's genuine tap within the tap-session
    # window takes it over (a lost response must not leave an item nobody can own).
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    item: Mapped[Item] = relationship()
    owner: Mapped[Owner] = relationship()
