"""AES building blocks against AN12196 and AN10922 vectors (tests/vectors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.verify.crypto import (
    aes_cmac,
    aes_session_keys,
    cmac_subkeys,
    counter_bytes,
    diversify_an10922,
    gf_double,
    sdm_session_vectors,
    truncate_mac,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
SUN = json.loads((VECTORS / "sun.json").read_text())
AN10922 = json.loads((VECTORS / "an10922.json").read_text())


def h(text: str) -> bytes:
    return bytes.fromhex(text)


@pytest.mark.parametrize("vec", SUN["session_keys"], ids=[v["id"] for v in SUN["session_keys"]])
def test_aes_session_keys_vector(vec: dict[str, Any]) -> None:
    uid = h(vec["uid"])
    counter = int.from_bytes(h(vec["counter_lsb_first"]), "little")
    assert counter_bytes(counter) == h(vec["counter_lsb_first"])
    assert sdm_session_vectors(uid, counter) == (h(vec["sv1"]), h(vec["sv2"]))
    assert aes_session_keys(h(vec["file_read_key"]), uid, counter) == (
        h(vec["session_enc_key"]),
        h(vec["session_mac_key"]),
    )


@pytest.mark.parametrize("vec", AN10922["vectors"], ids=[v["source"] for v in AN10922["vectors"]])
def test_an10922_vector(vec: dict[str, Any]) -> None:
    master = h(vec["master_key"])
    assert h(vec["m"]) == h(vec["uid"]) + h(vec["aid"]) + h(vec["system_identifier"])
    assert cmac_subkeys(master) == (h(vec["cmac_subkey_k1"]), h(vec["cmac_subkey_k2"]))
    assert diversify_an10922(master, h(vec["m"])) == h(vec["diversified_key"])


@settings(max_examples=200, deadline=None)
@given(master=st.binary(min_size=16, max_size=16), m=st.binary(min_size=16, max_size=31))
def test_an10922_equals_cmac_when_d_is_two_blocks(master: bytes, m: bytes) -> None:
    # With M of 16..31 bytes, D already spans two blocks, so AN10922 is exactly AES-CMAC(D):
    # an independent check of both the K1 (31 bytes) and the K2 padding paths.
    assert diversify_an10922(master, m) == aes_cmac(master, b"\x01" + m)


def test_an10922_short_m_pads_to_32_bytes() -> None:
    master, m = bytes(range(16)), bytes(7)
    # Plain CMAC would pad 0x01 || M to one block; AN10922 always pads to two.
    assert diversify_an10922(master, m) != aes_cmac(master, b"\x01" + m)
    k1, k2 = cmac_subkeys(master)
    assert k2 == gf_double(k1)


@pytest.mark.parametrize("m", [b"", bytes(32)], ids=["empty", "32-bytes"])
def test_an10922_rejects_bad_m(m: bytes) -> None:
    with pytest.raises(ValueError, match=r"1\.\.31 bytes"):
        diversify_an10922(bytes(16), m)


def test_truncate_mac_takes_odd_bytes() -> None:
    assert truncate_mac(bytes(range(16))) == bytes([1, 3, 5, 7, 9, 11, 13, 15])
    with pytest.raises(ValueError):
        truncate_mac(bytes(8))


def test_session_keys_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="uid"):
        aes_session_keys(bytes(16), bytes(6), 0)
    with pytest.raises(ValueError, match="counter"):
        aes_session_keys(bytes(16), bytes(7), 0x1000000)
    with pytest.raises(ValueError, match="counter"):
        aes_session_keys(bytes(16), bytes(7), -1)
    with pytest.raises(ValueError, match="key"):
        aes_session_keys(bytes(15), bytes(7), 0)


def test_gf_double_reduces() -> None:
    assert gf_double(bytes(15) + b"\x01") == bytes(15) + b"\x02"
    assert gf_double(b"\x80" + bytes(15)) == bytes(15) + b"\x87"


@settings(max_examples=300, deadline=None)
@given(key=st.binary(min_size=16, max_size=16), data=st.binary(max_size=80),
       static=st.booleans())
def test_fast_cmac_equals_reference_cmac(key: bytes, data: bytes, static: bool) -> None:
    """The hand-rolled CMAC must equal pycryptodome's reference for every length and key."""
    from Crypto.Cipher import AES as _AES
    from Crypto.Hash import CMAC as _CMAC

    expected = _CMAC.new(key, msg=data, ciphermod=_AES).digest()
    assert aes_cmac(key, data, static_key=static) == expected
