"""NTAG 424 DNA SUN (Secure Dynamic Messaging) messages: parse, verify, mint, inspect.

Two URL forms are understood:

- encrypted: ``picc_data=<32|48 hex>[&enc=<hex>]&cmac=<16 hex>``. 32 hex characters of
  PICCData mean AES mode, 48 mean LRP mode (8-byte PICCRand || 16 bytes of LRICB ciphertext).
- plain mirror: ``uid=<14 hex>&ctr=<6 hex, MSB first>&cmac=<16 hex>`` (AES mode).

The SDMMAC covers the URL text between SDMMACInputOffset and SDMMACOffset: empty, or, when
``enc`` is mirrored, ``<enc text as it appears in the URL>&cmac=``.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit

from Crypto.Cipher import AES

from app.verify.crypto import (
    BLOCK_SIZE,
    MAX_COUNTER,
    UID_SIZE,
    aes_cmac,
    aes_ecb_encrypt,
    aes_session_keys,
    counter_bytes,
    sdm_session_vectors,
    truncate_mac,
)
from app.verify.keys import KeyVersion
from app.verify.lrp import LRP, lrp_session_key

MAX_QUERY_LENGTH = 2048
MAX_FILE_DATA = 256

# PICCDataTag: bit 7 UID mirrored, bit 6 SDMReadCtr mirrored, bits 5-4 RFU (0), bits 3-0 the
# UID length. Anything else is what a wrong key decrypts to.
PICC_DATA_TAG = 0xC7

_PICCRAND_SIZE = 8
_AES_PICC_HEX = 2 * BLOCK_SIZE
_LRP_PICC_HEX = 2 * (_PICCRAND_SIZE + BLOCK_SIZE)
_MAC_HEX = 16
_ENC_HEX_LENGTHS = tuple(range(2 * BLOCK_SIZE, 2 * MAX_FILE_DATA + 1, 2 * BLOCK_SIZE))
_PARAMS = ("picc_data", "enc", "cmac", "uid", "ctr")
_HEX_RE = re.compile(r"[0-9A-Fa-f]*")

_TAMPER_STATES = {
    b"CC": "secure",
    b"OC": "tampered_closed",
    b"OO": "tampered_open",
    b"II": "not_initialized",
}

Form = Literal["encrypted", "plain"]
Mode = Literal["aes", "lrp", "plain"]


class MalformedSun(ValueError):
    """The query is not a well-formed SUN message. ``.reason`` says why, for humans."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class SimulationNotAllowed(Exception):
    """Minting a simulated tap was refused: the key version does not set simulate = true."""


@dataclass(frozen=True)
class SunMessage:
    """A parsed SUN message. Values are decoded; ``enc_text`` keeps the enc value verbatim."""

    form: Form
    picc_data: bytes | None
    enc: bytes | None
    enc_text: str | None
    uid: bytes | None
    counter: int | None
    cmac: bytes

    @property
    def mac_input(self) -> bytes:
        """Return the bytes the SDMMAC covers: ``<enc text>&cmac=`` in ASCII, or empty.

        Empty for the plain mirror and for encrypted messages without ``enc``.
        """
        if self.form == "plain" or self.enc_text is None:
            return b""
        return (self.enc_text + "&cmac=").encode("ascii")


@dataclass(frozen=True)
class SunResult:
    """A verified tap."""

    mode: Mode
    uid: bytes
    counter: int
    key_version: str
    file_data: bytes | None
    tamper: str | None

    @property
    def uid_hex(self) -> str:
        """Return the UID as upper-case hex."""
        return self.uid.hex().upper()


def _hex_value(name: str, value: str, lengths: tuple[int, ...], rule: str) -> bytes:
    if not _HEX_RE.fullmatch(value):
        raise MalformedSun(f"{name} must be hexadecimal (0-9, A-F)")
    if len(value) not in lengths:
        raise MalformedSun(f"{name} must be {rule}")
    return bytes.fromhex(value)


def _parse_cmac(value: str) -> bytes:
    return _hex_value("cmac", value, (_MAC_HEX,), f"{_MAC_HEX} hex characters")


def _collect_params(raw_query: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in raw_query.split("&"):
        name, _, value = part.partition("=")
        if name not in _PARAMS:
            continue
        if name in found:
            raise MalformedSun(f"duplicate parameter {name}")
        found[name] = value
    return found


def parse_query(raw_query: str) -> SunMessage:
    """Parse the raw (still URL-encoded) query string of a tap URL.

    Working on the raw text keeps the enc value's case exactly as the tag wrote it, which the
    SDMMAC covers. Unrelated parameters are ignored; a leading "?" is allowed.
    Returns the SunMessage.
    Raises MalformedSun for a query over 2048 characters, duplicate SUN parameters, a mix of
    the encrypted and plain forms, missing parameters, non-hex values or wrong lengths.
    """
    if len(raw_query) > MAX_QUERY_LENGTH:
        raise MalformedSun(f"query is too long (over {MAX_QUERY_LENGTH} characters)")
    params = _collect_params(raw_query.removeprefix("?"))
    encrypted = "picc_data" in params or "enc" in params
    plain = "uid" in params or "ctr" in params
    if encrypted and plain:
        raise MalformedSun("cannot mix picc_data/enc with uid/ctr")
    if not encrypted and not plain:
        raise MalformedSun("picc_data (or uid and ctr) is missing")
    required = ("uid", "ctr", "cmac") if plain else ("picc_data", "cmac")
    for name in required:
        if name not in params:
            raise MalformedSun(f"{name} is missing")

    if plain:
        uid = _hex_value("uid", params["uid"], (2 * UID_SIZE,), "14 hex characters")
        ctr = _hex_value("ctr", params["ctr"], (6,), "6 hex characters")
        cmac = _parse_cmac(params["cmac"])
        return SunMessage("plain", None, None, None, uid, int.from_bytes(ctr, "big"), cmac)

    picc_data = _hex_value(
        "picc_data",
        params["picc_data"],
        (_AES_PICC_HEX, _LRP_PICC_HEX),
        f"{_AES_PICC_HEX} or {_LRP_PICC_HEX} hex characters",
    )
    enc = enc_text = None
    if "enc" in params:
        enc_text = params["enc"]
        enc = _hex_value(
            "enc",
            enc_text,
            _ENC_HEX_LENGTHS,
            f"a non-empty multiple of 32 hex characters, at most {2 * MAX_FILE_DATA}",
        )
    return SunMessage(
        "encrypted", picc_data, enc, enc_text, None, None, _parse_cmac(params["cmac"])
    )


def decrypt_picc_plaintext(meta_read_key: bytes, picc_data: bytes) -> bytes:
    """Decrypt encrypted PICCData with the SDMMetaReadKey, without interpreting it.

    AES mode (16 bytes): AES-CBC with a zero IV. LRP mode (24 bytes): LRICB of the last 16
    bytes under updated key #0 with the leading 8-byte PICCRand as counter.
    Returns the 16-byte plaintext.
    Raises ValueError if the key is not 16 bytes or picc_data is neither 16 nor 24 bytes.
    """
    if len(picc_data) not in (BLOCK_SIZE, _PICCRAND_SIZE + BLOCK_SIZE):
        raise ValueError(f"picc_data must be 16 or 24 bytes, got {len(picc_data)}")
    if len(picc_data) == BLOCK_SIZE:
        # A single block: AES-CBC with a zero IV is plain ECB decryption.
        plain: bytes = _static_ecb(meta_read_key).decrypt(picc_data)
        return plain
    rand, ciphertext = picc_data[:_PICCRAND_SIZE], picc_data[_PICCRAND_SIZE:]
    return LRP(meta_read_key, 0, rand, pad=False, static_key=True).decrypt(ciphertext)


@lru_cache(maxsize=64)
def _static_ecb(key: bytes) -> Any:
    # Meta read keys are few and long-lived: building their cipher once saves a key schedule per
    # tap and per key version tried.
    return AES.new(key, AES.MODE_ECB)


def decrypt_picc_data(meta_read_key: bytes, picc_data: bytes) -> tuple[bytes, int] | None:
    """Decrypt encrypted PICCData with the SDMMetaReadKey (AES: 16 bytes, LRP: 24 bytes).

    Returns (uid, counter), or None when the plaintext is not a PICCDataTag that mirrors a
    7-byte UID and the counter (what decrypting under a wrong key gives, bar 1 in 256).
    Raises ValueError if the key is not 16 bytes or picc_data is neither 16 nor 24 bytes.
    """
    plaintext = decrypt_picc_plaintext(meta_read_key, picc_data)
    if plaintext[0] != PICC_DATA_TAG:
        return None
    uid = plaintext[1 : 1 + UID_SIZE]
    counter = int.from_bytes(plaintext[1 + UID_SIZE : 4 + UID_SIZE], "little")
    return uid, counter


def _encrypt_picc(meta_read_key: bytes, uid: bytes, counter: int, lrp: bool) -> bytes:
    # The bytes after the counter are random on a real tag, so equal taps never repeat.
    plaintext = bytes([PICC_DATA_TAG]) + uid + counter_bytes(counter)
    plaintext += secrets.token_bytes(BLOCK_SIZE - len(plaintext))
    if not lrp:
        return aes_ecb_encrypt(meta_read_key, plaintext)
    rand = secrets.token_bytes(_PICCRAND_SIZE)
    return rand + LRP(meta_read_key, 0, rand, pad=False).encrypt(plaintext)


class _Session:
    """The per-tap session keys of one mode, derived once and used for MAC and file data."""

    def __init__(self, lrp: bool, file_key: bytes, uid: bytes, counter: int) -> None:
        self.lrp = lrp
        self.ctr = counter_bytes(counter)
        self._file_key, self._uid, self._counter = file_key, uid, counter
        if lrp:
            self._master = lrp_session_key(file_key, uid, counter)
        else:
            # Only the MAC key is needed for most taps; the ENC key waits for file data.
            sv2 = sdm_session_vectors(uid, counter)[1]
            self._mac_key = aes_cmac(file_key, sv2, static_key=True)

    def mac(self, mac_input: bytes) -> bytes:
        if self.lrp:
            return truncate_mac(LRP(self._master, 0).cmac(mac_input))
        return truncate_mac(aes_cmac(self._mac_key, mac_input))

    def _file_cipher(self) -> Any:
        if self.lrp:
            return LRP(self._master, 1, self.ctr + bytes(3), pad=False)
        enc_key = aes_session_keys(self._file_key, self._uid, self._counter)[0]
        iv = aes_ecb_encrypt(enc_key, self.ctr.ljust(BLOCK_SIZE, b"\x00"))
        return AES.new(enc_key, AES.MODE_CBC, iv=iv)

    def decrypt_file(self, enc: bytes) -> bytes:
        plain: bytes = self._file_cipher().decrypt(enc)
        return plain

    def encrypt_file(self, data: bytes) -> bytes:
        enc: bytes = self._file_cipher().encrypt(data)
        return enc


def tamper_status(file_data: bytes) -> str:
    """Read Tag Tamper status from the first two ASCII bytes of decrypted file data.

    Returns "secure" (CC), "tampered_closed" (OC), "tampered_open" (OO),
    "not_initialized" (II), or "unknown" for anything else.
    """
    return _TAMPER_STATES.get(file_data[:2], "unknown")


def verify(msg: SunMessage, kv: KeyVersion) -> SunResult | None:
    """Verify a parsed SUN message under one key version.

    Returns the SunResult, or None when the message does not verify under ``kv`` (PICCData
    is not a valid PICCDataTag under its meta read key, or the SDMMAC does not match).
    Retired versions verify like any other; what retirement means is the caller's decision.
    Raises ValueError only for a SunMessage that parse_query could not have produced.
    """
    if msg.form == "plain":
        if msg.uid is None or msg.counter is None:
            raise ValueError("plain SunMessage needs uid and counter")
        uid, counter = msg.uid, msg.counter
        mode: Mode = "plain"
    else:
        if msg.picc_data is None:
            raise ValueError("encrypted SunMessage needs picc_data")
        decrypted = decrypt_picc_data(kv.meta_read_key, msg.picc_data)
        if decrypted is None:
            return None
        uid, counter = decrypted
        mode = "lrp" if len(msg.picc_data) > BLOCK_SIZE else "aes"
    session = _Session(mode == "lrp", kv.file_key_for(uid), uid, counter)
    if not hmac.compare_digest(session.mac(msg.mac_input), msg.cmac):
        return None
    # Decrypt only after the MAC has authenticated the ciphertext.
    file_data = session.decrypt_file(msg.enc) if msg.enc is not None else None
    tamper = tamper_status(file_data) if kv.tag_tamper and file_data is not None else None
    return SunResult(mode, uid, counter, kv.name, file_data, tamper)


def verify_any(msg: SunMessage, key_versions: Iterable[KeyVersion]) -> SunResult | None:
    """Verify ``msg`` under each key version in turn, retired ones included.

    Returns the result of the first version it verifies under, or None.
    """
    for kv in key_versions:
        result = verify(msg, kv)
        if result is not None:
            return result
    return None


def mint_query(
    kv: KeyVersion,
    uid: bytes,
    counter: int,
    mode: str = "aes",
    file_data: bytes | None = None,
) -> str:
    """Mint the raw query string of a simulated tap, as a tag personalised with ``kv`` would.

    ``mode`` is "aes" or "lrp" (encrypted PICCData, optional encrypted file data) or "plain"
    (UID and counter mirrored in clear, no file data). Hex is upper case; PICCData padding and
    PICCRand are fresh random bytes each call.
    Returns e.g. ``picc_data=...&enc=...&cmac=...``.
    Raises SimulationNotAllowed unless kv.simulate; ValueError for a UID that is not 7 bytes,
    a counter outside 0..0xFFFFFF, an unknown mode, or file data that is empty, not a
    multiple of 16 bytes, over 256 bytes, or given in plain mode.
    """
    if not kv.simulate:
        raise SimulationNotAllowed(
            f"key version '{kv.name}' does not allow simulated taps (simulate = false)"
        )
    if len(uid) != UID_SIZE:
        raise ValueError(f"uid must be {UID_SIZE} bytes, got {len(uid)}")
    if not 0 <= counter <= MAX_COUNTER:
        raise ValueError(f"counter must be in 0..{MAX_COUNTER:#x}, got {counter}")
    if mode not in ("aes", "lrp", "plain"):
        raise ValueError(f"mode must be 'aes', 'lrp' or 'plain', got {mode!r}")
    if file_data is not None:
        if mode == "plain":
            raise ValueError("the plain mirror carries no file data")
        if not file_data or len(file_data) % BLOCK_SIZE or len(file_data) > MAX_FILE_DATA:
            raise ValueError(
                f"file data must be a non-empty multiple of {BLOCK_SIZE} bytes, "
                f"at most {MAX_FILE_DATA}"
            )
    session = _Session(mode == "lrp", kv.file_key_for(uid), uid, counter)
    if mode == "plain":
        mac = session.mac(b"").hex().upper()
        return f"uid={uid.hex().upper()}&ctr={counter:06X}&cmac={mac}"
    picc = _encrypt_picc(kv.meta_read_key, uid, counter, lrp=mode == "lrp").hex().upper()
    if file_data is None:
        return f"picc_data={picc}&cmac={session.mac(b'').hex().upper()}"
    enc = session.encrypt_file(file_data).hex().upper()
    mac = session.mac(f"{enc}&cmac=".encode("ascii")).hex().upper()
    return f"picc_data={picc}&enc={enc}&cmac={mac}"


def _query_of(text: str) -> str:
    if "://" not in text:
        return text.split("#", 1)[0]
    try:
        return urlsplit(text).query
    except ValueError as exc:  # e.g. a malformed IPv6 host
        raise MalformedSun(f"not a valid URL ({exc})") from None


def parse_tap_url(text: str) -> SunMessage:
    """Return the SUN message of a tap given as a bare query or a full URL (no key needed).

    Raises:
        MalformedSun: the input is not a well-formed tap.
    """
    text = text.strip() if isinstance(text, str) else ""
    # Bound the input before URL parsing, not only the query after it.
    if len(text) > 2 * MAX_QUERY_LENGTH:
        raise MalformedSun(f"input is too long (over {2 * MAX_QUERY_LENGTH} characters)")
    return parse_query(_query_of(text))


def inspect(raw_query: str, key_versions: Iterable[KeyVersion]) -> dict[str, Any]:
    """Explain a tap given as a bare query or a full URL.

    URLs may be ``https://host/t?...`` or GS1 Digital Link ``https://host/01/<gtin>/21/<serial>?...``.

    Returns a JSON-ready dict with keys valid, uid, counter, mode, key_version, tamper,
    file_data (hex upper case, or None) and error (None when valid). Never raises for bad
    input: malformed input gives valid False and the reason as error.
    """
    report: dict[str, Any] = {
        "valid": False,
        "uid": None,
        "counter": None,
        "mode": None,
        "key_version": None,
        "tamper": None,
        "file_data": None,
        "error": None,
    }
    try:
        msg = parse_tap_url(raw_query)
    except MalformedSun as exc:
        report["error"] = exc.reason
        return report
    result = verify_any(msg, key_versions)
    if result is None:
        report["error"] = "the tap does not verify under any configured key version"
        return report
    report.update(
        valid=True,
        uid=result.uid_hex,
        counter=result.counter,
        mode=result.mode,
        key_version=result.key_version,
        tamper=result.tamper,
        file_data=result.file_data.hex().upper() if result.file_data is not None else None,
    )
    return report
