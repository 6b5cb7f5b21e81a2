"""Service requests (from owners) and service events (recorded by the brand)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime


class ServiceRequest(Base):
    __tablename__ = "service_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    ownership_id: Mapped[int] = mapped_column(ForeignKey("ownerships.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # repair | cleaning | adjustment | other
    kind: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)
    # Whether the item was under warranty when asked, as the owner saw it on the form.
    under_warranty: Mapped[bool]
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done | cancelled


class ServiceEvent(Base):
    """Work the brand did on an item; counted into the item's ``service.*`` facts."""

    __tablename__ = "service_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("service_requests.id"))
    # Where it was done or who did it (a workshop name), for the history shown to owners.
    location: Mapped[str | None] = mapped_column(String(120))


class ServiceFeedback(Base):
    """The owner's word on a service the brand did: one per service event and ownership."""

    __tablename__ = "service_feedback"
    __table_args__ = (
        UniqueConstraint("event_id", "ownership_id"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_1_to_5"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("service_events.id"), index=True)
    ownership_id: Mapped[int] = mapped_column(ForeignKey("ownerships.id"), index=True)
    rating: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
