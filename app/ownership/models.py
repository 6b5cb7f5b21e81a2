"""Transfer offers and one-time email tokens: the ownership domain's own tables.

Owners and ownerships themselves are catalogue records (``app.catalog.models``): every domain
reads who holds an item, and only this domain changes it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime


class TransferOffer(Base):
    """A seller's single-use, expiring offer; only a hash of the token the buyer gets is stored."""

    __tablename__ = "transfer_offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    ownership_id: Mapped[int] = mapped_column(ForeignKey("ownerships.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_by: Mapped[int | None] = mapped_column(ForeignKey("owners.id"))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OwnerToken(Base):
    """A one-time emailed link: confirm an address, or recover ownership on a new phone."""

    __tablename__ = "owner_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # verify_email | recover
    # The address being confirmed (verify_email): the owner's email only changes once confirmed.
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
