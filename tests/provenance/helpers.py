"""Shared set-up for provenance tests: owned items with history, a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from app.aftersales.models import ServiceEvent
from app.catalog.models import Item, Owner
from app.catalog.views import item_view
from app.ownership.lifecycle import claim
from app.ownership.transfers import accept_offer, create_offer
from app.provenance.keys import SigningKey
from app.provenance.models import ProvenanceRecord
from app.provenance.records import issue_record
from app.verify.models import Tag
from tests.factories import tagged_item

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
EMAIL = "alice.seller@example.com"
ATTRIBUTES = {"made_in": "Italy", "material": "calfskin", "warranty_months": 24,
              "internal_cost": "EUR 112"}


def owned(db: Session, *, at: datetime = NOW, email: str | None = EMAIL,
          **kw: object) -> tuple[Tag, Owner, int]:
    """Return ``(tag, owner, ownership_id)`` for a new item claimed by a new owner at ``at``."""
    kw.setdefault("attributes", dict(ATTRIBUTES))
    tag = tagged_item(db, **kw)  # type: ignore[arg-type]
    new_owner, ownership_id = claim(db, item_view(tag.item), None, at)
    owner = db.get_one(Owner, new_owner.id)
    owner.email = email
    db.commit()
    return tag, owner, ownership_id


def resold(db: Session, tag: Tag, at: datetime) -> tuple[Owner, int]:
    """Transfer ``tag``'s item from its owner to a new one at ``at``; return the new holding."""
    from app.catalog.holdings import current_holding

    view = item_view(tag.item)
    holding = current_holding(db, view.id)
    assert holding is not None
    seller = db.get(Owner, holding.owner_id)
    token, _ = create_offer(db, {}, view, seller, at - timedelta(minutes=5))
    new_owner, _ = accept_offer(db, token, view, None, at)
    db.commit()
    new = current_holding(db, view.id)
    assert new is not None
    return db.get_one(Owner, new_owner.id), new.id


def serviced(db: Session, item: Item, kind: str, at: datetime) -> None:
    """Record a service event with a note and a workshop (neither may reach a record)."""
    db.add(ServiceEvent(item_id=item.id, at=at, kind=kind, note=f"Note for {EMAIL}",
                        location="Atelier Rue Secrète"))
    item.service_count = (item.service_count or 0) + 1
    item.last_service_at = at
    db.commit()


def issue(db: Session, key: SigningKey, tag: Tag, ownership_id: int | None, at: datetime = NOW,
          days: int = 90) -> ProvenanceRecord:
    """Issue and commit a record about ``tag``'s item, valid ``days``, under ``ownership_id``."""
    record = issue_record(db, key, {"PROVENANCE_VALID_DAYS": days}, item_view(tag.item),
                          ownership_id, at)
    db.commit()
    return record
