"""Provenance records: issue, read, revoke, and their status now.

Pure service: functions take a session, the key or settings and input, and never import Flask;
the caller commits. Issuing a record for its owner sends ``app.core.signals.provenance_issued``
in the caller's transaction (loyalty points for a record before a resale are earned that way).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.catalog.access import NotOwner
from app.catalog.holdings import current_holding
from app.catalog.models import Brand, Item, Product
from app.catalog.views import ItemView, item_view
from app.core import clock
from app.core.audit import audit
from app.core.clock import utc
from app.core.db import update_rows
from app.core.errors import N_, Conflict, NotFound
from app.core.signals import provenance_issued
from app.provenance.document import build_document, canonical_json, format_time, sign
from app.provenance.keys import SigningKey
from app.provenance.models import ProvenanceRecord

VALID = "valid"
EXPIRED = "expired"
REVOKED = "revoked"
# The item was reported stolen after the record was issued.
STOLEN = "stolen"
# The owner who issued it no longer owns the item: a listing using it is stale (or a second sale).
CHANGED_HANDS = "changed_hands"
# Signed by a key the service no longer uses: authentic, but no longer vouched for online.
RETIRED_KEY = "retired_key"


def issue_record(
    session: Session,
    key: SigningKey,
    settings: Mapping[str, Any],
    item: ItemView | Item,
    ownership_id: int | None,
    at: datetime,
) -> ProvenanceRecord:
    """Sign and store a provenance record about ``item``, valid ``PROVENANCE_VALID_DAYS``.

    ``ownership_id`` is the issuing owner's current ownership (None: issued by the brand). A
    record issued by an owner sends ``provenance_issued`` (with ``settings`` and ``at``) once it
    is stored.

    Returns:
        The new record (flushed; the caller commits).
    Raises:
        NotOwner: ``ownership_id`` is not the item's current ownership.
        Conflict: the item is reported stolen.
        ValueError: a ``provenance_sections`` listener returned a section the record already
            has (a programming error; see ``app.provenance.document.extra_sections``).
    """
    view = item if isinstance(item, ItemView) else item_view(item)
    owner_id: int | None = None
    if ownership_id is not None:
        holding = current_holding(session, view.id)
        if holding is None or holding.id != ownership_id:
            raise NotOwner()
        owner_id = holding.owner_id
    if view.stolen:
        raise Conflict(N_("This item is reported stolen, so no provenance record can be issued."))
    # Whole seconds: the stored times and the signed text must say the same thing.
    issued_at = utc(at).replace(microsecond=0)
    days = int(settings.get("PROVENANCE_VALID_DAYS", 90))
    expires_at = issued_at + timedelta(days=days)
    # 128 random bits as 32 hex digits: base64url ids can start with "-", which command lines
    # read as an option, and hex survives double-click selection and case-folding tools alike.
    record_id = secrets.token_hex(16)
    document = canonical_json(
        build_document(session, key, view, ownership_id, record_id, issued_at, expires_at)
    )
    record = ProvenanceRecord(
        id=record_id, item_id=view.id, ownership_id=ownership_id, issued_at=issued_at,
        expires_at=expires_at, key_id=key.key_id, document=document,
        signature=sign(key, document),
    )
    session.add(record)
    session.flush()
    audit(session, issued_at, "owner" if ownership_id is not None else "admin",
          "provenance_issue", item_id=view.id, owner_id=owner_id, record_id=record_id,
          expires_at=format_time(expires_at))
    if ownership_id is not None:
        provenance_issued.send(session, settings=settings, owner_id=owner_id,
                               ownership_id=ownership_id, record_id=record_id, at=utc(at))
    return record


def get_record(session: Session, record_id: str) -> ProvenanceRecord:
    """Return the record ``record_id``.

    Raises:
        NotFound: no such record.
    """
    record = session.get(ProvenanceRecord, record_id) if 0 < len(record_id) <= 32 else None
    if record is None:
        raise NotFound(N_("There is no provenance record at this address."))
    return record


def record_brand(session: Session, record: ProvenanceRecord) -> str:
    """Return the slug of the brand whose item ``record`` is about."""
    slug: str = session.execute(
        select(Brand.slug).join(Product, Product.brand_id == Brand.id)
        .join(Item, Item.product_id == Product.id).where(Item.id == record.item_id)
    ).scalar_one()
    return slug


def record_item(session: Session, record: ProvenanceRecord) -> tuple[str, str]:
    """Return ``(gtin, serial)`` of the item ``record`` is about."""
    row = session.execute(
        select(Product.gtin, Item.serial)
        .join(Item, Item.product_id == Product.id)
        .where(Item.id == record.item_id)
    ).one()
    return row.gtin, row.serial


def record_status(
    record: ProvenanceRecord,
    current_key_id: str,
    now: datetime,
    *,
    stolen: bool = False,
    current_ownership_id: int | None = None,
) -> str:
    """Return the record's status at ``now``, the first that holds of: ``revoked``, ``stolen``,
    ``expired``, ``changed_hands`` (issued under an ownership that is not ``current_ownership_id``),
    ``retired_key``, ``valid``.
    """
    if record.revoked_at is not None:
        return REVOKED
    if stolen:
        return STOLEN
    if utc(now) >= record.expires_at:
        return EXPIRED
    if record.ownership_id is not None and record.ownership_id != current_ownership_id:
        return CHANGED_HANDS
    if record.key_id != current_key_id:
        return RETIRED_KEY
    return VALID


def current_status(
    session: Session, record: ProvenanceRecord, current_key_id: str, now: datetime
) -> str:
    """Return ``record_status`` of ``record`` with the item's stolen flag and holding read now."""
    stolen_at = session.scalar(select(Item.stolen_at).where(Item.id == record.item_id))
    holding = current_holding(session, record.item_id)
    return record_status(record, current_key_id, now, stolen=stolen_at is not None,
                         current_ownership_id=holding.id if holding else None)


def revoke_record(
    session: Session,
    record_id: str,
    at: datetime,
    *,
    owner_id: int | None = None,
    admin: bool = False,
    reason: str | None = None,
    actor: str = "admin",
    brand_id: int | None = None,
) -> ProvenanceRecord:
    """Revoke a record: by the admin, or by the owner who issued it while they still own the item.

    ``actor`` names the admin in the audit log; ``brand_id`` (brand staff) finds only records of
    that brand's items.

    Returns:
        The revoked record (its ``revoked_at`` set).
    Raises:
        NotFound: no such record.
        NotOwner: neither the admin nor the issuing owner holding the item now.
        Conflict: it was already revoked.
    """
    record = get_record(session, record_id)
    if brand_id is not None and session.scalar(
            select(Product.brand_id).join(Item, Item.product_id == Product.id)
            .where(Item.id == record.item_id)) != brand_id:
        # Another brand's record is "not found": its existence is not this brand's business.
        raise NotFound(N_("There is no provenance record at this address."))
    if not admin:
        holding = current_holding(session, record.item_id)
        if (owner_id is None or record.ownership_id is None or holding is None
                or holding.id != record.ownership_id or holding.owner_id != owner_id):
            raise NotOwner(N_("Only the owner who created this record, while they own the item, "
                           "can withdraw it."))
        actor = "owner"
    # Conditional on not being revoked yet, so two racing revocations record one moment.
    done = update_rows(
        session,
        update(ProvenanceRecord)
        .where(ProvenanceRecord.id == record.id, ProvenanceRecord.revoked_at.is_(None))
        .values(revoked_at=at),
    )
    if not done:
        raise Conflict(N_("This provenance record was already withdrawn."))
    session.refresh(record)
    detail: dict[str, Any] = {"record_id": record.id}
    if reason:
        detail["reason"] = reason.strip()[:200]
    audit(session, at, actor, "provenance_revoke", item_id=record.item_id,
          owner_id=owner_id if actor == "owner" else None, **detail)
    return record


@dataclass(frozen=True)
class RecordSummary:
    """One record as the owner's item page lists it."""

    id: str
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    status: str
    # Not revoked and issued under the item's current ownership: its holder may withdraw it.
    can_revoke: bool


def records_for_item(
    session: Session, item_id: int, *, current_key_id: str | None = None,
    now: datetime | None = None,
) -> list[RecordSummary]:
    """Return the item's records, newest first, with their status at ``now`` (default: now).

    Without ``current_key_id`` a record is never reported as signed by a retired key.
    """
    moment = now or clock.now()
    holding = current_holding(session, item_id)
    stolen = session.scalar(select(Item.stolen_at).where(Item.id == item_id)) is not None
    records = session.scalars(
        select(ProvenanceRecord)
        .where(ProvenanceRecord.item_id == item_id)
        .order_by(ProvenanceRecord.issued_at.desc(), ProvenanceRecord.id)
    ).all()
    return [
        RecordSummary(
            r.id, r.issued_at, r.expires_at, r.revoked_at,
            record_status(r, current_key_id or r.key_id, moment, stolen=stolen,
                          current_ownership_id=holding.id if holding else None),
            r.revoked_at is None and holding is not None and r.ownership_id == holding.id,
        )
        for r in records
    ]
