"""AES-128 building blocks for NTAG 424 DNA Secure Dynamic Messaging (SUN).

Sources: NXP AN12196 (SDM session keys, truncated SDMMAC) and NXP AN10922 (key
diversification). Every function is pure: bytes in, bytes out, no hidden state.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from Crypto.Cipher import AES

BLOCK_SIZE = 16
KEY_SIZE = 16
UID_SIZE = 7
MAX_COUNTER = 0xFFFFFF

# Labels that prefix the session vectors (AN12196 / NT4H2421Gx datasheet, SDM session keys).
_SV1_LABEL = bytes.fromhex("C33C")
_SV2_LABEL = bytes.fromhex("3CC3")
_SV_HEADER = bytes.fromhex("00010080")

# The reduction constant of GF(2^128) used by CMAC subkey generation (NIST SP 800-38B).
_GF128_R = 0x87
_MASK128 = (1 << 128) - 1


def _require_key(key: bytes, what: str = "key") -> None:
    if len(key) != KEY_SIZE:
        raise ValueError(f"{what} must be {KEY_SIZE} bytes, got {len(key)}")


def aes_ecb_encrypt(key: bytes, block: bytes) -> bytes:
    """Encrypt whole blocks with AES-128 in ECB mode.

    Returns the ciphertext, as long as ``block``.
    Raises ValueError if the key is not 16 bytes or ``block`` is not a multiple of 16 bytes.
    """
    _require_key(key)
    return AES.new(key, AES.MODE_ECB).encrypt(block)


def gf_double(block: bytes) -> bytes:
    """Multiply a 16-byte block by x in GF(2^128), as CMAC subkey generation does.

    Returns the 16-byte product. Raises ValueError if ``block`` is not 16 bytes.
    """
    if len(block) != BLOCK_SIZE:
        raise ValueError(f"block must be {BLOCK_SIZE} bytes, got {len(block)}")
    value = int.from_bytes(block, "big") << 1
    if value >> 128:
        value = (value & _MASK128) ^ _GF128_R
    return value.to_bytes(BLOCK_SIZE, "big")


def cmac_subkeys(key: bytes) -> tuple[bytes, bytes]:
    """Derive the AES-CMAC subkeys of ``key``.

    Returns (K1, K2). Raises ValueError if the key is not 16 bytes.
    """
    k1 = gf_double(aes_ecb_encrypt(key, bytes(BLOCK_SIZE)))
    return k1, gf_double(k1)


def aes_cmac(key: bytes, data: bytes, *, static_key: bool = False) -> bytes:
    """Compute AES-128 CMAC (NIST SP 800-38B) of ``data``.

    ``static_key`` marks a long-lived key (a key version's file read key): its cipher and
    subkeys are then cached, which makes each tap's session-key derivation one block operation.
    Per-tap session keys must not be cached (they would only evict the static ones).
    Returns the full 16-byte MAC. Raises ValueError if the key is not 16 bytes.
    """
    _require_key(key)
    cipher, k1, k2 = _cmac_context_cached(key) if static_key else _cmac_context(key)
    # Hand-rolled over one ECB cipher: pycryptodome's CMAC object costs several times more for
    # the one-to-three-block messages SUN uses. Checked against the NIST/NXP vectors.
    full, rest = divmod(len(data), BLOCK_SIZE)
    if len(data) and not rest:
        full -= 1
        last = bytes(a ^ b for a, b in zip(data[-BLOCK_SIZE:], k1, strict=True))
    else:
        tail = data[full * BLOCK_SIZE :] + b"\x80"
        tail = tail.ljust(BLOCK_SIZE, b"\x00")
        last = bytes(a ^ b for a, b in zip(tail, k2, strict=True))
    state = bytes(BLOCK_SIZE)
    for i in range(full):
        block = data[i * BLOCK_SIZE : (i + 1) * BLOCK_SIZE]
        state = cipher.encrypt(bytes(a ^ b for a, b in zip(state, block, strict=True)))
    mac: bytes = cipher.encrypt(bytes(a ^ b for a, b in zip(state, last, strict=True)))
    return mac


def _cmac_context(key: bytes) -> tuple[Any, bytes, bytes]:
    cipher = AES.new(key, AES.MODE_ECB)
    k1 = gf_double(cipher.encrypt(bytes(BLOCK_SIZE)))
    return cipher, k1, gf_double(k1)


@lru_cache(maxsize=64)
def _cmac_context_cached(key: bytes) -> tuple[Any, bytes, bytes]:
    return _cmac_context(key)


def truncate_mac(full: bytes) -> bytes:
    """Truncate a 16-byte CMAC to the 8-byte form NTAG 424 DNA transmits.

    Returns bytes 1, 3, 5, ..., 15 (odd indices) of ``full``.
    Raises ValueError if ``full`` is not 16 bytes.
    """
    if len(full) != BLOCK_SIZE:
        raise ValueError(f"full MAC must be {BLOCK_SIZE} bytes, got {len(full)}")
    return full[1::2]


def counter_bytes(counter: int) -> bytes:
    """Encode an SDMReadCtr the way the tag feeds it to its cryptography.

    Returns the 3-byte little-endian (LSB-first) encoding.
    Raises ValueError if ``counter`` is outside 0..0xFFFFFF.
    """
    if not 0 <= counter <= MAX_COUNTER:
        raise ValueError(f"counter must be in 0..{MAX_COUNTER:#x}, got {counter}")
    return counter.to_bytes(3, "little")


def _require_uid(uid: bytes) -> None:
    if len(uid) != UID_SIZE:
        raise ValueError(f"uid must be {UID_SIZE} bytes, got {len(uid)}")


def sdm_session_vectors(uid: bytes, counter: int) -> tuple[bytes, bytes]:
    """Build the AES-mode SDM session vectors of AN12196.

    Returns (SV1, SV2): label || 0001 0080 || UID || SDMReadCtr (LSB first), 16 bytes each.
    Raises ValueError for a UID that is not 7 bytes or a counter outside 0..0xFFFFFF.
    """
    _require_uid(uid)
    tail = _SV_HEADER + uid + counter_bytes(counter)
    return _SV1_LABEL + tail, _SV2_LABEL + tail


def aes_session_keys(file_read_key: bytes, uid: bytes, counter: int) -> tuple[bytes, bytes]:
    """Derive the AES-mode SDM session keys from the SDMFileReadKey.

    Returns (session_enc_key, session_mac_key) = (CMAC(key, SV1), CMAC(key, SV2)).
    Raises ValueError for a key that is not 16 bytes, a UID that is not 7 bytes or a
    counter outside 0..0xFFFFFF.
    """
    sv1, sv2 = sdm_session_vectors(uid, counter)
    return (
        aes_cmac(file_read_key, sv1, static_key=True),
        aes_cmac(file_read_key, sv2, static_key=True),
    )


def diversify_an10922(master_key: bytes, m: bytes) -> bytes:
    """Diversify an AES-128 key per NXP AN10922.

    D = 0x01 || M, padded with 80 00.. to 32 bytes; the diversified key is the CMAC of D,
    computed over the fixed 32-byte D (which is why this is not simply ``aes_cmac``: for a
    short M, plain CMAC would pad to 16 bytes only).
    Returns the 16-byte diversified key.
    Raises ValueError if the master key is not 16 bytes or M is not 1..31 bytes.
    """
    _require_key(master_key, "master key")
    if not 1 <= len(m) <= 31:
        raise ValueError(f"diversification input M must be 1..31 bytes, got {len(m)}")
    # A master key is a key version's long-lived key, diversified on every tap of its tags: its
    # cipher and subkeys are cached as aes_cmac's static keys are, saving two key set-ups a tap.
    cipher, k1, k2 = _cmac_context_cached(master_key)
    d = b"\x01" + m
    if len(d) == 2 * BLOCK_SIZE:
        subkey = k1
    else:
        subkey = k2
        d = (d + b"\x80").ljust(2 * BLOCK_SIZE, b"\x00")
    last = bytes(a ^ b for a, b in zip(d[BLOCK_SIZE:], subkey, strict=True))
    state = cipher.encrypt(d[:BLOCK_SIZE])
    key: bytes = cipher.encrypt(bytes(a ^ b for a, b in zip(state, last, strict=True)))
    return key
