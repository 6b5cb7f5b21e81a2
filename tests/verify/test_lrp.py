"""LRP (AN12304) against every vector in tests/vectors/lrp.json, by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.verify.lrp import (
    LRP,
    cmac_lrp,
    eval_lrp,
    generate_plaintexts,
    generate_updated_keys,
    lricb_decrypt,
    lricb_encrypt,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
LRP_VECTORS = json.loads((VECTORS / "lrp.json").read_text())

# Every top-level entry of lrp.json and the test that covers it.
COVERED = {
    "generate_plaintexts": "test_generate_plaintexts_vector",
    "generate_updated_keys": "test_generate_updated_keys_vector",
    "eval_lrp": "test_eval_lrp_vector",
    "lricb": "test_lricb_vector_encrypt / test_lricb_vector_decrypt",
    "cmac_lrp": "test_cmac_lrp_vector",
}


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def test_every_lrp_vector_is_covered() -> None:
    assert set(LRP_VECTORS) - {"about"} == set(COVERED)


def test_generate_plaintexts_vector() -> None:
    vec = LRP_VECTORS["generate_plaintexts"]
    plaintexts = generate_plaintexts(h(vec["key"]))
    assert len(plaintexts) == 16
    assert plaintexts[0] == h(vec["P0"])
    assert plaintexts[15] == h(vec["P15"])


def test_generate_updated_keys_vector() -> None:
    vec = LRP_VECTORS["generate_updated_keys"]
    updated = generate_updated_keys(h(vec["key"]))
    assert updated[0] == h(vec["UK0"])
    assert updated[2] == h(vec["UK2"])


@pytest.mark.parametrize("vec", LRP_VECTORS["eval_lrp"], ids=[f"eval_lrp-{i}" for i in range(3)])
def test_eval_lrp_vector(vec: dict[str, Any]) -> None:
    key = h(vec["key"])
    index = vec["updated_key_index"]
    updated_key = generate_updated_keys(key, index + 1)[index]
    out = eval_lrp(generate_plaintexts(key), updated_key, h(vec["input"]), vec["final"])
    assert out == h(vec["out"])
    assert LRP(key, index).eval(h(vec["input"]), final=vec["final"]) == h(vec["out"])


def test_lricb_vector_encrypt() -> None:
    vec = LRP_VECTORS["lricb"]
    args = (h(vec["key"]), vec["updated_key_index"], h(vec["counter"]))
    assert lricb_encrypt(*args, h(vec["plaintext"]), pad=vec["padding"]) == h(vec["ciphertext"])


def test_lricb_vector_decrypt() -> None:
    vec = LRP_VECTORS["lricb"]
    args = (h(vec["key"]), vec["updated_key_index"], h(vec["counter"]))
    assert lricb_decrypt(*args, h(vec["ciphertext"]), pad=vec["padding"]) == h(vec["plaintext"])


@pytest.mark.parametrize("vec", LRP_VECTORS["cmac_lrp"], ids=[f"cmac_lrp-{i}" for i in range(2)])
def test_cmac_lrp_vector(vec: dict[str, Any]) -> None:
    assert cmac_lrp(h(vec["key"]), h(vec["message"])) == h(vec["mac"])
    assert LRP(h(vec["key"]), 0).cmac(h(vec["message"])) == h(vec["mac"])


@settings(max_examples=200, deadline=None)
@given(
    key=st.binary(min_size=16, max_size=16),
    counter=st.binary(min_size=1, max_size=8),
    data=st.binary(max_size=64),
    index=st.integers(0, 3),
)
def test_lricb_round_trip_with_padding(key: bytes, counter: bytes, data: bytes, index: int) -> None:
    ciphertext = lricb_encrypt(key, index, counter, data)
    assert len(ciphertext) % 16 == 0 and len(ciphertext) > len(data)
    assert lricb_decrypt(key, index, counter, ciphertext) == data


def test_lricb_counter_wraps_at_its_width() -> None:
    key, data = bytes(range(16)), bytes(range(32))
    two_blocks = lricb_encrypt(key, 1, b"\xff\xff", data, pad=False)
    assert two_blocks[:16] == lricb_encrypt(key, 1, b"\xff\xff", data[:16], pad=False)
    assert two_blocks[16:] == lricb_encrypt(key, 1, b"\x00\x00", data[16:], pad=False)


def test_lrp_instance_is_not_stateful() -> None:
    cipher = LRP(bytes(16), 1, bytes(6), pad=False)
    assert cipher.encrypt(bytes(16)) == cipher.encrypt(bytes(16))


def test_lricb_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="multiple of 16"):
        lricb_encrypt(bytes(16), 0, bytes(4), bytes(15), pad=False)
    with pytest.raises(ValueError, match="multiple of 16"):
        lricb_decrypt(bytes(16), 0, bytes(4), bytes(15))
    unpadded = lricb_encrypt(bytes(16), 0, bytes(4), bytes(16), pad=False)
    with pytest.raises(ValueError, match="padding"):
        lricb_decrypt(bytes(16), 0, bytes(4), unpadded)
    with pytest.raises(ValueError, match="counter"):
        LRP(bytes(16), 0).encrypt(bytes(16))
    with pytest.raises(ValueError, match="key"):
        LRP(bytes(8), 0)


def test_lrp_repr_hides_key() -> None:
    key = bytes.fromhex("E0C4935FF0C254CD2CEF8FDDC32460CF")
    text = repr(LRP(key, 0, b"\x00"))
    assert key.hex() not in text.lower()
    assert "updated_key_index=0" in text


@settings(max_examples=40, deadline=None)
@given(key=st.binary(min_size=16, max_size=16), data=st.binary(max_size=40),
       index=st.integers(min_value=0, max_value=3))
def test_static_key_cache_changes_no_result(key: bytes, data: bytes, index: int) -> None:
    """Caching a long-lived key's LRP context must give exactly the uncached answers."""
    cached = LRP(key, index, bytes(4), static_key=True)
    fresh = LRP(key, index, bytes(4))
    assert cached.cmac(data) == fresh.cmac(data)
    assert cached.encrypt(data.ljust(16, b"\0")[:16]) == fresh.encrypt(data.ljust(16, b"\0")[:16])
