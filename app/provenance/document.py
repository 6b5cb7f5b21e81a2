"""The signed document of a provenance record: its fields, canonical form and signature.

A record is a small JSON document about one item (what it is, where and when it was made, how
many owners it had) signed by the brand with Ed25519. Other packages add sections through
``app.core.signals.provenance_sections`` (after-sales adds ``service``, a summary of the item's
service history); without such a listener the section is simply absent. It holds no personal
data: no email, no owner id, no service notes or workshop names.

The signed bytes are the document's canonical JSON (sorted keys, no whitespace, UTF-8). The file
handed to a resale platform carries that string verbatim next to the signature, so a verifier
checks the exact bytes that were signed and never has to re-serialise JSON the way we did.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from Crypto.Signature import eddsa
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.models import Ownership
from app.catalog.views import ItemView
from app.core.clock import utc
from app.core.signals import provenance_sections
from app.provenance.keys import SigningKey, b64url

DOCUMENT_TYPE = "aftertap.provenance/1"
# The item section's own fields: a product's provenance attribute never replaces one of them.
ITEM_FIELDS = frozenset({"gtin", "serial", "product", "category", "made_in", "made_on"})
# The sections this package writes itself; a listener of ``provenance_sections`` may not.
CORE_FIELDS = frozenset(
    {"type", "id", "issued_at", "expires_at", "issuer", "key_id", "item", "ownership"}
)

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def canonical_json(document: Mapping[str, Any]) -> str:
    """Return ``document`` as canonical JSON text: sorted keys, no whitespace, raw UTF-8.

    Raises:
        ValueError: it holds something JSON cannot represent exactly (NaN, infinities).
    """
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def format_time(moment: datetime) -> str:
    """Return ``moment`` as ISO 8601 UTC to the second, e.g. ``2026-01-31T09:00:00Z``."""
    return utc(moment).strftime(_TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """Return the aware UTC datetime of ``format_time`` output.

    Raises:
        ValueError: any other shape.
    """
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)


def _date(moment: datetime | None) -> str | None:
    return utc(moment).date().isoformat() if moment is not None else None


def _scalar(value: object) -> str | int | bool:
    # Floats and nested values would make the canonical bytes depend on one JSON library's number
    # formatting; catalogue attributes are short labels, so they are signed as text.
    if isinstance(value, bool | int | str):
        return value
    return str(value)


def _ownership_summary(session: Session, item_id: int, ownership_id: int | None) -> dict[str, Any]:
    """Return ``{"previous_owners", "current_owner_since"}``: counts and a date, no identities."""
    rows = session.execute(
        select(Ownership.id, Ownership.ordinal, Ownership.started_at)
        .where(Ownership.item_id == item_id)
        .order_by(Ownership.ordinal)
    ).all()
    current = next((row for row in rows if row.id == ownership_id), None)
    if current is None:
        return {"previous_owners": len(rows), "current_owner_since": None}
    return {
        "previous_owners": sum(1 for row in rows if row.ordinal < current.ordinal),
        "current_owner_since": _date(current.started_at),
    }


def extra_sections(session: Session, item: ItemView) -> dict[str, Any]:
    """Return the sections other packages add to a record about ``item``, merged.

    Each listener of ``provenance_sections`` returns a mapping of sections (or None for none).

    Raises:
        ValueError: a listener returns one of ``CORE_FIELDS``, or two return the same section
            (a programming error: the signed document would depend on listener order).
    """
    sections: dict[str, Any] = {}
    for receiver, value in provenance_sections.send(session, item=item):
        if value is None:
            continue
        for name, section in value.items():
            if name in CORE_FIELDS or name in sections:
                raise ValueError(f"provenance section {name!r} is already in the record "
                                 f"({getattr(receiver, '__qualname__', receiver)!r})")
            sections[name] = section
    return sections


def build_document(
    session: Session,
    key: SigningKey,
    item: ItemView,
    ownership_id: int | None,
    record_id: str,
    issued_at: datetime,
    expires_at: datetime,
) -> dict[str, Any]:
    """Return the (unsigned) document of a record about ``item``; see the module docstring.

    Raises:
        ValueError: as ``extra_sections``.
    """
    product = item.product
    attributes = product.attributes or {}
    item_part: dict[str, Any] = {
        "gtin": product.gtin,
        "serial": item.serial,
        "product": product.name,
        "category": product.category,
        "made_in": _scalar(attributes["made_in"]) if attributes.get("made_in") else None,
        "made_on": _date(item.created_at),
    }
    # Only the attributes that describe the object itself (``ProductView.provenance``); prices,
    # warranty terms and internal codes stay out of a public, signed statement.
    for name, value in product.provenance():
        if name not in ITEM_FIELDS:
            item_part[name] = _scalar(value)
    return {
        **extra_sections(session, item),
        "type": DOCUMENT_TYPE,
        "id": record_id,
        "issued_at": format_time(issued_at),
        "expires_at": format_time(expires_at),
        "issuer": {"brand": product.brand.slug, "name": product.brand.name},
        "key_id": key.key_id,
        "item": item_part,
        "ownership": _ownership_summary(session, item.id, ownership_id),
    }


def sign(key: SigningKey, document_text: str) -> str:
    """Return the base64url Ed25519 (RFC 8032, pure) signature of ``document_text`` as UTF-8."""
    return b64url(eddsa.new(key.key, "rfc8032").sign(document_text.encode("utf-8")))
