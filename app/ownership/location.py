"""Where a tap happened, only when the person chose to share it, and never finer than ~11 km."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.core.db import update_rows
from app.core.errors import N_, DomainError
from app.verify.models import TapEvent


def round_location(latitude: float, longitude: float) -> tuple[float, float]:
    """Return the position rounded to 0.1 degree (about 11 km), the finest ever stored.

    Raises:
        DomainError: not a position on Earth.
    """
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise DomainError(N_("That is not a position on Earth."))
    return round(latitude, 1), round(longitude, 1)


def record_location(
    session: Session, tap_event_id: int, item_id: int, latitude: float, longitude: float
) -> None:
    """Attach the rounded position the person agreed to share to their tap's event.

    Raises:
        DomainError: not a position on Earth; nothing is stored.
    """
    lat, lon = round_location(latitude, longitude)
    update_rows(
        session,
        update(TapEvent)
        .where(TapEvent.id == tap_event_id, TapEvent.item_id == item_id)
        .values(latitude=lat, longitude=lon),
    )
