"""After-sales' share of what is held about an owner: their service requests and feedback.

Registered with ``app.core.privacy`` by ``app.aftersales.init_app``. Service events are the
brand's records about an item and name no owner, so they are not part of it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import ScalarSelect

from app.aftersales.models import ServiceFeedback, ServiceRequest
from app.catalog.models import Ownership
from app.core.db import update_rows
from app.core.privacy import Contributor

# What an erased request's message becomes; its kind, dates and status stay for the workshop.
ERASED_MESSAGE = "(erased)"


def _owners_ownerships(owner_id: int) -> ScalarSelect[int]:
    return select(Ownership.id).where(Ownership.owner_id == owner_id).scalar_subquery()


def _export(session: Session, owner_id: int) -> dict[str, Any]:
    rows = session.execute(
        select(ServiceRequest.kind, ServiceRequest.message, ServiceRequest.created_at,
               ServiceRequest.status)
        .where(ServiceRequest.ownership_id.in_(_owners_ownerships(owner_id)))
        .order_by(ServiceRequest.created_at, ServiceRequest.id)
    ).all()
    feedback = session.execute(
        select(ServiceFeedback.rating, ServiceFeedback.text, ServiceFeedback.created_at)
        .where(ServiceFeedback.ownership_id.in_(_owners_ownerships(owner_id)))
        .order_by(ServiceFeedback.created_at, ServiceFeedback.id)
    ).all()
    return {"service_requests": [
        {"kind": row.kind, "message": row.message, "created_at": row.created_at.isoformat(),
         "status": row.status}
        for row in rows
    ], "service_feedback": [
        {"rating": row.rating, "text": row.text, "created_at": row.created_at.isoformat()}
        for row in feedback
    ]}


def _erase(session: Session, owner_id: int, at: datetime) -> None:
    # The message is free text an owner wrote (it may hold a phone number); the rest is not.
    update_rows(
        session,
        update(ServiceRequest)
        .where(ServiceRequest.ownership_id.in_(_owners_ownerships(owner_id)))
        .values(message=ERASED_MESSAGE),
    )
    # Feedback text is theirs too; the rating stays, as a review's does.
    update_rows(
        session,
        update(ServiceFeedback)
        .where(ServiceFeedback.ownership_id.in_(_owners_ownerships(owner_id)))
        .values(text=ERASED_MESSAGE),
    )


PRIVACY = Contributor(
    name="aftersales",
    tables=("service_requests", "service_feedback"),
    export=_export,
    erase=_erase,
)
"""The owner's service requests and feedback, of every item they held: exported, and their
texts erased."""
