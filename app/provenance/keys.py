"""The brand's Ed25519 signing key for provenance records, and its public form.

The private key lives in a PKCS#8 PEM file named by ``AFTERTAP_PROVENANCE_KEY_FILE`` (``make run``
creates a random one for development). Its key id is derived from the public key, so a record
names the exact key that signed it and anyone can match it against the published key.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from Crypto.PublicKey import ECC
from Crypto.PublicKey.ECC import EccKey


class ProvenanceKeyError(ValueError):
    """The key file is missing or does not hold an Ed25519 private key."""


def b64url(data: bytes) -> str:
    """Return ``data`` as unpadded base64url text."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Return the bytes of unpadded base64url ``text``.

    Raises:
        ValueError: it is not base64url.
    """
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("not base64url text") from exc


@dataclass(frozen=True)
class SigningKey:
    key: EccKey
    key_id: str
    public_raw: bytes  # 32 bytes


def key_id_for(public_raw: bytes) -> str:
    """Return the key id of a raw Ed25519 public key: ``ed25519-`` + 16 hex of its SHA-256."""
    return "ed25519-" + hashlib.sha256(public_raw).hexdigest()[:16]


def write_key_file(path: Path) -> SigningKey:
    """Create a random Ed25519 key at ``path`` (mode 0600); return it. Refuses to overwrite.

    Raises:
        FileExistsError: ``path`` exists.
    """
    key = ECC.generate(curve="ed25519")
    pem = key.export_key(format="PEM")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(pem)
    return _signing_key(key)


def load_key_file(path: Path) -> SigningKey:
    """Return the signing key in ``path``.

    Raises:
        ProvenanceKeyError: missing, unreadable, or not an Ed25519 private key.
    """
    try:
        key = ECC.import_key(Path(path).read_text())
    except OSError as exc:
        raise ProvenanceKeyError(f"cannot read {path}: {exc.strerror}") from exc
    except (ValueError, IndexError, TypeError) as exc:
        raise ProvenanceKeyError(f"{path} does not hold a PEM private key") from exc
    if key.curve.lower() not in ("ed25519",) or not key.has_private():
        raise ProvenanceKeyError(f"{path} must hold an Ed25519 private key")
    return _signing_key(key)


def _signing_key(key: EccKey) -> SigningKey:
    raw = key.public_key().export_key(format="raw")
    return SigningKey(key=key, key_id=key_id_for(raw), public_raw=raw)
