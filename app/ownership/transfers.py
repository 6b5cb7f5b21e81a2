"""Resale: the seller's single-use, expiring offer and the buyer's acceptance, item in hand.

The offer is taken with one conditional UPDATE and the seller's ownership ended with another, so
of any number of buyers racing for one offer exactly one wins; the losers change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.catalog.access import NotOwner
from app.catalog.holdings import current_holding
from app.catalog.models import Item, Owner, Ownership
from app.catalog.views import ItemView
from app.core.audit import audit
from app.core.db import update_rows
from app.core.errors import N_, Conflict, Gone, NotFound
from app.ownership.models import TransferOffer
from app.ownership.owners import (
    OwnerLike,
    create_owner,
    insert_ownership,
    new_token,
    next_ordinal,
    token_digest,
)

TRANSFER = "transfer"


def create_offer(
    session: Session, settings: Mapping[str, Any], item: ItemView, owner: OwnerLike, at: datetime
) -> tuple[str, TransferOffer]:
    """Create a single-use transfer offer from ``owner``; earlier open offers are cancelled.

    Returns:
        ``(token, offer)``: the token goes to the buyer; only its hash is stored.
    Raises:
        NotOwner: ``owner`` is not the current owner.
        Conflict: the item is reported stolen.
    """
    holding = current_holding(session, item.id)
    if holding is None or holding.owner_id != owner.id:
        raise NotOwner()
    if _is_stolen(session, item.id):
        raise Conflict(N_("This item is reported stolen, so it cannot change hands."))
    cancel_offers(session, holding.id, at)
    token, digest = new_token()
    hours = float(settings.get("TRANSFER_OFFER_HOURS", 72))
    offer = TransferOffer(token_hash=digest, item_id=item.id, ownership_id=holding.id,
                          created_at=at, expires_at=at + timedelta(hours=hours))
    session.add(offer)
    session.flush()
    audit(session, at, "owner", "transfer_offer", item_id=item.id, owner_id=owner.id,
          offer_id=offer.id)
    return token, offer


def _is_stolen(session: Session, item_id: int) -> bool:
    return session.scalar(select(Item.stolen_at).where(Item.id == item_id)) is not None


def open_offer(session: Session, ownership_id: int) -> TransferOffer | None:
    """Return the ownership's open (not accepted, not withdrawn) offer, if any."""
    return session.scalar(
        select(TransferOffer)
        .where(TransferOffer.ownership_id == ownership_id, TransferOffer.accepted_at.is_(None),
               TransferOffer.cancelled_at.is_(None))
        .order_by(TransferOffer.id.desc())
        .limit(1)
    )


def cancel_offers(session: Session, ownership_id: int, at: datetime) -> int:
    """Withdraw the ownership's open offers; return how many."""
    return update_rows(
        session,
        update(TransferOffer)
        .where(TransferOffer.ownership_id == ownership_id, TransferOffer.accepted_at.is_(None),
               TransferOffer.cancelled_at.is_(None))
        .values(cancelled_at=at),
    )


def purge_expired_offers(session: Session, before: datetime) -> int:
    """Delete the offers never accepted that expired before ``before``; return how many.

    Such an offer can no longer be accepted, so deleting it takes nothing from anyone; it only
    drops a token hash kept for nothing. Accepted offers stay: they record a change of hands.
    ``before`` lags the clock (see ``EXPIRED_LINKS_KEEP_DAYS``) so a recent link still says
    "expired" rather than "not valid". The caller commits.
    """
    return update_rows(session, delete(TransferOffer).where(
        TransferOffer.accepted_at.is_(None), TransferOffer.expires_at < before))


def offer_item(session: Session, offer: TransferOffer) -> Item:
    """Return the item an offer is for."""
    return session.get_one(Item, offer.item_id)


def find_offer(session: Session, token: str, at: datetime) -> TransferOffer:
    """Return the open offer for ``token``.

    Raises:
        NotFound: no such offer.
        Conflict: it was already used (accepted) or withdrawn.
        Gone: it has expired.
    """
    offer = session.scalar(
        select(TransferOffer).where(TransferOffer.token_hash == token_digest(token))
    )
    if offer is None:
        raise NotFound(N_("This transfer link is not valid. Ask the seller for a new one."))
    if offer.accepted_at is not None:
        raise Conflict(N_("This transfer link has already been used."))
    if offer.cancelled_at is not None:
        raise Conflict(N_("The seller withdrew this transfer link. Ask them for a new one."))
    if offer.expires_at <= at:
        raise Gone(N_("This transfer link has expired. Ask the seller for a new one."))
    return offer


def accept_offer(
    session: Session, token: str, item: ItemView, buyer: Owner | None, at: datetime
) -> tuple[OwnerLike, int]:
    """The buyer, holding the item (a live tap of ``item``), accepts the offer in ``token``.

    The offer is taken with one conditional UPDATE, and the seller's ownership ended with
    another, so of two buyers racing exactly one wins; the loser's transaction changes nothing.

    Returns:
        ``(buyer, new_ordinal)``.
    Raises:
        NotFound, Conflict, Gone: the offer is unknown, used, withdrawn, expired, for another
            item, or the item changed hands since it was made.
        Conflict: the item is reported stolen, or the buyer already owns it.
    """
    offer = find_offer(session, token, at)
    if offer.item_id != item.id:
        raise Conflict(N_("This transfer link is for a different item than the one you tapped."))
    if _is_stolen(session, item.id):
        raise Conflict(N_("This item is reported stolen, so it cannot change hands."))
    holding = current_holding(session, item.id)
    if buyer is not None and holding is not None and holding.owner_id == buyer.id:
        raise Conflict(N_("You already own this item."))
    taken = update_rows(
        session,
        update(TransferOffer)
        .where(TransferOffer.id == offer.id, TransferOffer.accepted_at.is_(None),
               TransferOffer.cancelled_at.is_(None), TransferOffer.expires_at > at)
        .values(accepted_at=at),
    )
    if not taken:
        raise Conflict(N_("This transfer link has already been used."))
    ended = update_rows(
        session,
        update(Ownership)
        .where(Ownership.id == offer.ownership_id, Ownership.ended_at.is_(None))
        .values(ended_at=at, ended_by=TRANSFER),
    )
    if not ended:
        raise Conflict(N_("This item changed hands since the link was made."))
    new_owner = buyer or create_owner(session, at)
    ordinal = next_ordinal(session, item.id)
    if insert_ownership(session, item_id=item.id, owner_id=new_owner.id, ordinal=ordinal,
                        began_by=TRANSFER, started_at=at) is None:
        raise Conflict(N_("This item changed hands since the link was made."))
    update_rows(
        session,
        update(TransferOffer).where(TransferOffer.id == offer.id)
        .values(accepted_by=new_owner.id),
    )
    audit(session, at, "owner", "transfer_accept", item_id=item.id, owner_id=new_owner.id,
          offer_id=offer.id, ordinal=ordinal)
    return new_owner, ordinal
