"""Insights' own tables: the rollup cube the dashboard reads, refresh watermarks, integrity
alerts and commerce events sent in by a brand's shop or CRM.

The cube holds one number per cell (brand x metric x day x product x market x country x journey
x bucket). Every panel is one indexed range read of it, so a panel costs the same with ten
thousand taps or ten million. What each metric means, which dimensions it fills and whether its
distinct counts are exact: ``app.insights.metrics``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class CubeCell(Base):
    """One rollup number. Empty strings and product 0 mean "none" (or "all", for metrics whose
    cells are distinct counts over every value of that dimension; see ``app.insights.metrics``)."""

    __tablename__ = "insight_cube"

    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The brand's local calendar day (its time zone), or the period's first day.
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    product_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    market: Mapped[str] = mapped_column(String(2), primary_key=True)
    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    journey: Mapped[str] = mapped_column(String(80), primary_key=True)
    # What the metric splits by: verdict, ruleset version, prize, channel, stage, state...
    bucket: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class RefreshMark(Base):
    """How far a rollup has read its source table (the highest id taken) and when it last ran.

    ``refreshed_at`` is the freshness each panel shows."""

    __tablename__ = "insight_marks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Alert(Base):
    """An integrity finding for staff: one per item, kind and UTC day.

    ``detail`` holds countries, city names, counters and times: never an owner or an address."""

    __tablename__ = "insight_alerts"
    __table_args__ = (
        UniqueConstraint("item_id", "kind", "day"),
        Index("ix_insight_alerts_brand_id_at", "brand_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    kind: Mapped[str] = mapped_column(String(16))  # off_market | clone_suspect | stolen_seen
    day: Mapped[date] = mapped_column(Date)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    tap_event_id: Mapped[int | None] = mapped_column(_BIG_ID, ForeignKey("tap_events.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The audit actor (``staff:<id>``, ``token:<id>``), never an email.
    acknowledged_by: Mapped[str | None] = mapped_column(String(40))
    # Set once the brand's email or webhook has been queued for it.
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CommerceSource(Base):
    """A brand's signing secrets for commerce events (Standard Webhooks ``whsec_``), newest first.

    Two while a secret is rotated; the receiver accepts either."""

    __tablename__ = "commerce_sources"

    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), primary_key=True)
    secrets: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CommerceEvent(Base):
    """An order (or refund) from a brand's shop or CRM, kept once per brand and event id."""

    __tablename__ = "commerce_events"
    __table_args__ = (
        UniqueConstraint("brand_id", "event_id"),
        Index("ix_commerce_events_owner_id_occurred_at", "owner_id", "occurred_at"),
        Index("ix_commerce_events_brand_id_occurred_at", "brand_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    # The sender's id for the event (Standard Webhooks ``webhook-id``): a retry is a no-op.
    event_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # order | refund
    # Resolved from the owner reference (an owner id from our webhook, or an email hash);
    # None when it names nobody we know (kept: the owner may claim an item later).
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"))
    email_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # [{"gtin": ..., "quantity": n}]
    products: Mapped[list[Any]] = mapped_column(JSON, default=list)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
