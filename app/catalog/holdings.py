"""Who holds an item now, and which owner a credential or an email address names.

Every domain asks these questions (a service request, a provenance record, a reward needs the
current owner), so they are answered here, below the domains. Only ``app.ownership`` changes
holdings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from app.catalog.models import Owner, Ownership
from app.core.errors import Conflict, NotFound
from app.core.mail import normalize_email


@dataclass(frozen=True)
class Holding:
    """The item's current ownership, as a tap reads it."""

    id: int
    owner_id: int
    ordinal: int
    began_by: str
    started_at: datetime
    owner_taps: int
    email_opt_in: bool
    month_streak: int = 0
    # A first-tap claim whose browser has not come back yet (``ownerships.confirmed_at`` NULL).
    provisional: bool = False


_CURRENT_FOR_ITEM = (
    select(
        Ownership.id, Ownership.owner_id, Ownership.ordinal, Ownership.began_by,
        Ownership.started_at, Ownership.owner_taps, Owner.email_opt_in, Owner.email_verified_at,
        Ownership.month_streak, Ownership.confirmed_at,
    )
    .join(Owner, Ownership.owner_id == Owner.id)
    .where(Ownership.ended_at.is_(None), Ownership.item_id == bindparam("item_id"))
)


def current_holding(session: Session, item_id: int) -> Holding | None:
    """Return the item's current ownership, or None when nobody owns it."""
    # A Core statement on the connection: this runs on every genuine tap, and the ORM's
    # per-statement bookkeeping would cost more than the indexed lookup itself.
    row = session.connection().execute(_CURRENT_FOR_ITEM, {"item_id": item_id}).first()
    if row is None:
        return None
    return Holding(
        id=row.id, owner_id=row.owner_id, ordinal=row.ordinal, began_by=row.began_by,
        started_at=row.started_at, owner_taps=row.owner_taps,
        # Messages need consent on a confirmed address, not the box ticked alone.
        email_opt_in=bool(row.email_opt_in) and row.email_verified_at is not None,
        month_streak=row.month_streak,
        provisional=row.confirmed_at is None,
    )


@dataclass(frozen=True)
class Viewer:
    """The owner a browser's cookie names, as the tap needs it: read without the ORM."""

    id: int
    public_id: str
    email_opt_in: bool
    email_verified_at: datetime | None


_VIEWER = select(
    Owner.id, Owner.public_id, Owner.email_opt_in, Owner.email_verified_at
).where(Owner.public_id == bindparam("public_id"), Owner.erased_at.is_(None))


def find_viewer(session: Session, public_id: str | None) -> Viewer | None:
    """Return the (not erased) owner whose cookie credential is ``public_id``, or None.

    The tap's form of ``find_owner``: a prebuilt Core statement into a frozen view, about a
    quarter of the ORM's cost on every tap from a phone that owns something."""
    if not public_id:
        return None
    row = session.connection().execute(_VIEWER, {"public_id": public_id}).first()
    if row is None:
        return None
    return Viewer(row.id, row.public_id, bool(row.email_opt_in), row.email_verified_at)


def find_owner(session: Session, public_id: str | None) -> Owner | None:
    """Return the (not erased) owner whose cookie credential is ``public_id``, or None."""
    if not public_id:
        return None
    return session.scalar(
        select(Owner).where(Owner.public_id == public_id, Owner.erased_at.is_(None))
    )


def find_owners_by_email(session: Session, email: str) -> list[Owner]:
    """Return every (not erased) owner with verified ``email``, ordered by id.

    Two phones can confirm the same address, so a privacy request by email must reach all of
    them, not whichever one a query happened to return first.

    Raises:
        DomainError: ``email`` is not an email address.
        NotFound: no owner has that verified address.
    """
    owners = list(session.scalars(
        select(Owner).where(func.lower(Owner.email) == normalize_email(email).lower(),
                            Owner.email_verified_at.is_not(None), Owner.erased_at.is_(None))
        .order_by(Owner.id)
    ))
    if not owners:
        raise NotFound("No owner has that verified email address.")
    return owners


def find_one_owner_by_email(session: Session, email: str) -> Owner:
    """Return the one (not erased) owner with verified ``email`` (a reassignment's recipient).

    Raises:
        DomainError: ``email`` is not an email address.
        NotFound: no owner has that verified address.
        Conflict: several owners confirmed that address, so it names nobody in particular.
    """
    owners = find_owners_by_email(session, email)
    # Handing an item to whichever owner came first would be a guess; the brand must choose.
    if len(owners) > 1:
        raise Conflict(f"{len(owners)} owners confirmed that email address, so it names no "
                       "single owner.")
    return owners[0]
