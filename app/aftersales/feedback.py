"""Service feedback: the owner's word on a service the brand did on their item.

Pure service: functions take a session and input, return values or raise DomainErrors; the
caller commits. Recording feedback sends ``app.core.signals.service_feedback_recorded`` in the
caller's transaction (a reward that ``requires: service_feedback`` is unlocked that way).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.aftersales.inputs import clean_text
from app.aftersales.models import ServiceEvent, ServiceFeedback
from app.catalog.holdings import Holding
from app.core.clock import utc
from app.core.errors import N_, Conflict, NotFound
from app.core.ratings import star_rating
from app.core.signals import service_feedback_recorded

FEEDBACK_MAX = 2000


def feedback_event(
    session: Session, holding: Holding, item_id: int, event_id: int
) -> ServiceEvent:
    """Return service event ``event_id`` of item ``item_id`` if the holder of ``holding`` (the
    item's current ownership) may give feedback on it.

    Raises:
        NotFound: no such event on this item, or it was done before this ownership began (the
            previous owner's service).
    """
    event = session.get(ServiceEvent, event_id)
    if (event is None or event.item_id != item_id
            or utc(event.at) < utc(holding.started_at)):
        raise NotFound(N_("There is no such service on your item."))
    return event


def has_feedback(session: Session, holding: Holding, event_id: int) -> bool:
    """Return whether this ownership already gave feedback on service event ``event_id``."""
    return session.scalar(select(ServiceFeedback.id).where(
        ServiceFeedback.event_id == event_id, ServiceFeedback.ownership_id == holding.id,
    )) is not None


def record_feedback(
    session: Session,
    settings: Mapping[str, Any],
    holding: Holding,
    item_id: int,
    event_id: int,
    rating: str | int | None,
    text: object,
    at: datetime,
) -> ServiceFeedback:
    """Store the feedback of ``holding``'s owner on service event ``event_id`` of their item
    ``item_id``; return it.

    Then sends ``service_feedback_recorded`` with ``settings``, in this transaction.

    Raises:
        NotFound: as ``feedback_event``.
        DomainError: the rating is not 1 to 5, or the text is empty or too long.
        Conflict: this ownership already gave feedback on that service.
    """
    event = feedback_event(session, holding, item_id, event_id)
    stars = star_rating(rating)
    body = clean_text(text, "feedback", FEEDBACK_MAX, required=True)
    assert body is not None
    at = utc(at)
    try:
        with session.begin_nested():
            row = ServiceFeedback(event_id=event.id, ownership_id=holding.id, rating=stars,
                                  text=body, created_at=at)
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(N_("You have already told us about this service. Thank you!")) from exc
    service_feedback_recorded.send(session, settings=settings, owner_id=holding.owner_id,
                                   item_id=item_id, feedback_id=row.id, at=at)
    return row
