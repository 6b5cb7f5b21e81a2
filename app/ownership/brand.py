"""The brand's side of ownership: sales, theft, reassignment and take-back, each audited."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.catalog.holdings import current_holding
from app.catalog.models import Item, Owner, Ownership
from app.core.audit import audit
from app.core.db import update_rows
from app.core.errors import Conflict, DomainError
from app.ownership.models import TransferOffer
from app.ownership.owners import OwnerLike, create_owner, insert_ownership, next_ordinal
from app.ownership.transfers import cancel_offers

BRAND = "brand"
TAKE_BACK = "take_back"


def release(session: Session, item: Item, at: datetime, *, actor: str, source: str) -> bool:
    """Mark ``item`` sold (e.g. a POS sale); return False if it already was. Audited."""
    if item.released is True:
        return False
    item.released = True
    audit(session, at, actor, "release", item_id=item.id, source=source)
    return True


def set_stolen(session: Session, item: Item, stolen: bool, at: datetime, *, actor: str,
               reason: str) -> None:
    """Flag or clear ``item`` as stolen; open transfer offers are withdrawn when flagged."""
    item.stolen_at = at if stolen else None
    if stolen:
        update_rows(
            session,
            update(TransferOffer)
            .where(TransferOffer.item_id == item.id, TransferOffer.accepted_at.is_(None),
                   TransferOffer.cancelled_at.is_(None))
            .values(cancelled_at=at),
        )
    audit(session, at, actor, "stolen" if stolen else "recovered", item_id=item.id,
          reason=reason[:200])


def reassign(
    session: Session, item: Item, to: Owner | None, at: datetime, *, actor: str, reason: str
) -> tuple[OwnerLike, int]:
    """The brand moves ``item`` to owner ``to`` (a new owner when None), audited with ``reason``.

    Returns:
        ``(owner, ordinal)`` of the new ownership.
    Raises:
        DomainError: no reason was given.
        Conflict: ``to`` already owns it, or the item changed hands meanwhile.
    """
    if not reason.strip():
        raise DomainError("Say why the item is reassigned; the reason is kept in the audit log.")
    holding = current_holding(session, item.id)
    if to is not None and holding is not None and holding.owner_id == to.id:
        raise Conflict("That owner already owns this item.")
    if holding is not None:
        update_rows(
            session,
            update(Ownership).where(Ownership.id == holding.id, Ownership.ended_at.is_(None))
            .values(ended_at=at, ended_by=BRAND),
        )
    new_owner = to or create_owner(session, at)
    ordinal = next_ordinal(session, item.id)
    if insert_ownership(session, item_id=item.id, owner_id=new_owner.id, ordinal=ordinal,
                        began_by=BRAND, started_at=at) is None:
        raise Conflict("The item changed hands meanwhile; try again.")
    audit(session, at, actor, "reassign", item_id=item.id, owner_id=new_owner.id,
          ordinal=ordinal, previous_ordinal=holding.ordinal if holding else None,
          reason=reason.strip()[:200])
    return new_owner, ordinal


def take_back(session: Session, item: Item, at: datetime, *, actor: str, reason: str) -> int:
    """The brand takes the item back (recycling, buy-back): the current ownership ends.

    Returns:
        The id of the owner who gave it back (they may earn take-back points).
    Raises:
        Conflict: nobody owns the item.
    """
    holding = current_holding(session, item.id)
    if holding is None:
        raise Conflict("Nobody owns this item, so there is nothing to take back.")
    update_rows(
        session,
        update(Ownership).where(Ownership.id == holding.id, Ownership.ended_at.is_(None))
        .values(ended_at=at, ended_by=TAKE_BACK),
    )
    cancel_offers(session, holding.id, at)
    audit(session, at, actor, "take_back", item_id=item.id, owner_id=holding.owner_id,
          ordinal=holding.ordinal, reason=reason.strip()[:200])
    return holding.owner_id
