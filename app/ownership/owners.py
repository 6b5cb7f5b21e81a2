"""Owners without logins, their credentials and the rows that start a holding.

An owner is a row with a random cookie credential (``public_id``); links mailed or handed over
carry random tokens of which only a hash is stored. Starting a holding is one guarded INSERT: the
partial unique index on current ownerships decides racing claims and transfers.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, insert, select
from sqlalchemy.orm import Session

from app.catalog.holdings import Viewer
from app.catalog.models import Owner, Ownership
from app.core.db import insert_ignore

OWNERS = cast(Table, Owner.__table__)
OWNERSHIPS = cast(Table, Ownership.__table__)


def new_token() -> tuple[str, str]:
    """Return ``(token, digest)``: a random URL-safe token and the hash stored in its place."""
    token = secrets.token_urlsafe(24)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    """Return the SHA-256 hex digest stored for ``token`` (a leaked table yields no live links)."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def new_public_id() -> str:
    """Return a fresh random cookie credential for an owner."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class NewOwner:
    """An owner just created in this transaction: its id and cookie credential."""

    id: int
    public_id: str


# Anything with an ``id`` and a ``public_id``: a loaded Owner, a NewOwner or a tap's Viewer.
OwnerLike = Owner | NewOwner | Viewer

_INSERT_OWNER = insert(OWNERS).returning(OWNERS.c.id)
_DELETE_OWNER = delete(OWNERS).where(OWNERS.c.id == bindparam("owner_id"))


def create_owner(session: Session, at: datetime) -> NewOwner:
    """Return a new owner with a fresh random credential (inserted, so it has an id)."""
    public_id = new_public_id()
    owner_id = session.connection().execute(
        _INSERT_OWNER,
        {"public_id": public_id, "created_at": at, "email_opt_in": False},
    ).scalar_one()
    return NewOwner(owner_id, public_id)


def delete_new_owner(session: Session, owner_id: int) -> None:
    """Delete an owner made in this transaction that ended up owning nothing."""
    session.connection().execute(_DELETE_OWNER, {"owner_id": owner_id})


_MAX_ORDINAL = select(func.max(Ownership.ordinal)).where(
    Ownership.item_id == bindparam("item_id")
)

# At most one current ownership per item: the partial unique index decides racing claims.
_CURRENT_OWNERSHIP_KEY = (OWNERSHIPS.c.item_id,)
_CURRENT_OWNERSHIP_WHERE = OWNERSHIPS.c.ended_at.is_(None)


def next_ordinal(session: Session, item_id: int) -> int:
    """Return the ordinal the item's next ownership takes (1 for its first owner)."""
    last = session.connection().execute(_MAX_ORDINAL, {"item_id": item_id}).scalar()
    return (last or 0) + 1


def insert_ownership(
    session: Session,
    *,
    item_id: int,
    owner_id: int,
    ordinal: int,
    began_by: str,
    started_at: datetime,
    owner_taps: int = 0,
    month_streak: int = 0,
    last_tap_month: int | None = None,
    provisional: bool = False,
) -> int | None:
    """Insert a current ownership unless the item already has one.

    A ``provisional`` ownership (a first-tap claim that made a new owner) has no
    ``confirmed_at`` until its browser comes back (``app.ownership.lifecycle``); every other
    holding is confirmed as it starts.

    Returns the new ownership's id, or None when the item already had a current owner (the
    insert did nothing, so the transaction is still usable).
    """
    ownership_id: int | None = insert_ignore(
        session, OWNERSHIPS,
        {"item_id": item_id, "owner_id": owner_id, "ordinal": ordinal, "began_by": began_by,
         "started_at": started_at, "owner_taps": owner_taps, "month_streak": month_streak,
         "last_tap_month": last_tap_month, "ended_at": None, "ended_by": None,
         "confirmed_at": None if provisional else started_at},
        returning=OWNERSHIPS.c.id,
        index_elements=_CURRENT_OWNERSHIP_KEY, index_where=_CURRENT_OWNERSHIP_WHERE,
    )
    return ownership_id
