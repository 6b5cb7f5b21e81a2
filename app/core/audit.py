"""The audit log: who changed state that matters (ownership, stolen flags, codes), when and why.

Entries hold ids and reasons, never personal data, so erasing an owner leaves the log intact.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.core.db import Base, UTCDateTime
from app.core.privacy import Contributor


class AuditEntry(Base):
    """Who changed ownership-relevant state, when and why. Holds ids, never personal data."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(32))  # admin | owner | system | ruleset
    action: Mapped[str] = mapped_column(String(40))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


_INSERT_AUDIT = insert(AuditEntry)


def audit(
    session: Session,
    at: datetime,
    actor: str,
    action: str,
    *,
    item_id: int | None = None,
    owner_id: int | None = None,
    **detail: Any,
) -> None:
    """Append an audit entry. ``detail`` must hold ids and reasons, never personal data."""
    # A Core insert: written at once and in order, with no ORM flush on the tap path.
    session.connection().execute(
        _INSERT_AUDIT,
        {"at": at, "actor": actor, "action": action, "item_id": item_id, "owner_id": owner_id,
         "detail": detail},
    )


def audit_trail(session: Session, item_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """Return the item's audit entries, oldest first, as JSON-ready data."""
    rows = session.scalars(
        select(AuditEntry).where(AuditEntry.item_id == item_id).order_by(AuditEntry.id)
        .limit(limit)
    )
    return [{"at": r.at.isoformat(), "actor": r.actor, "action": r.action,
             "detail": r.detail} for r in rows]


def _export(session: Session, owner_id: int) -> dict[str, Any]:
    rows = session.scalars(
        select(AuditEntry).where(AuditEntry.owner_id == owner_id).order_by(AuditEntry.id)
    )
    return {"audit": [{"at": r.at.isoformat(), "actor": r.actor, "action": r.action,
                       "detail": r.detail} for r in rows]}


PRIVACY = Contributor(
    name="audit",
    tables=("audit_log",),
    export=_export,
    erase=None,
    reason="entries hold ids and reasons, never personal data, and are the record of who "
           "changed what (the erasure itself is one of them)",
)
"""The audit log's share of an owner's export (registered by the app factory)."""
