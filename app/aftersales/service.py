"""After-sales: owners ask for a service, the brand records the service it did.

Pure service: functions take a session and input, return values or raise DomainErrors; the
caller commits. A service event also moves the item's denormalised ``service_count`` and
``last_service_at`` (which a tap reads as ``service.count`` / ``service.days_since_last``) in one
conditional UPDATE, so concurrent events never lose a count and an older event never moves
``last_service_at`` backwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, literal, or_, select, update
from sqlalchemy.orm import Session

from app.aftersales.models import ServiceEvent, ServiceRequest
from app.catalog.access import NotOwner
from app.catalog.holdings import Holding
from app.catalog.models import Brand, Item, Owner, Ownership, Product
from app.catalog.views import ItemView
from app.core.audit import audit
from app.core.clock import utc
from app.core.errors import Conflict, DomainError, NotFound

# What an owner can ask for, with the label the form shows.
SERVICE_KINDS: dict[str, str] = {
    "repair": "Repair",
    "cleaning": "Cleaning",
    "adjustment": "Adjustment (fit, strap, setting)",
    "other": "Something else",
}
REQUEST_STATUSES = ("open", "done", "cancelled")
MESSAGE_MAX = 2000
EVENT_KIND_MAX = 40
NOTE_MAX = 2000
LOCATION_MAX = 120
# A workshop's clock may run a little ahead of ours; more than this is a typo, not clock skew.
FUTURE_SLACK = timedelta(minutes=5)
# An owner with this many open requests on one item is asked to wait for the workshop: it bounds
# what a scripted browser with a live tap session can write.
MAX_OPEN_REQUESTS = 5


@dataclass(frozen=True)
class ServiceEntry:
    """One line of an item's service history, as owners see it."""

    at: datetime
    kind: str
    note: str | None
    location: str | None


@dataclass(frozen=True)
class RequestRow:
    """A service request as the brand sees it (with the contact address, if verified)."""

    id: int
    reference: str
    gtin: str
    serial: str
    product: str
    brand: str
    created_at: datetime
    kind: str
    message: str
    under_warranty: bool
    status: str
    contact_email: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "reference": self.reference,
            "item": {"gtin": self.gtin, "serial": self.serial, "product": self.product,
                     "brand": self.brand},
            "created_at": self.created_at.isoformat(), "kind": self.kind,
            "message": self.message, "under_warranty": self.under_warranty,
            "status": self.status, "contact_email": self.contact_email,
        }


def reference(request_id: int) -> str:
    """Return the reference number an owner quotes for request ``request_id``."""
    return f"SR-{request_id:06d}"


def parse_moment(text: str) -> datetime:
    """Return the UTC moment written as an ISO date or datetime (``Z`` or an offset allowed).

    A date means its midnight UTC; a datetime without an offset is taken as UTC.

    Raises:
        DomainError: the text is not an ISO date or datetime.
    """
    raw = (text or "").strip()
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(), UTC)
        return utc(datetime.fromisoformat(raw))
    except ValueError:
        raise DomainError(
            f"{raw!r} is not a date or time; write it like 2026-03-14 or 2026-03-14T10:30:00Z."
        ) from None


def warranty_active(item: ItemView, at: datetime) -> bool:
    """Return True when ``item``'s warranty runs at ``at`` (started <= at < ends)."""
    return (item.warranty_started_at is not None and item.warranty_ends_at is not None
            and item.warranty_started_at <= at < item.warranty_ends_at)


def service_history(session: Session, item_id: int) -> list[ServiceEntry]:
    """Return the service events of item ``item_id``, newest first."""
    rows = session.execute(
        select(ServiceEvent.at, ServiceEvent.kind, ServiceEvent.note, ServiceEvent.location)
        .where(ServiceEvent.item_id == item_id)
        .order_by(ServiceEvent.at.desc(), ServiceEvent.id.desc())
    ).all()
    return [ServiceEntry(utc(at), kind, note, location) for at, kind, note, location in rows]


def _owners_open_requests(session: Session, item_id: int, owner_id: int) -> list[ServiceRequest]:
    return list(session.scalars(
        select(ServiceRequest)
        .join(Ownership, ServiceRequest.ownership_id == Ownership.id)
        .where(ServiceRequest.item_id == item_id, ServiceRequest.status == "open",
               Ownership.owner_id == owner_id)
        .order_by(ServiceRequest.created_at.desc(), ServiceRequest.id.desc())
    ))


def request_prefill(
    session: Session, item: ItemView, owner: Owner | None, at: datetime
) -> dict[str, Any]:
    """Return what the service request form shows pre-filled for ``owner`` at ``at``.

    Keys: ``product``, ``gtin``, ``serial``, ``owner_email`` (only a verified address, else
    None), ``warranty_active``, ``warranty_ends_at`` (None without a warranty), ``history``
    (``service_history``), ``open_requests`` (the owner's open requests on this item, as
    ``(reference, kind, created_at)``) and ``kinds`` (``SERVICE_KINDS``).
    """
    email = None
    if owner is not None and owner.erased_at is None and owner.email_verified_at is not None:
        email = owner.email
    open_ = _owners_open_requests(session, item.id, owner.id) if owner is not None else []
    return {
        "product": item.product.name,
        "gtin": item.product.gtin,
        "serial": item.serial,
        "owner_email": email,
        "warranty_active": warranty_active(item, at),
        "warranty_ends_at": item.warranty_ends_at,
        "history": service_history(session, item.id),
        "open_requests": [(reference(r.id), r.kind, utc(r.created_at)) for r in open_],
        "kinds": SERVICE_KINDS,
    }


def _clean_text(value: Any, field: str, maximum: int, *, required: bool) -> str | None:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError(f"{field} must be text.")
    # Browsers send a textarea's line breaks as CRLF but count them as one character.
    text = value.replace("\r\n", "\n").strip()
    if not text:
        if required:
            raise DomainError(f"Please write the {field}.")
        return None
    if len(text) > maximum:
        raise DomainError(f"The {field} is {len(text)} characters long; at most {maximum} fit.")
    return text


def create_request(
    session: Session, item: ItemView, holding: Holding | None, kind: str, message: str,
    at: datetime,
) -> ServiceRequest:
    """Record the current owner's service request on ``item``; return it (flushed, with an id).

    ``under_warranty`` is whether the warranty ran at ``at``. Submitting the same open request
    again (a double tap on the button) returns the first one instead of a copy. Audited without
    the message text.

    Raises:
        DomainError: unknown ``kind``, or a message empty or longer than 2000 characters.
        NotOwner: ``holding`` is None or has ended since the page was opened.
        Conflict: the owner already has ``MAX_OPEN_REQUESTS`` open requests on this item.
    """
    if not isinstance(kind, str) or kind not in SERVICE_KINDS:
        raise DomainError("Please choose what the service is for.")
    text = _clean_text(message, "message", MESSAGE_MAX, required=True)
    if holding is None:
        raise NotOwner()
    at = utc(at)
    # Lock the ownership row (PostgreSQL; SQLite's single writer already serialises): a transfer
    # that ended it since the guard ran wins, and two submissions of one owner queue here.
    current = session.scalar(
        select(Ownership.id)
        .where(Ownership.id == holding.id, Ownership.item_id == item.id,
               Ownership.ended_at.is_(None))
        .with_for_update()
    )
    if current is None:
        raise NotOwner()
    open_ = _owners_open_requests(session, item.id, holding.owner_id)
    for existing in open_:
        if existing.kind == kind and existing.message == text:
            return existing
    if len(open_) >= MAX_OPEN_REQUESTS:
        raise Conflict(
            f"You already have {len(open_)} open service requests for this item. The workshop "
            "will answer them before you can add another."
        )
    under_warranty = warranty_active(item, at)
    row = ServiceRequest(item_id=item.id, ownership_id=holding.id, created_at=at, kind=kind,
                         message=text, under_warranty=under_warranty, status="open")
    session.add(row)
    session.flush()
    audit(session, at, "owner", "service_request", item_id=item.id, owner_id=holding.owner_id,
          request_id=row.id, kind=kind, under_warranty=under_warranty)
    return row


def record_event(
    session: Session,
    item: Item | int,
    kind: str,
    at: datetime,
    note: str | None = None,
    location: str | None = None,
    request_id: int | None = None,
    *,
    now: datetime | None = None,
) -> ServiceEvent:
    """Record service the brand did on ``item`` (an ORM item or its id); return the event.

    Adds one to the item's ``service_count`` and moves ``last_service_at`` to ``at`` unless it
    is already later, in one UPDATE; an open ``request_id`` is marked done. Audited (actor
    ``admin``, without the note). ``now`` is the recording moment (default: the clock).

    Raises:
        DomainError: ``kind`` empty or over 40 characters, note or location too long, ``at``
            more than a few minutes after ``now``, ``request_id`` unknown, for another item
            or cancelled.
        NotFound: no such item.
    """
    now = utc(now or datetime.now(UTC))
    kind_text = _clean_text(kind, "kind of service", EVENT_KIND_MAX, required=True)
    assert kind_text is not None
    if not kind_text.isprintable():
        raise DomainError("The kind of service must be plain text on one line.")
    note_text = _clean_text(note, "note", NOTE_MAX, required=False)
    location_text = _clean_text(location, "location", LOCATION_MAX, required=False)
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
    session.execute(
        update(Item)
        .where(Item.id == item_id)
        .values(
            service_count=Item.service_count + 1,
            last_service_at=case(
                (or_(Item.last_service_at.is_(None), Item.last_service_at < moment), moment),
                else_=Item.last_service_at,
            ),
        ),
        execution_options={"synchronize_session": False},
    )
    # The UPDATE bypassed the identity map: the loaded item must not keep the old figures.
    session.expire(target, ["service_count", "last_service_at"])
    if request_id is not None:
        session.execute(
            update(ServiceRequest)
            .where(ServiceRequest.id == request_id, ServiceRequest.status == "open")
            .values(status="done"),
            execution_options={"synchronize_session": False},
        )
        linked = session.get(ServiceRequest, request_id)
        if linked is not None:
            session.expire(linked, ["status"])
    audit(session, now, "admin", "service_event", item_id=item_id, event_id=event.id,
          kind=kind_text, request_id=request_id)
    return event


def list_requests(
    session: Session, status: str | None = "open", brand_slug: str | None = None,
    item_id: int | None = None,
) -> list[RequestRow]:
    """Return service requests, oldest first: with ``status`` (None: all), of one brand or item.

    Raises:
        DomainError: ``status`` is not open, done or cancelled.
        NotFound: no brand ``brand_slug``.
    """
    if status is not None and status not in REQUEST_STATUSES:
        raise DomainError(f"Status must be one of {', '.join(REQUEST_STATUSES)} (or all).")
    stmt = (
        select(ServiceRequest, Product.gtin, Item.serial, Product.name, Brand.slug,
               Owner.email, Owner.email_verified_at, Owner.erased_at)
        .join(Item, ServiceRequest.item_id == Item.id)
        .join(Product, Item.product_id == Product.id)
        .join(Brand, Product.brand_id == Brand.id)
        .join(Ownership, ServiceRequest.ownership_id == Ownership.id)
        .join(Owner, Ownership.owner_id == Owner.id)
        .order_by(ServiceRequest.created_at, ServiceRequest.id)
    )
    if status is not None:
        stmt = stmt.where(ServiceRequest.status == status)
    if brand_slug is not None:
        if session.scalar(select(Brand.id).where(Brand.slug == brand_slug)) is None:
            raise NotFound(f"No brand {brand_slug!r}.")
        stmt = stmt.where(Brand.slug == brand_slug)
    if item_id is not None:
        stmt = stmt.where(ServiceRequest.item_id == item_id)
    rows = []
    for req, gtin, serial, product, brand, email, verified_at, erased_at in session.execute(stmt):
        contact = email if verified_at is not None and erased_at is None else None
        rows.append(RequestRow(req.id, reference(req.id), gtin, serial, product, brand,
                               utc(req.created_at), req.kind, req.message,
                               bool(req.under_warranty), req.status, contact))
    return rows


def open_requests(session: Session, brand_slug: str | None = None) -> list[RequestRow]:
    """Return the open service requests (of brand ``brand_slug``, if given), oldest first.

    Raises:
        NotFound: no brand ``brand_slug``.
    """
    return list_requests(session, "open", brand_slug)


def item_events(session: Session, item_id: int) -> list[ServiceEvent]:
    """Return item ``item_id``'s service events as rows (with ids and request ids), newest first."""
    return list(session.scalars(
        select(ServiceEvent).where(ServiceEvent.item_id == item_id)
        .order_by(ServiceEvent.at.desc(), ServiceEvent.id.desc())
    ))


def event_json(event: ServiceEvent) -> dict[str, Any]:
    """Return ``event`` as JSON-ready data."""
    return {"id": event.id, "at": utc(event.at).isoformat(), "kind": event.kind,
            "note": event.note, "location": event.location, "request_id": event.request_id}

