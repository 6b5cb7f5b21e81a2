"""Provenance's share of what is held about an owner: the records they issued.

Registered with ``app.core.privacy`` by ``app.provenance.init_app``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.models import Ownership
from app.core.clock import iso
from app.core.privacy import Contributor
from app.provenance.models import ProvenanceRecord


def _export(session: Session, owner_id: int) -> dict[str, Any]:
    rows = session.execute(
        select(ProvenanceRecord.id, ProvenanceRecord.issued_at, ProvenanceRecord.expires_at,
               ProvenanceRecord.revoked_at)
        .join(Ownership, ProvenanceRecord.ownership_id == Ownership.id)
        .where(Ownership.owner_id == owner_id)
        .order_by(ProvenanceRecord.issued_at, ProvenanceRecord.id)
    ).all()
    return {"provenance_records": [
        {"id": row.id, "issued_at": row.issued_at.isoformat(),
         "expires_at": row.expires_at.isoformat(),
         "revoked_at": iso(row.revoked_at)}
        for row in rows
    ]}


PRIVACY = Contributor(
    name="provenance",
    tables=("provenance_records",),
    export=_export,
    erase=None,
    reason="a record describes the item (what it is, how many owners, its service) and is "
           "signed as issued; it names no one, and the ownership it links to is anonymised "
           "by the owner's erasure",
)
"""The records an owner issued (ids and dates), listed in their export; nothing to erase."""
