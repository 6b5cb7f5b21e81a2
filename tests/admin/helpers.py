"""Brand-side test helpers: two brands with an owned item each, staff sessions, API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.aftersales.requests import create_request
from app.catalog.holdings import current_holding
from app.catalog.models import Brand, Owner
from app.catalog.views import item_view
from app.core import staff
from app.core.clock import now
from app.insights.models import Alert
from app.ownership.lifecycle import claim
from app.provenance import KEY_EXTENSION
from app.provenance.records import issue_record
from app.rewards import grants
from tests.factories import tagged_item
from tests.rewards.helpers import ruleset, tap_event

# Brand A has the repository's ruleset (the preview renders it); brand B is the stranger.
BRAND_A, BRAND_B = "maison-aurelia", "atelier-borel"
PASSWORD = "a long enough staff password"


@dataclass(frozen=True)
class Seeded:
    """One brand's objects: an owned, tagged item with a service request, a provenance record and
    a prize code."""

    slug: str
    brand_id: int
    gtin: str
    serial: str
    uid: str
    code: str
    record_id: str
    email: str
    alert_id: int = 0  # an open integrity alert on the item


def seed_brand(app: Any, db: Session, slug: str, serial: str) -> Seeded:
    at = now() - timedelta(days=30)
    tag = tagged_item(db, brand=slug, serial=serial, category="watch",
                      attributes={"warranty_months": 24})
    item = item_view(tag.item)
    new_owner, _ = claim(db, item, None, at)
    owner = db.get_one(Owner, new_owner.id)
    owner.email, owner.email_verified_at = f"{serial.lower()}@example.com", at
    holding = current_holding(db, item.id)
    assert holding is not None
    create_request(db, item, holding, "repair", "The clasp is loose.", at)
    record = issue_record(db, app.extensions[KEY_EXTENSION], app.config, item, holding.id,
                          datetime.now(UTC))
    db.commit()
    doc = ruleset("gift: {prizes: [{id: tote-bag, code: generated, stock: 5}], expires: 10d}")
    grant = grants.grant(db, doc, slug, "gift", tap_event_id=tap_event(db, item.id),
                         owner_id=owner.id, item_id=item.id, journey="all", at=now())
    db.commit()
    assert grant.code
    brand_id = db.scalar(select(Brand.id).where(Brand.slug == slug))
    assert brand_id is not None
    alert = Alert(brand_id=brand_id, item_id=item.id, kind="off_market", day=at.date(), at=at,
                  detail={"first": "JP", "second": "FR"})
    db.add(alert)
    db.commit()
    return Seeded(slug, brand_id, item.product.gtin, item.serial, tag.uid, grant.code, record.id,
                  owner.email, alert.id)


def staff_member(db: Session, brand_id: int, role: str, email: str | None = None,
                 password: str | None = PASSWORD) -> staff.StaffUser:
    """Create an enabled account with ``password`` (committed)."""
    user = staff.add_staff(db, email or f"{role}-{brand_id}@brand.example", brand_id, role, now(),
                           actor="test")
    if password is not None:
        token, _ = staff.issue_link(db, {"STAFF_SET_LINK_HOURS": 1}, user, staff.SET_PASSWORD,
                                    now())
        staff.use_link(db, token, password, now())
    db.commit()
    return user


def sign_in_as(client: Any, user: staff.StaffUser) -> None:
    """Put ``user``'s signed-in session in ``client`` (the login form is tested on its own)."""
    with client.session_transaction() as browser:
        browser["staff"] = {"id": user.id, "epoch": user.auth_epoch, "at": now().timestamp()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
