"""Leakage Resilient Primitive (LRP) per NXP AN12304, as NTAG 424 DNA uses it in LRP mode.

Only the reader (verifier) side: this code makes no attempt at the side-channel resistance
LRP exists to give the tag, which a server does not need.

The plaintext count is fixed at 16 (m = 4, one nibble per LRP step), the only parameter
NTAG 424 DNA uses.
"""

from __future__ import annotations

from functools import lru_cache

from Crypto.Cipher import AES

from app.verify.crypto import (
    BLOCK_SIZE,
    KEY_SIZE,
    aes_ecb_encrypt,
    counter_bytes,
    gf_double,
)

_PLAINTEXT_COUNT = 16
_UPPER = b"\x55" * BLOCK_SIZE
_LOWER = b"\xaa" * BLOCK_SIZE
_ZERO_BLOCK = bytes(BLOCK_SIZE)

# LRP-mode SDM session vector framing (NT4H2421Gx datasheet, SDM session key generation).
_SV_HEADER = bytes.fromhex("00010080")
_SV_TRAILER = bytes.fromhex("1EE1")


def generate_plaintexts(key: bytes) -> tuple[bytes, ...]:
    """Generate the 16 LRP plaintexts P0..P15 of ``key`` (AN12304 Algorithm 1).

    Returns a tuple of 16 blocks of 16 bytes. Raises ValueError if the key is not 16 bytes.
    """
    h = aes_ecb_encrypt(key, _UPPER)
    plaintexts = []
    for _ in range(_PLAINTEXT_COUNT):
        plaintexts.append(aes_ecb_encrypt(h, _LOWER))
        h = aes_ecb_encrypt(h, _UPPER)
    return tuple(plaintexts)


def generate_updated_keys(key: bytes, count: int = 4) -> tuple[bytes, ...]:
    """Generate the first ``count`` LRP updated keys UK0.. of ``key`` (AN12304 Algorithm 2).

    Returns a tuple of ``count`` 16-byte keys.
    Raises ValueError if the key is not 16 bytes or ``count`` is negative.
    """
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    h = aes_ecb_encrypt(key, _LOWER)
    updated = []
    for _ in range(count):
        updated.append(aes_ecb_encrypt(h, _LOWER))
        h = aes_ecb_encrypt(h, _UPPER)
    return tuple(updated)


def eval_lrp(
    plaintexts: tuple[bytes, ...] | list[bytes], updated_key: bytes, x: bytes, final: bool
) -> bytes:
    """Evaluate LRP on input ``x`` (AN12304 Algorithm 3), one step per nibble, high nibble first.

    ``final`` adds the closing encryption of a zero block, as LRICB and CMAC_LRP require.
    Returns the 16-byte output. Raises ValueError if ``updated_key`` is not 16 bytes or
    there are not 16 plaintexts.
    """
    if len(plaintexts) != _PLAINTEXT_COUNT:
        raise ValueError(f"expected {_PLAINTEXT_COUNT} plaintexts, got {len(plaintexts)}")
    y = updated_key
    for byte in x:
        y = aes_ecb_encrypt(y, plaintexts[byte >> 4])
        y = aes_ecb_encrypt(y, plaintexts[byte & 0x0F])
    if final:
        y = aes_ecb_encrypt(y, _ZERO_BLOCK)
    return y


def _increment(counter: bytes) -> bytes:
    # The LRICB counter is a big-endian integer that wraps at its own width (AN12304 4.2).
    width = len(counter)
    value = (int.from_bytes(counter, "big") + 1) % (1 << (8 * width))
    return value.to_bytes(width, "big")


def _strip_padding(data: bytes) -> bytes:
    stripped = data.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80 or len(data) - len(stripped) >= BLOCK_SIZE:
        raise ValueError("invalid LRICB padding")
    return stripped[:-1]


class LRP:
    """An LRP instance: a key with one selected updated key, an LRICB counter and padding choice.

    Immutable: ``encrypt``/``decrypt`` always start from the counter given here, so one
    instance gives the same answer every time (unlike the stateful reference code).
    """

    __slots__ = ("_plaintexts", "_updated_key", "counter", "pad", "updated_key_index")

    def __init__(
        self,
        key: bytes,
        updated_key_index: int,
        counter: bytes | None = None,
        pad: bool = True,
        *,
        static_key: bool = False,
    ) -> None:
        """Precompute plaintexts and the selected updated key.

        ``static_key`` marks a long-lived key (a key version's meta or file read key): its
        plaintexts and updated keys are then computed once per process, which is most of the cost
        of building an instance. Per-tap session keys must not be cached.
        Raises ValueError if the key is not 16 bytes or the index is negative.
        """
        if len(key) != KEY_SIZE:
            raise ValueError(f"key must be {KEY_SIZE} bytes, got {len(key)}")
        if updated_key_index < 0:
            raise ValueError(f"updated_key_index must not be negative, got {updated_key_index}")
        if static_key:
            self._plaintexts, self._updated_key = _static_context(key, updated_key_index)
        else:
            self._plaintexts = generate_plaintexts(key)
            self._updated_key = generate_updated_keys(key, updated_key_index + 1)[-1]
        self.updated_key_index = updated_key_index
        self.counter = counter
        self.pad = pad

    def __repr__(self) -> str:
        # Never show key material: instances may end up in logs or tracebacks.
        return f"LRP(updated_key_index={self.updated_key_index}, pad={self.pad})"

    def eval(self, x: bytes, final: bool = True) -> bytes:
        """Evaluate LRP on ``x`` under this instance's updated key.

        Returns 16 bytes. See ``eval_lrp``.
        """
        return eval_lrp(self._plaintexts, self._updated_key, x, final)

    def _keystream_blocks(self, data: bytes) -> list[tuple[bytes, bytes]]:
        if self.counter is None:
            raise ValueError("LRICB needs a counter")
        counter = self.counter
        pairs = []
        for start in range(0, len(data), BLOCK_SIZE):
            pairs.append((self.eval(counter, final=True), data[start : start + BLOCK_SIZE]))
            counter = _increment(counter)
        return pairs

    def encrypt(self, data: bytes) -> bytes:
        """LRICB-encrypt ``data`` (AN12304 Algorithm 4) starting at this instance's counter.

        With ``pad`` the data gets ISO/IEC 9797-1 method 2 padding (80 00..) first.
        Returns the ciphertext. Raises ValueError if there is no counter, or without ``pad``
        if the data is not a multiple of 16 bytes.
        """
        if self.pad:
            data = data + b"\x80"
            data = data.ljust(-(-len(data) // BLOCK_SIZE) * BLOCK_SIZE, b"\x00")
        elif len(data) % BLOCK_SIZE:
            raise ValueError("without padding, LRICB data must be a multiple of 16 bytes")
        return b"".join(
            AES.new(key, AES.MODE_ECB).encrypt(block) for key, block in self._keystream_blocks(data)
        )

    def decrypt(self, data: bytes) -> bytes:
        """LRICB-decrypt ``data`` (AN12304 Algorithm 5) starting at this instance's counter.

        Returns the plaintext, with padding removed when ``pad`` is set.
        Raises ValueError if there is no counter, the data is not a multiple of 16 bytes,
        or (with ``pad``) the padding is invalid.
        """
        if len(data) % BLOCK_SIZE:
            raise ValueError("LRICB ciphertext must be a multiple of 16 bytes")
        plaintext = b"".join(
            AES.new(key, AES.MODE_ECB).decrypt(block) for key, block in self._keystream_blocks(data)
        )
        return _strip_padding(plaintext) if self.pad else plaintext

    def cmac(self, data: bytes) -> bytes:
        """Compute CMAC_LRP of ``data`` (AN12304 Algorithm 6): CMAC with LRP as block cipher.

        Returns the full 16-byte MAC.
        """
        k1 = gf_double(self.eval(_ZERO_BLOCK, final=True))
        k2 = gf_double(k1)
        if data and len(data) % BLOCK_SIZE == 0:
            body, last, subkey = data[:-BLOCK_SIZE], data[-BLOCK_SIZE:], k1
        else:
            cut = len(data) - len(data) % BLOCK_SIZE
            body, subkey = data[:cut], k2
            last = (data[cut:] + b"\x80").ljust(BLOCK_SIZE, b"\x00")
        y = _ZERO_BLOCK
        for start in range(0, len(body), BLOCK_SIZE):
            y = self.eval(_xor(y, body[start : start + BLOCK_SIZE]), final=True)
        return self.eval(_xor(_xor(y, last), subkey), final=True)


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def lricb_encrypt(
    key: bytes, updated_key_index: int, counter: bytes, data: bytes, pad: bool = True
) -> bytes:
    """LRICB-encrypt ``data`` under ``key``'s updated key ``updated_key_index``.

    Returns the ciphertext. Raises ValueError as ``LRP.encrypt`` does.
    """
    return LRP(key, updated_key_index, counter, pad).encrypt(data)


def lricb_decrypt(
    key: bytes, updated_key_index: int, counter: bytes, data: bytes, pad: bool = True
) -> bytes:
    """LRICB-decrypt ``data`` under ``key``'s updated key ``updated_key_index``.

    Returns the plaintext. Raises ValueError as ``LRP.decrypt`` does.
    """
    return LRP(key, updated_key_index, counter, pad).decrypt(data)


@lru_cache(maxsize=64)
def _static_context(key: bytes, updated_key_index: int) -> tuple[tuple[bytes, ...], bytes]:
    return generate_plaintexts(key), generate_updated_keys(key, updated_key_index + 1)[-1]


def cmac_lrp(
    key: bytes, data: bytes, updated_key_index: int = 0, *, static_key: bool = False
) -> bytes:
    """Compute CMAC_LRP of ``data`` under ``key``'s updated key ``updated_key_index``.

    Returns the full 16-byte MAC. Raises ValueError if the key is not 16 bytes.
    """
    return LRP(key, updated_key_index, static_key=static_key).cmac(data)


def lrp_session_vector(uid: bytes, counter: int) -> bytes:
    """Build the LRP-mode SDM session vector.

    Returns 0001 0080 || UID || SDMReadCtr (LSB first) || zero padding || 1EE1 (16 bytes; with
    a 7-byte UID and a counter the zero padding is empty).
    Raises ValueError for a UID that is not 7 bytes or a counter outside 0..0xFFFFFF.
    """
    if len(uid) != 7:
        raise ValueError(f"uid must be 7 bytes, got {len(uid)}")
    body = _SV_HEADER + uid + counter_bytes(counter)
    padded = body.ljust(-(-(len(body) + 2) // BLOCK_SIZE) * BLOCK_SIZE - 2, b"\x00")
    return padded + _SV_TRAILER


def lrp_session_key(file_read_key: bytes, uid: bytes, counter: int) -> bytes:
    """Derive the LRP-mode SesSDMFileReadMasterKey = CMAC_LRP(SDMFileReadKey, SV).

    SDMMAC uses this key's updated key #0, file data decryption its updated key #1.
    Returns the 16-byte session master key.
    Raises ValueError for a bad key, UID or counter.
    """
    return cmac_lrp(file_read_key, lrp_session_vector(uid, counter), static_key=True)
