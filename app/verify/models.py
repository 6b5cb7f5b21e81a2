"""Tag registry and the tap log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.catalog.models import Item
from app.core.db import Base, UTCDateTime


class Tag(Base):
    """One NTAG 424 DNA chip, bound to one item, under one key version."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    # 7-byte UID as 14 upper-case hex characters.
    uid: Mapped[str] = mapped_column(String(14), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), unique=True)
    key_version: Mapped[str] = mapped_column(String(64))
    # Highest SDMReadCtr accepted as genuine; a tap must carry a strictly higher one.
    last_counter: Mapped[int | None] = mapped_column(Integer)
    genuine_taps: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When the last genuine tap was accepted (set by the same UPDATE that advances the counter).
    last_genuine_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Highest counter handed out by the simulator, so minted links never collide.
    sim_counter: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())

    item: Mapped[Item] = relationship()


class TapEvent(Base):
    """One tap, whatever its verdict. Holds nothing personal: no IP, no user agent."""

    __tablename__ = "tap_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    verdict: Mapped[str] = mapped_column(String(16), index=True)
    tag_id: Mapped[int | None] = mapped_column(ForeignKey("tags.id"), index=True)
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), index=True)
    counter: Mapped[int | None] = mapped_column(Integer)
    mode: Mapped[str | None] = mapped_column(String(8))
    tamper: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    # Why a tap failed, in words for the brand's analysts ("bad MAC", "wrong item in path").
    reason: Mapped[str | None] = mapped_column(String(120))
    # The decision taken for the tap: which ruleset version and journey served it.
    ruleset_version: Mapped[str | None] = mapped_column(String(80))
    journey: Mapped[str | None] = mapped_column(String(80))
    # The fact the decision was taken on, as compact JSON, so a draft ruleset can be replayed
    # against real taps before it is published (``journeys replay``).
    facts: Mapped[str | None] = mapped_column(Text)
    # Only when the person agreed on the page, and rounded to 0.1 degree (about 11 km).
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)


class FailedTapHour(Base):
    """Count of failed taps per hour and verdict; detail rows stop at a cap, this never does."""

    __tablename__ = "failed_tap_hours"

    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    verdict: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
