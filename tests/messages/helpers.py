"""Messages test helpers: an owned serum whose owner confirmed an email and opted in, and the
demo brand's ruleset published as its live version."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from app.catalog.models import Owner, Ownership
from app.rules.service import template_names
from app.rules.versions import publish
from app.verify.models import TapEvent
from tests.factories import get_or_create_brand, tagged_item

REPO = Path(__file__).resolve().parents[2]
BRAND = "maison-aurelia"
# 09:00 in Paris, a winter day (UTC+1).
SLOT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Owned:
    owner_id: int
    ownership_id: int
    serial: str
    gtin: str
    email: str
    item_id: int


def tapped(db: Session, item_id: int, at: datetime, country: str | None = "FR") -> None:
    """Record a genuine tap of ``item_id`` at ``at`` from ``country`` (committed)."""
    db.add(TapEvent(at=at, verdict="genuine", item_id=item_id, country=country))
    db.commit()


def publish_demo(db: Session, text: str | None = None) -> None:
    """Publish the repository's maison-aurelia ruleset (or ``text``) as the live version."""
    get_or_create_brand(db, BRAND, "Maison Aurelia")
    db.commit()
    text = text or (REPO / "rulesets" / "maison-aurelia.yaml").read_text()
    publish(db, text, "maison-aurelia.yaml", author="test", at=SLOT - timedelta(days=400),
            experiences=template_names("experiences"), messages=template_names("messages"))
    db.commit()


def owned_serum(db: Session, days: int = 77, *, opt_in: bool = True, verified: bool = True,
                category: str = "serum", started: datetime | None = None) -> Owned:
    """Create a serum owned for ``days`` whole days at ``SLOT`` (committed)."""
    tag = tagged_item(db, category=category)
    email = f"o{secrets.token_hex(3)}@example.com"
    owner = Owner(public_id=secrets.token_urlsafe(32), email=email, email_opt_in=opt_in,
                  email_verified_at=SLOT - timedelta(days=days) if verified else None,
                  created_at=SLOT - timedelta(days=days))
    db.add(owner)
    db.flush()
    holding = Ownership(item_id=tag.item.id, owner_id=owner.id, ordinal=1, began_by="claim",
                        started_at=started or SLOT - timedelta(days=days, hours=1))
    db.add(holding)
    db.commit()
    return Owned(owner.id, holding.id, tag.item.serial, tag.item.product.gtin, email,
                 tag.item.id)
