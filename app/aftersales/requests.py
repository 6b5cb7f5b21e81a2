"""Service requests: the current owner asks for a service, the brand lists what was asked.

Pure service: functions take a session and input, return values or raise DomainErrors; the
caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.aftersales.events import service_history
from app.aftersales.inputs import clean_text
from app.aftersales.models import ServiceRequest
from app.catalog.access import NotOwner
from app.catalog.holdings import Holding
from app.catalog.models import Brand, Item, Owner, Ownership, Product
from app.catalog.views import ItemView
from app.core.audit import audit
from app.core.clock import utc
from app.core.errors import N_, Conflict, DomainError, NotFound

# What an owner can ask for, with the label the form shows (``N_``: pages translate it).
SERVICE_KINDS: dict[str, str] = {
    "repair": N_("Repair"),
    "cleaning": N_("Cleaning"),
    "adjustment": N_("Adjustment (fit, strap, setting)"),
    "other": N_("Something else"),
}
REQUEST_STATUSES = ("open", "done", "cancelled")
MESSAGE_MAX = 2000
# An owner with this many open requests on one item is asked to wait for the workshop: it bounds
# what a scripted browser with a live tap session can write.
MAX_OPEN_REQUESTS = 5


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
        """Return the row as JSON-ready data (the item nested under ``item``)."""
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


def warranty_active(item: ItemView, at: datetime) -> bool:
    """Return True when ``item``'s warranty runs at ``at`` (started <= at < ends)."""
    return (item.warranty_started_at is not None and item.warranty_ends_at is not None
            and item.warranty_started_at <= at < item.warranty_ends_at)


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
        "open_requests": [(reference(r.id), r.kind, r.created_at) for r in open_],
        "kinds": SERVICE_KINDS,
    }


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
        raise DomainError(N_("Please choose what the service is for."))
    text = clean_text(message, "message", MESSAGE_MAX, required=True)
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
        # MAX_OPEN_REQUESTS is above 1: the sentence is always plural.
        raise Conflict(
            N_("You already have %(num)s open service requests for this item. The workshop "
               "will answer them before you can add another."), num=len(open_))
    under_warranty = warranty_active(item, at)
    row = ServiceRequest(item_id=item.id, ownership_id=holding.id, created_at=at, kind=kind,
                         message=text, under_warranty=under_warranty, status="open")
    session.add(row)
    session.flush()
    audit(session, at, "owner", "service_request", item_id=item.id, owner_id=holding.owner_id,
          request_id=row.id, kind=kind, under_warranty=under_warranty)
    return row


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
        select(ServiceRequest, Product.gtin, Item.serial, Product.name.label("product"),
               Brand.slug.label("brand"), Owner.email, Owner.email_verified_at,
               Owner.erased_at)
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
    for row in session.execute(stmt):
        req = row.ServiceRequest
        contact = (row.email if row.email_verified_at is not None and row.erased_at is None
                   else None)
        rows.append(RequestRow(req.id, reference(req.id), row.gtin, row.serial, row.product,
                               row.brand, req.created_at, req.kind, req.message,
                               bool(req.under_warranty), req.status, contact))
    return rows


def open_requests(session: Session, brand_slug: str | None = None) -> list[RequestRow]:
    """Return the open service requests (of brand ``brand_slug``, if given), oldest first.

    Raises:
        NotFound: no brand ``brand_slug``.
    """
    return list_requests(session, "open", brand_slug)
