"""Issued provenance records. The signed document is stored exactly as issued."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime


class ProvenanceRecord(Base):
    __tablename__ = "provenance_records"

    # Random, unguessable: the record's public address is /provenance/<id>.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    ownership_id: Mapped[int | None] = mapped_column(ForeignKey("ownerships.id"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    key_id: Mapped[str] = mapped_column(String(64))
    # The canonical JSON that was signed, byte for byte, and its base64url signature.
    document: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(128))
