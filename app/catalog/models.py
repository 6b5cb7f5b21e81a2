"""Catalogue tables: a brand owns products; a product has serialised items."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base


class Brand(Base):
    __tablename__ = "brands"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The warranty runs from the first owner's activation for the product's term.
    warranty_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    warranty_ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Reported stolen: transfers are refused until the flag is cleared.
    stolen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Kept beside the service log so a tap reads service.* facts in the row it already loads.
    service_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_service_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    product: Mapped[Product] = relationship(back_populates="items")
