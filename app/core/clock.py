"""Time: every moment in Aftertap is an aware UTC ``datetime``."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(moment: datetime) -> datetime:
    """Return ``moment`` in UTC; a naive value is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def now() -> datetime:
    """Return the current moment, aware, in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """Return ``moment`` as ISO 8601 text for JSON, or None for no moment."""
    return moment.isoformat() if moment is not None else None
