"""The messages domain's tables: queued messages, consent, and each brand's CRM endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime

# Where a message stands. ``scheduled`` waits for its time (or its next retry), ``deferred``
# waits for the end of the owner's quiet hours, ``sending`` is leased to a worker, ``accepted``
# means the SMTP server took it, ``sent`` that the CRM answered 2xx, ``failed`` that retries ran
# out (``reason`` says why), ``suppressed`` that it must not go (``reason``: no_consent, cap,
# unsubscribed, erased).
SCHEDULED, DEFERRED, SENDING = "scheduled", "deferred", "sending"
ACCEPTED, SENT, FAILED, SUPPRESSED = "accepted", "sent", "failed", "suppressed"
# States that count against ``messages_per_owner`` (a message being sent counts already).
COUNTED = (SENDING, ACCEPTED, SENT)


class Message(Base):
    """One message of one schedule to one ownership for one due slot on one channel."""

    __tablename__ = "messages"
    __table_args__ = (
        # Exactly once per due slot: two ticks of the same slot insert the same keys.
        UniqueConstraint("brand", "schedule_id", "ownership_id", "slot", "channel"),
        Index("ix_messages_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand: Mapped[str] = mapped_column(String(64), index=True)
    schedule_id: Mapped[str] = mapped_column(String(80))
    ownership_id: Mapped[int] = mapped_column(ForeignKey("ownerships.id"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"), index=True)
    slot: Mapped[datetime] = mapped_column(UTCDateTime())
    channel: Mapped[str] = mapped_column(String(20))
    # The template (templates/messages/NAME.html); also the consent "kind".
    template: Mapped[str] = mapped_column(String(80))
    # Message-ID of the email and webhook-id of the CRM call: the same on every attempt, so a
    # copy sent after a crash is recognisably the same message.
    key: Mapped[str] = mapped_column(String(80), unique=True)
    state: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(String(80))
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the cap counted it (claimed for sending); the cap's window is over this column.
    counted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    give_up_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # SHA-256 of the unsubscribe token the message carries; the token itself is never stored.
    unsubscribe_hash: Mapped[str | None] = mapped_column(String(64), unique=True)


class Consent(Base):
    """An owner's answer for one channel and kind of message; no row: the default applies."""

    __tablename__ = "message_consents"
    __table_args__ = (UniqueConstraint("owner_id", "channel", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(80))
    granted: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Endpoint(Base):
    """A brand's CRM webhook: where to POST and the secrets to sign with (newest first)."""

    __tablename__ = "message_endpoints"

    brand: Mapped[str] = mapped_column(String(64), ForeignKey("brands.slug"), primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    # ``whsec_...`` secrets; during a rotation the previous one is kept so receivers that have
    # not switched yet still verify (Standard Webhooks: several signatures, space-separated).
    secrets: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
