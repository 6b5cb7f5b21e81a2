"""Owners, the ownership history of items, transfer offers, one-time email tokens and the audit log.

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
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.catalog.models import Item
from app.db import Base


class Owner(Base):
    __tablename__ = "owners"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The cookie credential: random, never shown, rotated on erasure.
    public_id: Mapped[str] = mapped_column(String(43), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    # Set when the owner opened the confirmation link: recovery only goes to verified addresses.
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    email_opt_in: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


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
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # transfer | brand | erased
    ended_by: Mapped[str | None] = mapped_column(String(16))
    owner_taps: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Regular use: consecutive calendar months (UTC) with an owner tap, and the last such month
    # as year * 12 + month - 1.
    month_streak: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_tap_month: Mapped[int | None] = mapped_column(Integer)

    item: Mapped[Item] = relationship()
    owner: Mapped[Owner] = relationship()


class TransferOffer(Base):
    """A seller's single-use, expiring offer; only a hash of the token the buyer gets is stored."""

    __tablename__ = "transfer_offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    ownership_id: Mapped[int] = mapped_column(ForeignKey("ownerships.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    accepted_by: Mapped[int | None] = mapped_column(ForeignKey("owners.id"))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OwnerToken(Base):
    """A one-time emailed link: confirm an address, or recover ownership on a new phone."""

    __tablename__ = "owner_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # verify_email | recover
    # The address being confirmed (verify_email): the owner's email only changes once confirmed.
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """Who changed ownership-relevant state, when and why. Holds ids, never personal data."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(32))  # admin | owner | system | ruleset
    action: Mapped[str] = mapped_column(String(40))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
