"""Brand-signed provenance records: issue, revoke, list, export and verify offline.

A record is a small JSON document about one item (what it is, where and when it was made, how
many owners it had, a summary of its service history) signed by the brand with Ed25519. It holds
no personal data: no email, no owner id, no service notes or workshop names.

The signed bytes are the document's canonical JSON (sorted keys, no whitespace, UTF-8). The file
handed to a resale platform carries that string verbatim next to the signature, so a verifier
checks the exact bytes that were signed and never has to re-serialise JSON the way we did.

Pure service: functions take a session, the key or settings and input, and never import Flask;
the caller commits.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.catalog.access import NotOwner
from app.catalog.holdings import current_holding
from app.catalog.models import Item, Ownership, Product
from app.catalog.views import ItemView, item_view
from app.core.audit import audit
from app.core.clock import utc
from app.core.errors import Conflict, NotFound
from app.provenance.keys import SigningKey, b64url, b64url_decode, key_id_for
from app.provenance.models import ProvenanceRecord

DOCUMENT_TYPE = "aftertap.provenance/1"
# Catalogue attributes that describe the object itself; anything else in ``attributes`` (prices,
# warranty terms, internal codes) stays out of a public, signed statement.
ITEM_ATTRIBUTES = ("material", "formulation", "cask", "vintage", "movement")

VALID = "valid"
EXPIRED = "expired"
REVOKED = "revoked"
# The item was reported stolen after the record was issued.
STOLEN = "stolen"
# The owner who issued it no longer owns the item: a listing using it is stale (or a second sale).
CHANGED_HANDS = "changed_hands"
# Signed by a key the service no longer uses: authentic, but no longer vouched for online.
RETIRED_KEY = "retired_key"

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# An exported file is a few kilobytes; refuse anything absurd before parsing it.
MAX_FILE_BYTES = 64 * 1024


# --- canonical form ------------------------------------------------------------------------------


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


def _scalar(value: Any) -> str | int | bool:
    # Floats and nested values would make the canonical bytes depend on one JSON library's number
    # formatting; catalogue attributes are short labels, so they are signed as text.
    if isinstance(value, bool | int | str):
        return value
    return str(value)


# --- building and issuing ------------------------------------------------------------------------


def _service_summary(session: Session, item: ItemView) -> dict[str, Any]:
    """Return ``{"count", "last", "kinds"}`` for ``item`` from the service log and item counters."""
    # Read the after-sales table through its model only: nothing here depends on the after-sales
    # service code. Notes and locations are left out (free text may name people).
    from app.aftersales.models import ServiceEvent

    rows = session.execute(
        select(ServiceEvent.kind, ServiceEvent.at).where(ServiceEvent.item_id == item.id)
    ).all()
    kinds = sorted({kind for kind, _ in rows if kind})
    moments = [utc(at) for _, at in rows if at is not None]
    if item.last_service_at is not None:
        moments.append(utc(item.last_service_at))
    # The item counters and the log move together; taking the larger never understates work the
    # brand recorded only one way (e.g. counts imported without a log).
    return {
        "count": max(int(item.service_count or 0), len(rows)),
        "last": _date(max(moments)) if moments else None,
        "kinds": kinds,
    }


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


def build_document(
    session: Session,
    key: SigningKey,
    item: ItemView,
    ownership_id: int | None,
    record_id: str,
    issued_at: datetime,
    expires_at: datetime,
) -> dict[str, Any]:
    """Return the (unsigned) document of a record about ``item``; see the module docstring."""
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
    for name in ITEM_ATTRIBUTES:
        value = attributes.get(name)
        if value is not None and value != "":
            item_part[name] = _scalar(value)
    return {
        "type": DOCUMENT_TYPE,
        "id": record_id,
        "issued_at": format_time(issued_at),
        "expires_at": format_time(expires_at),
        "issuer": {"brand": product.brand.slug, "name": product.brand.name},
        "key_id": key.key_id,
        "item": item_part,
        "ownership": _ownership_summary(session, item.id, ownership_id),
        "service": _service_summary(session, item),
    }


def sign(key: SigningKey, document_text: str) -> str:
    """Return the base64url Ed25519 (RFC 8032, pure) signature of ``document_text`` as UTF-8."""
    return b64url(eddsa.new(key.key, "rfc8032").sign(document_text.encode("utf-8")))


def issue_record(
    session: Session,
    key: SigningKey,
    settings: Mapping[str, Any],
    item: ItemView | Item,
    ownership_id: int | None,
    at: datetime,
) -> ProvenanceRecord:
    """Sign and store a provenance record about ``item``, valid ``PROVENANCE_VALID_DAYS``.

    ``ownership_id`` is the issuing owner's current ownership (None: issued by the brand).

    Returns:
        The new record (flushed; the caller commits).
    Raises:
        NotOwner: ``ownership_id`` is not the item's current ownership.
        Conflict: the item is reported stolen.
    """
    view = item if isinstance(item, ItemView) else item_view(item)
    if ownership_id is not None:
        holding = current_holding(session, view.id)
        if holding is None or holding.id != ownership_id:
            raise NotOwner()
    if view.stolen:
        raise Conflict("This item is reported stolen, so no provenance record can be issued.")
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
    owner_id = None
    if ownership_id is not None:
        owner_id = session.scalar(select(Ownership.owner_id).where(Ownership.id == ownership_id))
    audit(session, issued_at, "owner" if ownership_id is not None else "admin",
          "provenance_issue", item_id=view.id, owner_id=owner_id, record_id=record_id,
          expires_at=format_time(expires_at))
    return record


# --- reading and revoking ------------------------------------------------------------------------


def get_record(session: Session, record_id: str) -> ProvenanceRecord:
    """Return the record ``record_id``.

    Raises:
        NotFound: no such record.
    """
    record = session.get(ProvenanceRecord, record_id) if 0 < len(record_id) <= 32 else None
    if record is None:
        raise NotFound("There is no provenance record at this address.")
    return record


def record_item(session: Session, record: ProvenanceRecord) -> tuple[str, str]:
    """Return ``(gtin, serial)`` of the item ``record`` is about."""
    row = session.execute(
        select(Product.gtin, Item.serial)
        .join(Item, Item.product_id == Product.id)
        .where(Item.id == record.item_id)
    ).one()
    return row[0], row[1]


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
    if utc(now) >= utc(record.expires_at):
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
) -> ProvenanceRecord:
    """Revoke a record: by the admin, or by the owner who issued it while they still own the item.

    Returns:
        The revoked record.
    Raises:
        NotFound: no such record.
        NotOwner: neither the admin nor the issuing owner holding the item now.
        Conflict: it was already revoked.
    """
    record = get_record(session, record_id)
    actor = "admin"
    if not admin:
        holding = current_holding(session, record.item_id)
        if (owner_id is None or record.ownership_id is None or holding is None
                or holding.id != record.ownership_id or holding.owner_id != owner_id):
            raise NotOwner("Only the owner who created this record, while they own the item, "
                           "can withdraw it.")
        actor = "owner"
    # Conditional on not being revoked yet, so two racing revocations record one moment.
    done = session.execute(
        update(ProvenanceRecord)
        .where(ProvenanceRecord.id == record.id, ProvenanceRecord.revoked_at.is_(None))
        .values(revoked_at=at),
        execution_options={"synchronize_session": False},
    ).rowcount
    if not done:
        raise Conflict("This provenance record was already withdrawn.")
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
    moment = now or datetime.now(UTC)
    holding = current_holding(session, item_id)
    stolen = session.scalar(select(Item.stolen_at).where(Item.id == item_id)) is not None
    records = session.scalars(
        select(ProvenanceRecord)
        .where(ProvenanceRecord.item_id == item_id)
        .order_by(ProvenanceRecord.issued_at.desc(), ProvenanceRecord.id)
    ).all()
    return [
        RecordSummary(
            r.id, utc(r.issued_at), utc(r.expires_at),
            utc(r.revoked_at) if r.revoked_at else None,
            record_status(r, current_key_id or r.key_id, moment, stolen=stolen,
                          current_ownership_id=holding.id if holding else None),
            r.revoked_at is None and holding is not None and r.ownership_id == holding.id,
        )
        for r in records
    ]


# --- the exported file and its verification ------------------------------------------------------


def signed_document(record: ProvenanceRecord) -> dict[str, Any]:
    """Return the exportable file content of ``record``.

    ``document`` is the signed text, verbatim; ``record`` is the same document parsed, for
    readers (a verifier checks that it matches); ``signature`` is base64url Ed25519 over the UTF-8
    bytes of ``document``; ``key_id`` names the public key to check it with.
    """
    return {
        "record": json.loads(record.document),
        "document": record.document,
        "signature": record.signature,
        "key_id": record.key_id,
    }


def public_jwks(keys: list[SigningKey] | tuple[SigningKey, ...]) -> dict[str, Any]:
    """Return the public keys as a JWK set (RFC 8037 OKP keys)."""
    return {
        "keys": [
            {"kid": k.key_id, "kty": "OKP", "crv": "Ed25519", "x": b64url(k.public_raw),
             "alg": "EdDSA", "use": "sig"}
            for k in keys
        ]
    }


class PublicKeyError(ValueError):
    """A public-key file or JWK set that cannot be used."""


def public_keys_from_jwks(data: Any) -> dict[str, bytes]:
    """Return ``{key_id: raw public key}`` from a JWK set (or a single JWK).

    The key id is re-derived from each key, so a ``kid`` cannot point a record at another key.

    Raises:
        PublicKeyError: no usable Ed25519 key, or a ``kid`` that is not the key's own id.
    """
    entries = data.get("keys") if isinstance(data, dict) and "keys" in data else [data]
    if not isinstance(entries, list):
        raise PublicKeyError("a JWK set has a list of keys")
    keys: dict[str, bytes] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
            continue  # a JWK set may also publish keys of other kinds
        try:
            raw = b64url_decode(str(entry.get("x", "")))
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise PublicKeyError("an Ed25519 key's x must be 32 bytes of base64url")
        kid = key_id_for(raw)
        if entry.get("kid") not in (None, kid):
            raise PublicKeyError(f"key {entry.get('kid')!r} is not the key it names ({kid})")
        keys[kid] = raw
    if not keys:
        raise PublicKeyError("no Ed25519 key found")
    return keys


def public_keys_from_text(text: str) -> dict[str, bytes]:
    """Return ``{key_id: raw public key}`` from a saved JWK set / JWK, or an Ed25519 PEM key.

    Raises:
        PublicKeyError: neither form, or not an Ed25519 key.
    """
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            return public_keys_from_jwks(json.loads(stripped))
        except json.JSONDecodeError as exc:
            raise PublicKeyError(f"not JSON: {exc.msg}") from exc
    try:
        key = ECC.import_key(stripped)
    except (ValueError, IndexError, TypeError) as exc:
        raise PublicKeyError("neither a JWK set nor a PEM public key") from exc
    if key.curve.lower() != "ed25519":
        raise PublicKeyError("the PEM key is not an Ed25519 key")
    raw = key.public_key().export_key(format="raw")
    return {key_id_for(raw): raw}


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of checking a file: ``ok``, why not (``reason``), and the signed document."""

    ok: bool
    reason: str
    record: dict[str, Any] | None = None


def _invalid(reason: str, record: dict[str, Any] | None = None) -> VerifyResult:
    return VerifyResult(False, reason, record)


def verify_document(
    data: Mapping[str, Any] | str | bytes, public_keys: Mapping[str, bytes], now: datetime
) -> VerifyResult:
    """Check an exported file with public keys only: signature, key, shape, then expiry.

    ``data`` is the file's parsed JSON or its text. Revocation is not known offline: the public
    page and JSON say whether the brand has withdrawn the record.

    Returns:
        ``VerifyResult(True, "valid", document)``, or ``ok=False`` with the reason: malformed
        file, unknown key, bad signature, record does not match, or expired. ``record`` is set
        only once the signature has been checked.
    """
    if isinstance(data, bytes | str):
        if len(data) > MAX_FILE_BYTES:
            return _invalid("malformed file: too large")
        try:
            data = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return _invalid(f"malformed file: not JSON ({exc})")
    if not isinstance(data, Mapping):
        return _invalid("malformed file: not a JSON object")
    text, signature = data.get("document"), data.get("signature")
    if not isinstance(text, str) or not isinstance(signature, str):
        return _invalid("malformed file: needs the signed 'document' text and a 'signature'")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return _invalid("malformed file: the document is not JSON")
    if not isinstance(document, dict) or document.get("type") != DOCUMENT_TYPE:
        return _invalid(f"malformed file: not an {DOCUMENT_TYPE} document")
    key_id = document.get("key_id")
    if not isinstance(key_id, str):
        return _invalid("malformed file: the document names no key")
    # The outer key_id is a convenience and unsigned; the signed one decides.
    if data.get("key_id", key_id) != key_id:
        return _invalid("malformed file: key_id differs from the signed document's")
    raw = public_keys.get(key_id)
    if raw is None:
        return _invalid(f"unknown key {key_id}")
    try:
        sig = b64url_decode(signature)
        public = eddsa.import_public_key(raw)
        eddsa.new(public, "rfc8032").verify(text.encode("utf-8"), sig)
    except ValueError:
        return _invalid("bad signature")
    # A reader may look at the parsed copy, so it must say exactly what was signed.
    if "record" in data and data["record"] != document:
        return _invalid("the 'record' part does not match the signed document", document)
    try:
        expires_at = parse_time(str(document.get("expires_at")))
    except ValueError:
        return _invalid("malformed file: expires_at is not an ISO 8601 UTC time", document)
    if utc(now) >= expires_at:
        return _invalid(f"expired at {document['expires_at']}", document)
    return VerifyResult(True, VALID, document)


def describe(document: Mapping[str, Any]) -> str:
    """Return a one-line human summary of a verified document (for the CLI)."""
    item = document.get("item") or {}
    issuer = document.get("issuer") or {}
    return (f"{document.get('id')} {issuer.get('name', '?')} {item.get('product', '?')} "
            f"serial {item.get('serial', '?')}, valid until {document.get('expires_at')}")

