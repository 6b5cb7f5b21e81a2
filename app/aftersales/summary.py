"""The item's service summary that a provenance record carries (its ``service`` section).

Connected to ``app.core.signals.provenance_sections`` by ``app.aftersales.init_app``: the
provenance package builds its signed document from what listeners return and never reads the
after-sales tables itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.aftersales.models import ServiceEvent
from app.catalog.views import ItemView
from app.core.clock import utc


def service_summary(session: Session, item: ItemView) -> dict[str, Any]:
    """Return ``{"count", "last", "kinds"}`` for ``item`` from the service log and item counters.

    ``count`` is a number, ``last`` the UTC date (ISO text) of the latest service or None,
    ``kinds`` the sorted distinct kinds of service. Notes and locations are left out (free text
    may name people).
    """
    rows = session.execute(
        select(ServiceEvent.kind, ServiceEvent.at).where(ServiceEvent.item_id == item.id)
    ).all()
    kinds = sorted({row.kind for row in rows if row.kind})
    moments: list[datetime] = [row.at for row in rows if row.at is not None]
    if item.last_service_at is not None:
        # A view may be built from an ORM item whose moment was set in Python, not read back.
        moments.append(utc(item.last_service_at))
    # The item counters and the log move together; taking the larger never understates work the
    # brand recorded only one way (e.g. counts imported without a log).
    return {
        "count": max(int(item.service_count or 0), len(rows)),
        "last": max(moments).date().isoformat() if moments else None,
        "kinds": kinds,
    }


def provenance_section(session: Session, *, item: ItemView, **_: object) -> dict[str, Any]:
    """Listener of ``provenance_sections``: return ``{"service": service_summary(...)}``."""
    return {"service": service_summary(session, item)}
