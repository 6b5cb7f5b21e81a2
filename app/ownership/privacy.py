"""The ownership domain's share of an owner's export and erasure (``app.core.privacy``).

It covers the owner record itself, their ownerships, their emailed links and their transfer
offers. It registers first among the domains, so its erase runs last: the owner row is wiped
after everything that refers to it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.catalog.models import Item, Owner, Ownership, Product
from app.core import privacy
from app.core.audit import audit
from app.core.clock import iso
from app.core.db import update_rows
from app.core.errors import NotFound
from app.ownership.models import OwnerToken, TransferOffer
from app.ownership.owners import new_public_id

ERASED = "erased"

TABLES = ("owners", "ownerships", "owner_tokens", "transfer_offers")


def _owner(session: Session, owner_id: int) -> Owner:
    owner = session.get(Owner, owner_id)
    if owner is None:
        raise NotFound("No such owner.")
    return owner



def export_sections(session: Session, owner_id: int) -> dict[str, Any]:
    """Return the ``owner`` and ``ownerships`` sections of the owner's export, JSON-ready.

    Raises:
        NotFound: no owner has ``owner_id``.
    """
    owner = _owner(session, owner_id)
    rows = session.execute(
        select(Ownership.ordinal, Ownership.began_by, Ownership.started_at, Ownership.ended_at,
               Ownership.ended_by, Ownership.owner_taps, Product.gtin,
               Product.name.label("product"), Item.serial)
        .join(Item, Ownership.item_id == Item.id)
        .join(Product, Item.product_id == Product.id)
        .where(Ownership.owner_id == owner.id)
        .order_by(Ownership.started_at, Ownership.id)
    )
    return {
        "owner": {
            "email": owner.email,
            "email_verified_at": iso(owner.email_verified_at),
            "email_opt_in": owner.email_opt_in,
            "created_at": iso(owner.created_at),
        },
        "ownerships": [
            {"gtin": row.gtin, "product": row.product, "serial": row.serial,
             "ordinal": row.ordinal, "began_by": row.began_by,
             "started_at": iso(row.started_at), "ended_at": iso(row.ended_at),
             "ended_by": row.ended_by, "taps": row.owner_taps}
            for row in rows
        ],
    }


def erase_personal_data(session: Session, owner_id: int, at: datetime) -> None:
    """Erase the owner: end their ownerships, kill every credential, wipe personal fields.

    Current ownerships end (``erased``) and their open transfer offers are withdrawn; unused
    links are burnt and every link's address cleared; the email and consent are wiped and the
    cookie credential rotated, so every browser holding it stops working. Ownership rows stay,
    anonymous, so items' histories and tap counts do not change.

    Raises:
        NotFound: no owner has ``owner_id``.
    """
    owner = _owner(session, owner_id)
    update_rows(
        session,
        update(Ownership)
        .where(Ownership.owner_id == owner.id, Ownership.ended_at.is_(None))
        .values(ended_at=at, ended_by=ERASED),
    )
    own_ids = select(Ownership.id).where(Ownership.owner_id == owner.id).scalar_subquery()
    update_rows(
        session,
        update(TransferOffer)
        .where(TransferOffer.ownership_id.in_(own_ids), TransferOffer.accepted_at.is_(None),
               TransferOffer.cancelled_at.is_(None))
        .values(cancelled_at=at),
    )
    update_rows(
        session,
        update(OwnerToken).where(OwnerToken.owner_id == owner.id, OwnerToken.used_at.is_(None))
        .values(used_at=at, email=None),
    )
    update_rows(
        session,
        update(OwnerToken).where(OwnerToken.owner_id == owner.id).values(email=None),
    )
    owner.email = None
    owner.email_verified_at = None
    owner.email_opt_in = False
    owner.erased_at = at
    owner.public_id = new_public_id()


CONTRIBUTOR = privacy.Contributor(
    name="ownership", tables=TABLES, export=export_sections, erase=erase_personal_data,
)


def register() -> None:
    """Add the ownership contributor to the privacy registry (from ``init_app``)."""
    privacy.register(CONTRIBUTOR)


def erase_owner(session: Session, owner_id: int, at: datetime, *, actor: str) -> int:
    """Erase everything every package holds about the owner (the privacy registry), audited.

    Returns:
        The number of ownerships the erasure ended.
    Raises:
        NotFound: no owner has ``owner_id``.
    """
    privacy.erase_owner(session, owner_id, at)
    # Counted after the fact, from the rows this erasure marked: exactly what it ended, even if
    # a transfer raced it. An owner is erased once (erased owners are never found again).
    ended = session.scalar(
        select(func.count()).select_from(Ownership)
        .where(Ownership.owner_id == owner_id, Ownership.ended_by == ERASED,
               Ownership.ended_at == at)
    ) or 0
    # The registry's erasers are not told who asked, so the one audit entry is written here.
    audit(session, at, actor, "erase", owner_id=owner_id, ownerships_ended=ended)
    return ended
