"""LRP (AN12304) against every vector in tests/vectors/lrp.json, by name."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from Crypto.Cipher import AES
from Crypto.Util import _raw_api
from hypothesis import given, settings
from hypothesis import strategies as st

from app.verify import lrp
from app.verify.lrp import (
    LRP,
    cmac_lrp,
    eval_lrp,
    generate_plaintexts,
    generate_updated_keys,
    lricb_decrypt,
    lricb_encrypt,
    lrp_session_key,
    lrp_session_vector,
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
@given(
    key=st.binary(min_size=16, max_size=16),
    data=st.binary(max_size=40),
    index=st.integers(min_value=0, max_value=3),
)
def test_static_key_cache_changes_no_result(key: bytes, data: bytes, index: int) -> None:
    """Caching a long-lived key's LRP context must give exactly the uncached answers."""
    cached = LRP(key, index, bytes(4), static_key=True)
    fresh = LRP(key, index, bytes(4))
    assert cached.cmac(data) == fresh.cmac(data)
    assert cached.encrypt(data.ljust(16, b"\0")[:16]) == fresh.encrypt(data.ljust(16, b"\0")[:16])


# --- The fast path against a straightforward reference -------------------------------------
# A transcription of AN12304 Algorithms 1-3 and 6 with one public AES.new per block, nothing
# cached or batched: what app/verify/lrp.py computes must never differ from it.


def _ref_aes(key: bytes, block: bytes) -> bytes:
    return AES.new(key, AES.MODE_ECB).encrypt(block)


def _ref_plaintexts(key: bytes) -> list[bytes]:
    h_ = _ref_aes(key, b"\x55" * 16)
    out = []
    for _ in range(16):
        out.append(_ref_aes(h_, b"\xaa" * 16))
        h_ = _ref_aes(h_, b"\x55" * 16)
    return out


def _ref_updated_key(key: bytes, index: int) -> bytes:
    h_ = _ref_aes(key, b"\xaa" * 16)
    for _ in range(index):
        h_ = _ref_aes(h_, b"\x55" * 16)
    return _ref_aes(h_, b"\xaa" * 16)


def _ref_eval(key: bytes, index: int, x: bytes, final: bool) -> bytes:
    plaintexts, y = _ref_plaintexts(key), _ref_updated_key(key, index)
    for nibble in x.hex():
        y = _ref_aes(y, plaintexts[int(nibble, 16)])
    return _ref_aes(y, bytes(16)) if final else y


def _ref_double(block: bytes) -> bytes:
    value = int.from_bytes(block, "big") << 1
    return ((value & (1 << 128) - 1) ^ (0x87 if value >> 128 else 0)).to_bytes(16, "big")


def _ref_cmac(key: bytes, index: int, data: bytes) -> bytes:
    k1 = _ref_double(_ref_eval(key, index, bytes(16), True))
    k2 = _ref_double(k1)
    blocks = [data[i : i + 16] for i in range(0, len(data), 16)] or [b""]
    last = blocks.pop()
    if len(last) == 16:
        last = bytes(a ^ b for a, b in zip(last, k1, strict=True))
    else:
        last = bytes(a ^ b for a, b in zip((last + b"\x80").ljust(16, b"\0"), k2, strict=True))
    y = bytes(16)
    for block in [*blocks, last]:
        y = _ref_eval(key, index, bytes(a ^ b for a, b in zip(y, block, strict=True)), True)
    return y


@pytest.fixture(params=["fast", "public"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test on the compiled-functions path and again on the public-API fallback."""
    if request.param == "public":
        monkeypatch.setattr(lrp, "_chain", lrp._chain_public)
        monkeypatch.setattr(lrp, "_decrypt_block", lrp._decrypt_public)
        # Cached contexts were computed by the other path: start this one from nothing.
        lrp._static_context.cache_clear()
        lrp._session_context.cache_clear()
    return str(request.param)


def test_the_fast_path_is_the_one_in_use() -> None:
    # pycryptodome's cffi backend and AES internals are present here: if a pycryptodome upgrade
    # moves them, LRP silently falls back to the public API and this says so.
    assert lrp._RAW is not None
    assert lrp._chain is lrp._RAW[0]


@pytest.mark.usefixtures("backend")
def test_every_vector_on_both_paths() -> None:
    test_generate_plaintexts_vector()
    test_generate_updated_keys_vector()
    for vec in LRP_VECTORS["eval_lrp"]:
        test_eval_lrp_vector(vec)
    test_lricb_vector_encrypt()
    test_lricb_vector_decrypt()
    for vec in LRP_VECTORS["cmac_lrp"]:
        test_cmac_lrp_vector(vec)


@settings(max_examples=60, deadline=None)
@given(
    key=st.binary(min_size=16, max_size=16),
    x=st.binary(max_size=20),
    data=st.binary(max_size=40),
    index=st.integers(0, 3),
    final=st.booleans(),
)
def test_lrp_equals_the_reference(
    key: bytes, x: bytes, data: bytes, index: int, final: bool
) -> None:
    plaintexts = generate_plaintexts(key)
    assert list(plaintexts) == _ref_plaintexts(key)
    assert generate_updated_keys(key, index + 1)[index] == _ref_updated_key(key, index)
    assert LRP(key, index).eval(x, final=final) == _ref_eval(key, index, x, final)
    assert cmac_lrp(key, data, index) == _ref_cmac(key, index, data)
    assert cmac_lrp(key, data, index, static_key=True) == _ref_cmac(key, index, data)


@settings(max_examples=60, deadline=None)
@given(
    key=st.binary(min_size=16, max_size=16),
    uid=st.binary(min_size=7, max_size=7),
    counter=st.integers(0, 0xFFFFFF),
)
def test_session_key_equals_the_reference_cmac(key: bytes, uid: bytes, counter: int) -> None:
    # lrp_session_key starts from a cached state after the session vector's fixed header.
    expected = _ref_cmac(key, 0, lrp_session_vector(uid, counter))
    assert lrp_session_key(key, uid, counter) == expected


@settings(max_examples=40, deadline=None)
@given(
    key=st.binary(min_size=16, max_size=16),
    counter=st.binary(min_size=1, max_size=8),
    block=st.binary(min_size=16, max_size=16),
)
def test_lricb_block_equals_the_reference(key: bytes, counter: bytes, block: bytes) -> None:
    keystream_key = _ref_eval(key, 1, counter, True)
    ciphertext = lricb_encrypt(key, 1, counter, block, pad=False)
    assert ciphertext == _ref_aes(keystream_key, block)
    assert lricb_decrypt(key, 1, counter, ciphertext, pad=False) == block


def test_short_keys_are_refused_before_any_aes() -> None:
    # The compiled functions read 16 key bytes whatever they are given.
    plaintexts = generate_plaintexts(bytes(16))
    with pytest.raises(ValueError, match="key"):
        generate_plaintexts(bytes(15))
    with pytest.raises(ValueError, match="key"):
        generate_updated_keys(bytes(15), 1)
    with pytest.raises(ValueError, match="key"):
        eval_lrp(plaintexts, bytes(15), b"\x01", True)
    with pytest.raises(ValueError, match="key"):
        lrp_session_key(bytes(15), bytes(7), 1)


def test_oversized_plaintexts_are_refused() -> None:
    # ECB writes as many bytes as it reads: a longer block would run past the output buffer.
    with pytest.raises(ValueError, match="at most 32 bytes"):
        eval_lrp((bytes(48),) * 16, bytes(16), b"\x01", True)
    with pytest.raises(ValueError, match="block must be 16 bytes"):
        lrp._decrypt_block(bytes(16), bytes(48))


def test_a_failed_compiled_call_raises() -> None:
    # ECB refuses data that is not whole blocks; the error must surface, not a stale buffer.
    with pytest.raises(ValueError, match="AES-ECB failed"):
        lrp._chain(bytes(16), [bytes(15)], None)


def test_no_fast_path_without_pycryptodome_cffi_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_raw_api, "backend", "ctypes")
    assert lrp._bind_raw() is None


@pytest.mark.parametrize("wrong", ["encrypt", "decrypt"])
def test_no_fast_path_when_it_disagrees_with_the_public_api(
    monkeypatch: pytest.MonkeyPatch, wrong: str
) -> None:
    public_new = AES.new

    class OneWrong:
        def __init__(self, key: bytes, mode: int) -> None:  # the probe asks for ECB only
            self.right = public_new(key, AES.MODE_ECB)

        def encrypt(self, block: bytes) -> bytes:
            return bytes(len(block)) if wrong == "encrypt" else self.right.encrypt(block)

        def decrypt(self, block: bytes) -> bytes:
            return bytes(len(block)) if wrong == "decrypt" else self.right.decrypt(block)

    monkeypatch.setattr(AES, "new", OneWrong)
    assert lrp._bind_raw() is None


def test_fast_path_on_the_portable_aes_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without AES-NI (or ARMv8 crypto) pycryptodome's portable C AES takes over.
    monkeypatch.setattr(AES, "_raw_aes_hw", None)
    raw = lrp._bind_raw()
    assert raw is not None
    key, block = bytes(range(16)), bytes(range(16, 48))
    assert raw[0](key, [block], None) == AES.new(key, AES.MODE_ECB).encrypt(block)


def test_threads_evaluating_at_once_get_their_own_answers() -> None:
    # cffi releases the GIL around each compiled call: threads share no buffer.
    rng = random.Random(15)
    cases = [(rng.randbytes(16), rng.randbytes(16)) for _ in range(40)]
    plaintexts = generate_plaintexts(bytes(range(16)))
    expected = [eval_lrp(plaintexts, key, x, True) for key, x in cases]

    def run(offset: int) -> bool:
        return all(
            eval_lrp(plaintexts, key, x, True) == want
            for _ in range(20)
            for (key, x), want in zip(
                cases[offset:] + cases[:offset], expected[offset:] + expected[:offset], strict=True
            )
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(run, range(0, 40, 5)))
