"""A record's exported file, the published keys, and checking a file offline.

``verify_document`` needs nothing but the file and the brand's public keys (a saved JWK set or a
PEM key): it is what a resale platform runs, and what ``flask provenance verify`` runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from app.core.clock import utc
from app.provenance.document import DOCUMENT_TYPE, parse_time
from app.provenance.keys import PublishedKey, SigningKey, b64url, b64url_decode, key_id_for
from app.provenance.models import ProvenanceRecord
from app.provenance.records import VALID

# An exported file is a few kilobytes; refuse anything absurd before parsing it.
MAX_FILE_BYTES = 64 * 1024


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


def public_jwks(keys: Sequence[SigningKey | PublishedKey]) -> dict[str, Any]:
    """Return the public keys as a JWK set (RFC 8037 OKP keys).

    A published key also says whose it is (``aftertap_brand``, null for the house key) and
    whether it still signs (``aftertap_status``: ``current`` or ``retired``); JWK readers ignore
    members they do not know (RFC 7517, section 4).
    """
    entries = []
    for k in keys:
        jwk: dict[str, Any] = {"kid": k.key_id, "kty": "OKP", "crv": "Ed25519",
                               "x": b64url(k.public_raw), "alg": "EdDSA", "use": "sig"}
        if isinstance(k, PublishedKey):
            jwk["aftertap_brand"] = k.brand
            jwk["aftertap_status"] = "current" if k.current else "retired"
        entries.append(jwk)
    return {"keys": entries}


class PublicKeyError(ValueError):
    """A public-key file or JWK set that cannot be used."""


def public_keys_from_jwks(data: object) -> dict[str, bytes]:
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

