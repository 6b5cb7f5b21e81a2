"""An owner's reference for one brand's systems: what a brand's CRM or shop may keep to name an
owner, and send back (a commerce event's ``owner.id``), without learning our ids.

The reference is one AES block (``magic | brand id | owner id``) under a key derived from the
app secret, base64url, after ``own_``: deterministic (the same owner gets the same reference from
every message to one brand), unlinkable across brands (another brand's reference for the same
owner shares nothing with it), and reversible without a lookup table. One for another brand, or
a made-up one, does not decrypt to this brand's magic and id, so it names nobody. Changing the
app secret changes every reference.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Mapping
from typing import Any

from Crypto.Cipher import AES

PREFIX = "own_"
_MAGIC = b"AOR1"
_BLOCK = struct.Struct(">4sIQ")  # magic, brand id (32 bits), owner id (64 bits): 16 bytes
_LENGTH = len(PREFIX) + 22  # 16 bytes in unpadded base64url


def _cipher(settings: Mapping[str, Any]) -> Any:
    # A key of its own, derived from the app secret: nothing else is encrypted under it.
    key = hmac.new(str(settings["SECRET_KEY"]).encode(), b"owner-reference",
                   hashlib.sha256).digest()[:16]
    # ECB over exactly one block is the block cipher itself: a keyed permutation of 16 bytes.
    return AES.new(key, AES.MODE_ECB)


def owner_reference(settings: Mapping[str, Any], brand_id: int, owner_id: int) -> str:
    """Return the reference of owner ``owner_id`` for brand ``brand_id`` (``own_`` + 22 chars)."""
    block = _cipher(settings).encrypt(_BLOCK.pack(_MAGIC, brand_id, owner_id))
    return PREFIX + base64.urlsafe_b64encode(block).rstrip(b"=").decode()


def owner_of_reference(settings: Mapping[str, Any], brand_id: int, reference: str) -> int | None:
    """Return the owner id ``reference`` names for brand ``brand_id``, or None when it is not a
    reference made for this brand (malformed, made up, or another brand's)."""
    if (not isinstance(reference, str) or len(reference) != _LENGTH
            or not reference.startswith(PREFIX)):
        return None
    try:
        raw = base64.urlsafe_b64decode(reference[len(PREFIX):] + "==")
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _BLOCK.size:
        return None
    magic, brand, owner = _BLOCK.unpack(_cipher(settings).decrypt(raw))
    if not hmac.compare_digest(magic, _MAGIC) or brand != brand_id:
        return None
    return int(owner)
