"""The privacy registry: everything held about an owner, exported or erased in one place.

Each package that keeps rows linked to an owner registers a contributor naming those tables, an
export (JSON-ready sections) and an erase (wipe personal fields, keep anonymous counts). The
owner's export and erasure then walk every contributor, so a new table cannot be forgotten: a test
walks the schema and fails for any owner-linked table that no contributor names.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

Exporter = Callable[[Session, int], Mapping[str, Any]]
Eraser = Callable[[Session, int, datetime], None]


@dataclass(frozen=True)
class Contributor:
    """One package's share of what is held about owners.

    ``tables``: the owner-linked tables it covers (by name). ``export(session, owner_id)``
    returns sections of the owner's export. ``erase(session, owner_id, at)`` removes personal
    data; None when its tables hold none (ids and counts only), which ``reason`` must explain.
    """

    name: str
    tables: tuple[str, ...]
    export: Exporter
    erase: Eraser | None
    # Why there is nothing to erase (required when erase is None).
    reason: str = ""


_contributors: dict[str, Contributor] = {}


def email_digest(address: str) -> str:
    """Return the SHA-256 (hex) of ``address`` trimmed and lower-cased: how a brand's shop names a
    customer without sending the address itself (commerce events' ``email_sha256``)."""
    return hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()


def register(contributor: Contributor) -> None:
    """Add (or replace, by name) a contributor; called by each package's ``init_app``.

    Raises:
        ValueError: a contributor without ``erase`` does not say why.
    """
    if contributor.erase is None and not contributor.reason:
        raise ValueError(f"privacy contributor {contributor.name!r}: say why it erases nothing")
    _contributors[contributor.name] = contributor


def unregister(name: str) -> None:
    """Remove contributor ``name`` if registered (tests that add one of their own)."""
    _contributors.pop(name, None)


def contributors() -> list[Contributor]:
    """Return the registered contributors, in registration order."""
    return list(_contributors.values())


def covered_tables() -> set[str]:
    """Return the names of every table some contributor covers."""
    return {table for c in _contributors.values() for table in c.tables}


def export_owner(session: Session, owner_id: int) -> dict[str, Any]:
    """Return everything held about owner ``owner_id``: every contributor's sections, merged.

    Raises:
        ValueError: two contributors export the same section name (a programming error).
    """
    document: dict[str, Any] = {}
    for contributor in _contributors.values():
        for key, value in contributor.export(session, owner_id).items():
            if key in document:
                raise ValueError(f"export section {key!r} exported twice ({contributor.name})")
            document[key] = value
    return document


def erase_owner(session: Session, owner_id: int, at: datetime) -> None:
    """Erase every contributor's personal data about ``owner_id``, in the caller's transaction.

    Contributors run in reverse registration order, so the package that registered first (the
    owner record itself) is wiped last, after everything that refers to it.
    """
    for contributor in reversed(list(_contributors.values())):
        if contributor.erase is not None:
            contributor.erase(session, owner_id, at)
