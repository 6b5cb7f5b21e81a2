"""Leakage Resilient Primitive (LRP) per NXP AN12304, as NTAG 424 DNA uses it in LRP mode.

Only the reader (verifier) side: this code makes no attempt at the side-channel resistance
LRP exists to give the tag, which a server does not need.

The plaintext count is fixed at 16 (m = 4, one nibble per LRP step), the only parameter
NTAG 424 DNA uses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from Crypto.Cipher import AES

from app.verify.crypto import (
    BLOCK_SIZE,
    KEY_SIZE,
    counter_bytes,
    gf_double,
)

_PLAINTEXT_COUNT = 16
_UPPER = b"\x55" * BLOCK_SIZE
_LOWER = b"\xaa" * BLOCK_SIZE
_ZERO_BLOCK = bytes(BLOCK_SIZE)
# One block encrypted under h gives both the next h (upper half) and an output (lower half):
# Algorithms 1 and 2 step h with E_h(55..) and emit E_h(AA..), so one call serves both.
_UPPER_LOWER = _UPPER + _LOWER

# LRP-mode SDM session vector framing (NT4H2421Gx datasheet, SDM session key generation).
_SV_HEADER = bytes.fromhex("00010080")
_SV_TRAILER = bytes.fromhex("1EE1")

# A chain: encrypt blocks[0] under key, every next block under the first 16 bytes of the previous
# output; return the last output, and append every output to ``collect`` when it is given.
Chain = Callable[[bytes, Sequence[bytes], "list[bytes] | None"], bytes]
# Decrypt one 16-byte block under a key.
DecryptBlock = Callable[[bytes, bytes], bytes]


def _chain_public(key: bytes, blocks: Sequence[bytes], collect: list[bytes] | None) -> bytes:
    # The reference path, through pycryptodome's public API: one AES.new per block.
    out = key
    for block in blocks:
        out = AES.new(key, AES.MODE_ECB).encrypt(block)
        if collect is not None:
            collect.append(out)
        key = out[:KEY_SIZE]
    return out


def _decrypt_public(key: bytes, block: bytes) -> bytes:
    plain: bytes = AES.new(key, AES.MODE_ECB).decrypt(block)
    return plain


def _bind_raw() -> tuple[Chain, DecryptBlock] | None:
    """Bind pycryptodome's compiled AES and ECB functions, below its Python cipher objects.

    Every LRP step encrypts one block under a key never used before, so the cost is all key
    set-up, and AES.new spends about 15 us of Python on it (argument checks, three wrapper
    objects, smart pointers) around well under 1 us of C. Calling the same compiled functions
    pycryptodome itself calls costs about 2 us a step. They are pycryptodome internals
    (``Crypto.Cipher.AES``, ``Crypto.Cipher._mode_ecb``, its cffi backend), so this returns None
    whenever they are not what this code expects, and LRP then uses the public API.
    Returns (chain, decrypt_block) or None.
    """
    try:
        from Crypto.Cipher import _mode_ecb
        from Crypto.Util import _raw_api

        if _raw_api.backend != "cffi":
            return None
        ffi: Any = _raw_api.ffi
        hardware = getattr(AES, "_raw_aes_hw", None)
        start: Any = hardware[0] if hardware else AES._raw_aes_lib.AES_start_operation
        ecb: Any = _mode_ecb.raw_ecb_lib
        ecb_start, ecb_stop = ecb.ECB_start_operation, ecb.ECB_stop_operation
        ecb_encrypt, ecb_decrypt = ecb.ECB_encrypt, ecb.ECB_decrypt
    except (ImportError, AttributeError, TypeError, IndexError):
        return None

    local = threading.local()

    def buffers() -> tuple[Any, Any, Any, Any]:
        # One set per thread, made once: allocating them per call cost more than a tenth of an
        # LRP evaluation. Per thread because cffi releases the GIL around each C call, so gthread
        # workers verifying taps at once would otherwise write into each other's buffers. Every
        # result leaves as a bytes copy; nothing is read from them before it is written.
        try:
            found: tuple[Any, Any, Any, Any] = local.buffers
        except AttributeError:
            out = ffi.new("uint8_t[]", 2 * BLOCK_SIZE)
            found = local.buffers = (ffi.new("void **"), ffi.new("void **"), out, ffi.buffer(out))
        return found

    def chain(key: bytes, blocks: Sequence[bytes], collect: list[bytes] | None) -> bytes:
        cipher, mode, out, buffer = buffers()
        current: Any = key
        length = 0
        for block in blocks:
            length = len(block)
            if length > 2 * BLOCK_SIZE:
                # ECB writes as many bytes as it reads: more would run past ``out``.
                raise ValueError(f"chained blocks are at most 32 bytes, got {length}")
            # Inlined (this loop is the whole cost of LRP). The ECB state owns the cipher state
            # once started: stopping it frees both.
            if start(current, KEY_SIZE, cipher) or ecb_start(cipher[0], mode):
                raise RuntimeError("AES set-up failed")
            state = mode[0]
            failed = ecb_encrypt(state, block, out, length)
            ecb_stop(state)
            if failed:
                raise ValueError("AES-ECB failed")
            if collect is not None:
                collect.append(buffer[:length])
            # The next key is read straight from the output buffer: the key set-up copies it
            # before the output is overwritten.
            current = out
        return buffer[:length] if blocks else key

    def decrypt_block(key: bytes, block: bytes) -> bytes:
        if len(block) != BLOCK_SIZE:
            # The output buffer holds 32 bytes; LRICB decrypts one block per keystream key.
            raise ValueError(f"block must be {BLOCK_SIZE} bytes, got {len(block)}")
        cipher, mode, out, buffer = buffers()
        if start(key, KEY_SIZE, cipher) or ecb_start(cipher[0], mode):
            raise RuntimeError("AES set-up failed")
        failed = ecb_decrypt(mode[0], block, out, BLOCK_SIZE)
        ecb_stop(mode[0])
        if failed:
            raise ValueError("AES-ECB failed")
        plain: bytes = buffer[:BLOCK_SIZE]
        return plain

    # Refuse the fast path unless it gives the public API's answer (FIPS-197 C.1 key/plaintext).
    probe_key, probe = bytes(range(16)), bytes.fromhex("00112233445566778899aabbccddeeff")
    try:
        public = AES.new(probe_key, AES.MODE_ECB)
        if chain(probe_key, [probe], None) != public.encrypt(probe):
            return None
        if decrypt_block(probe_key, probe) != public.decrypt(probe):
            return None
    except (TypeError, ValueError, RuntimeError):
        return None
    return chain, decrypt_block


_RAW = _bind_raw()
_chain: Chain
_decrypt_block: DecryptBlock
_chain, _decrypt_block = _RAW if _RAW is not None else (_chain_public, _decrypt_public)


def _require_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError(f"key must be {KEY_SIZE} bytes, got {len(key)}")


def _context(key: bytes, updated_key_index: int) -> tuple[tuple[bytes, ...], bytes]:
    # Plaintexts and the selected updated key together: both start with one block under the key
    # (E_K(55..) starts Algorithm 1, E_K(AA..) Algorithm 2), so one call serves both starts.
    _require_key(key)
    first = _chain(key, [_UPPER_LOWER], None)
    plaintexts: list[bytes] = []
    _chain(first[:BLOCK_SIZE], [_UPPER_LOWER] * _PLAINTEXT_COUNT, plaintexts)
    updated: list[bytes] = []
    _chain(first[BLOCK_SIZE:], [_UPPER_LOWER] * (updated_key_index + 1), updated)
    return tuple(p[BLOCK_SIZE:] for p in plaintexts), updated[-1][BLOCK_SIZE:]


def generate_plaintexts(key: bytes) -> tuple[bytes, ...]:
    """Generate the 16 LRP plaintexts P0..P15 of ``key`` (AN12304 Algorithm 1).

    Returns a tuple of 16 blocks of 16 bytes. Raises ValueError if the key is not 16 bytes.
    """
    _require_key(key)
    steps: list[bytes] = []
    _chain(_chain(key, [_UPPER], None), [_UPPER_LOWER] * _PLAINTEXT_COUNT, steps)
    return tuple(step[BLOCK_SIZE:] for step in steps)


def generate_updated_keys(key: bytes, count: int = 4) -> tuple[bytes, ...]:
    """Generate the first ``count`` LRP updated keys UK0.. of ``key`` (AN12304 Algorithm 2).

    Returns a tuple of ``count`` 16-byte keys.
    Raises ValueError if the key is not 16 bytes or ``count`` is negative.
    """
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    _require_key(key)
    steps: list[bytes] = []
    _chain(_chain(key, [_LOWER], None), [_UPPER_LOWER] * count, steps)
    return tuple(step[BLOCK_SIZE:] for step in steps)


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
    _require_key(updated_key)
    blocks = [plaintexts[n] for byte in x for n in (byte >> 4, byte & 0x0F)]
    if final:
        blocks.append(_ZERO_BLOCK)
    return _chain(updated_key, blocks, None)


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

    __slots__ = ("_plaintexts", "_subkeys", "_updated_key", "counter", "pad", "updated_key_index")

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
        plaintexts, updated key and CMAC subkeys are then computed once per process, which is
        most of the cost of building an instance and half the cost of a one-block CMAC. Per-tap
        session keys must not be cached.
        Raises ValueError if the key is not 16 bytes or the index is negative.
        """
        if len(key) != KEY_SIZE:
            raise ValueError(f"key must be {KEY_SIZE} bytes, got {len(key)}")
        if updated_key_index < 0:
            raise ValueError(f"updated_key_index must not be negative, got {updated_key_index}")
        self._subkeys: tuple[bytes, bytes] | None = None
        if static_key:
            self._plaintexts, self._updated_key, self._subkeys = _static_context(
                key, updated_key_index
            )
        else:
            self._plaintexts, self._updated_key = _context(key, updated_key_index)
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
        return b"".join(_chain(key, [block], None) for key, block in self._keystream_blocks(data))

    def decrypt(self, data: bytes) -> bytes:
        """LRICB-decrypt ``data`` (AN12304 Algorithm 5) starting at this instance's counter.

        Returns the plaintext, with padding removed when ``pad`` is set.
        Raises ValueError if there is no counter, the data is not a multiple of 16 bytes,
        or (with ``pad``) the padding is invalid.
        """
        if len(data) % BLOCK_SIZE:
            raise ValueError("LRICB ciphertext must be a multiple of 16 bytes")
        plaintext = b"".join(
            _decrypt_block(key, block) for key, block in self._keystream_blocks(data)
        )
        return _strip_padding(plaintext) if self.pad else plaintext

    def cmac(self, data: bytes) -> bytes:
        """Compute CMAC_LRP of ``data`` (AN12304 Algorithm 6): CMAC with LRP as block cipher.

        Returns the full 16-byte MAC.
        """
        k1, k2 = self._subkeys or _cmac_subkeys(self._plaintexts, self._updated_key)
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


def _cmac_subkeys(plaintexts: tuple[bytes, ...], updated_key: bytes) -> tuple[bytes, bytes]:
    k1 = gf_double(eval_lrp(plaintexts, updated_key, _ZERO_BLOCK, True))
    return k1, gf_double(k1)


def _xor(a: bytes, b: bytes) -> bytes:
    # Through ints: a third of the cost of a byte-by-byte generator, and this runs on every tap.
    if len(a) != len(b):
        raise ValueError(f"cannot xor {len(a)} bytes with {len(b)}")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


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
def _static_context(
    key: bytes, updated_key_index: int
) -> tuple[tuple[bytes, ...], bytes, tuple[bytes, bytes]]:
    plaintexts, updated_key = _context(key, updated_key_index)
    return plaintexts, updated_key, _cmac_subkeys(plaintexts, updated_key)


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
    session_vector = lrp_session_vector(uid, counter)
    # SV is one whole block, so its CMAC_LRP is one LRP evaluation of SV xor K1 (Algorithm 6).
    # Its first 4 bytes are the fixed header, so the state after them is kept with the key.
    plaintexts, state, k1 = _session_context(file_read_key)
    rest = _xor(session_vector[len(_SV_HEADER) :], k1[len(_SV_HEADER) :])
    return eval_lrp(plaintexts, state, rest, True)


@lru_cache(maxsize=64)
def _session_context(file_read_key: bytes) -> tuple[tuple[bytes, ...], bytes, bytes]:
    plaintexts, updated_key, (k1, _) = _static_context(file_read_key, 0)
    header = _xor(_SV_HEADER, k1[: len(_SV_HEADER)])
    return plaintexts, eval_lrp(plaintexts, updated_key, header, False), k1
