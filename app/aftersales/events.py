"""Service events: the work the brand did on an item, and the item's service history.

Pure service: functions take a session and input, return values or raise DomainErrors; the
caller commits. A service event also moves the item's denormalised ``service_count`` and
``last_service_at`` (which a tap reads as ``service.count`` / ``service.days_since_last``) in one
conditional UPDATE, so concurrent events never lose a count and an older event never moves
``last_service_at`` backwards. Recording one sends ``app.core.signals.service_recorded`` in the
caller's transaction (loyalty points for the item's owner are earned that way).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, literal, or_, select, update
from sqlalchemy.orm import Session

from app.aftersales.inputs import clean_text
from app.aftersales.models import ServiceEvent, ServiceRequest
from app.catalog.models import Item
from app.core import clock
from app.core.audit import audit
from app.core.clock import utc
from app.core.db import update_rows
from app.core.errors import DomainError, NotFound
from app.core.signals import service_recorded

EVENT_KIND_MAX = 40
NOTE_MAX = 2000
LOCATION_MAX = 120
# A workshop's clock may run a little ahead of ours; more than this is a typo, not clock skew.
FUTURE_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class ServiceEntry:
    """One line of an item's service history, as owners see it."""

    at: datetime
    kind: str
    note: str | None
    location: str | None


def service_history(session: Session, item_id: int) -> list[ServiceEntry]:
    """Return the service events of item ``item_id``, newest first."""
    rows = session.execute(
        select(ServiceEvent.at, ServiceEvent.kind, ServiceEvent.note, ServiceEvent.location)
        .where(ServiceEvent.item_id == item_id)
        .order_by(ServiceEvent.at.desc(), ServiceEvent.id.desc())
    ).all()
    return [ServiceEntry(row.at, row.kind, row.note, row.location) for row in rows]


def record_event(
    session: Session,
    item: Item | int,
    kind: str,
    at: datetime,
    note: str | None = None,
    location: str | None = None,
    request_id: int | None = None,
    *,
    settings: Mapping[str, Any],
    now: datetime | None = None,
    actor: str = "admin",
) -> ServiceEvent:
    """Record service the brand did on ``item`` (an ORM item or its id); return the event.

    Adds one to the item's ``service_count`` and moves ``last_service_at`` to ``at`` unless it
    is already later, in one UPDATE; an open ``request_id`` is marked done. Audited (``actor``:
    ``staff:<id>``, ``token:<id>``, ``admin``...; without the note). ``now`` is the recording
    moment (default: the clock). Then sends ``service_recorded`` with ``settings`` (the app's
    settings), in this transaction.

    Raises:
        DomainError: ``kind`` empty or over 40 characters, note or location too long, ``at``
            more than a few minutes after ``now``, ``request_id`` unknown, for another item
            or cancelled.
        NotFound: no such item.
    """
    now = utc(now or clock.now())
    kind_text = clean_text(kind, "kind of service", EVENT_KIND_MAX, required=True)
    assert kind_text is not None
    if not kind_text.isprintable():
        raise DomainError("The kind of service must be plain text on one line.")
    note_text = clean_text(note, "note", NOTE_MAX, required=False)
    location_text = clean_text(location, "location", LOCATION_MAX, required=False)
    if not isinstance(at, datetime):
        raise DomainError("The service time must be a date and time.")
    at = utc(at)
    if at > now + FUTURE_SLACK:
        raise DomainError(f"The service time {at.isoformat()} is in the future.")
    if isinstance(item, Item):
        target: Item | None = item
    elif isinstance(item, int) and not isinstance(item, bool):
        target = session.get(Item, item)
    else:
        target = None
    if target is None:
        raise NotFound("No such item is registered.")
    item_id = target.id
    if request_id is not None:
        if isinstance(request_id, bool) or not isinstance(request_id, int):
            raise DomainError("The request id must be a number.")
        linked = session.get(ServiceRequest, request_id)
        if linked is None:
            raise DomainError(f"There is no service request #{request_id}.")
        if linked.item_id != item_id:
            raise DomainError(f"Service request #{request_id} is for another item.")
        if linked.status == "cancelled":
            raise DomainError(f"Service request #{request_id} was cancelled.")

    event = ServiceEvent(item_id=item_id, at=at, kind=kind_text, note=note_text,
                         location=location_text, request_id=request_id)
    session.add(event)
    session.flush()
    # One statement, evaluated on the row as it is when the row lock is held: concurrent events
    # each add one, and the later moment wins whatever order they were recorded in.
    moment = literal(at, Item.last_service_at.type)
    update_rows(
        session,
        update(Item)
        .where(Item.id == item_id)
        .values(
            service_count=Item.service_count + 1,
            last_service_at=case(
                (or_(Item.last_service_at.is_(None), Item.last_service_at < moment), moment),
                else_=Item.last_service_at,
            ),
        ),
    )
    # The UPDATE bypassed the identity map: the loaded item must not keep the old figures.
    session.expire(target, ["service_count", "last_service_at"])
    if request_id is not None:
        update_rows(
            session,
            update(ServiceRequest)
            .where(ServiceRequest.id == request_id, ServiceRequest.status == "open")
            .values(status="done"),
        )
        linked = session.get(ServiceRequest, request_id)
        if linked is not None:
            session.expire(linked, ["status"])
    audit(session, now, actor, "service_event", item_id=item_id, event_id=event.id,
          kind=kind_text, request_id=request_id)
    # Sent here rather than by each caller (API, CLI), so no way of recording can forget it.
    service_recorded.send(session, settings=settings, item_id=item_id, event_id=event.id, at=now)
    return event


def item_events(session: Session, item_id: int) -> list[ServiceEvent]:
    """Return item ``item_id``'s service events as rows (with ids and request ids), newest first."""
    return list(session.scalars(
        select(ServiceEvent).where(ServiceEvent.item_id == item_id)
        .order_by(ServiceEvent.at.desc(), ServiceEvent.id.desc())
    ))


def event_json(event: ServiceEvent) -> dict[str, Any]:
    """Return ``event`` as JSON-ready data."""
    return {"id": event.id, "at": event.at.isoformat(), "kind": event.kind,
            "note": event.note, "location": event.location, "request_id": event.request_id}
