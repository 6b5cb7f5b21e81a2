"""Shared by the commerce tests: a brand's shop (token, secret, a product), an owner of one of
its items with a confirmed address, an order payload, and a signed delivery."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from app.catalog.models import Owner
from app.catalog.views import item_view
from app.core import staff
from app.insights import commerce
from app.ownership.lifecycle import claim
from tests.factories import tagged_item

PATH = "/api/v1/events"
# Where every test order happened, unless it says otherwise.
HOUR_AGO = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)


@dataclass(frozen=True)
class Shop:
    brand_id: int
    token: str
    secret: str
    gtin: str


def shop(session: Session, brand: str = "maison-aurelia", role: str = "till") -> Shop:
    """Return a brand with one product, a till token and a commerce secret (committed)."""
    tag = tagged_item(session, brand=brand)
    brand_id = tag.item.product.brand_id
    at = datetime.now(UTC)
    _, token = staff.create_token(session, brand_id, role, "shop", at, actor="test")
    secret = commerce.rotate_secret(session, brand_id, at)
    session.commit()
    return Shop(brand_id, token, secret, tag.item.product.gtin)


def owner_of(session: Session, brand: str, email: str | None = None) -> int:
    """Return the id of a new owner of a new item of ``brand``, with ``email`` confirmed."""
    tag = tagged_item(session, brand=brand)
    at = datetime.now(UTC)
    new_owner, _ = claim(session, item_view(tag.item), None, at)
    if email is not None:
        owner = session.get_one(Owner, new_owner.id)
        owner.email, owner.email_verified_at = email, at
    session.commit()
    return new_owner.id


def order(gtin: str, owner: dict[str, str] | None = None, **data: Any) -> dict[str, Any]:
    """Return an ``order.created`` payload (129.00 EUR, one of ``gtin``), ``data`` overriding."""
    kind = data.pop("type", "order.created")
    body: dict[str, Any] = {
        "owner": owner if owner is not None else {"email_sha256": "0" * 64},
        "products": [{"gtin": gtin, "quantity": 1}],
        "amount": "129.00", "currency": "EUR", "occurred_at": HOUR_AGO.isoformat(),
    }
    body.update(data)
    return {"type": kind, "data": body}


def signed(shop_: Shop, body: str, *, event_id: str | None = None, at: datetime | None = None,
           secret: str | None = None, token: str | None = None) -> dict[str, str]:
    """Return the headers of a delivery of ``body``, signed as Standard Webhooks senders do."""
    event_id = event_id or "msg_" + secrets.token_hex(8)
    at = at or datetime.now(UTC)
    return {
        "Authorization": f"Bearer {token or shop_.token}",
        "Content-Type": "application/json",
        "Accept": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret or shop_.secret).sign(event_id, at, body),
    }


def post(client: Any, shop_: Shop, payload: Any, **kw: Any) -> Any:
    """POST ``payload`` (JSON-encoded unless a str) signed for ``shop_``; return the response."""
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return client.post(PATH, data=body.encode(), headers=signed(shop_, body, **kw))
