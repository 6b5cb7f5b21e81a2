"""SUN messages: published vectors, round trips, tamper properties, malformed input, inspect."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.verify.crypto import aes_cmac, aes_session_keys, truncate_mac
from app.verify.keys import KeyVersion
from app.verify.lrp import LRP, cmac_lrp, lrp_session_key
from app.verify.sun import (
    MalformedSun,
    SimulationNotAllowed,
    SunMessage,
    SunResult,
    decrypt_picc_data,
    decrypt_picc_plaintext,
    inspect,
    mint_query,
    parse_query,
    tamper_status,
    verify,
    verify_any,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
SUN = json.loads((VECTORS / "sun.json").read_text())

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KV = KeyVersion(
    "sim",
    meta_read_key=bytes.fromhex("0123456789ABCDEF0123456789ABCDEF"),
    file_read_key=bytes.fromhex("FEDCBA9876543210FEDCBA9876543210"),
    simulate=True,
)
KV_DIVERSIFIED = KeyVersion(
    "sim-div",
    meta_read_key=bytes.fromhex("00112233445566778899AABBCCDDEEFF"),
    file_read_master_key=bytes.fromhex("FFEEDDCCBBAA99887766554433221100"),
    system_identifier=bytes.fromhex("4E585020416275"),
    simulate=True,
    tag_tamper=True,
)
UID = bytes.fromhex("04A1B2C3D4E5F6")
PICC_AES = "EF963FF7828658A599F3041510671E88"
PICC_LRP = "1FCBE61B3E4CAD980CBFDD333E7A4AC4A579569BAFD22C5F"
MAC = "94EED9EE65337086"
ENC = "CEE9A53E3E463EF1F459635736738962"


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def vector_query(vec: dict[str, Any]) -> str:
    enc = f"&enc={vec['enc']}" if "enc" in vec else ""
    return f"picc_data={vec['picc_data']}{enc}&cmac={vec['cmac']}"


def vector_key_version(vec: dict[str, Any]) -> KeyVersion:
    return KeyVersion("vec", h(vec["meta_read_key"]), h(vec["file_read_key"]))


def split_query(query: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in query.split("&"))


def join_query(params: dict[str, str]) -> str:
    return "&".join(f"{name}={value}" for name, value in params.items())


# --- published vectors ----------------------------------------------------------------------


@pytest.mark.parametrize("vec", SUN["vectors"], ids=[v["id"] for v in SUN["vectors"]])
def test_sun_vector(vec: dict[str, Any]) -> None:
    msg = parse_query(vector_query(vec))
    assert msg.form == "encrypted"
    assert msg.mac_input == vec["mac_input"].encode("ascii")
    kv = vector_key_version(vec)
    expect = vec["expect"]
    result = verify(msg, kv)
    if not expect["valid"]:
        assert result is None
        # The PICCData is genuine: the rejection comes from the SDMMAC alone.
        assert decrypt_picc_data(kv.meta_read_key, msg.picc_data or b"") is not None
        return
    assert result is not None
    assert result.mode == vec["mode"]
    assert result.uid == h(expect["uid"])
    assert result.uid_hex == expect["uid"].upper()
    assert result.counter == expect["counter"]
    assert result.key_version == "vec"
    assert result.tamper is None
    assert result.file_data == (h(expect["file_data"]) if "file_data" in expect else None)
    if "picc_plaintext" in expect:
        assert decrypt_picc_plaintext(kv.meta_read_key, h(vec["picc_data"])) == h(
            expect["picc_plaintext"]
        )
    if vec["mode"] == "aes":
        _, mac_key = aes_session_keys(kv.file_key_for(result.uid), result.uid, result.counter)
        assert mac_key == h(expect["session_mac_key"])
        full = aes_cmac(mac_key, msg.mac_input)
        assert full == h(expect["full_cmac"])
    else:
        master = lrp_session_key(kv.file_key_for(result.uid), result.uid, result.counter)
        full = cmac_lrp(master, msg.mac_input)
    assert truncate_mac(full) == h(vec["cmac"])


def test_lrp_session_example() -> None:
    ex = SUN["lrp_session"]["example"]
    key = h(ex["key"])
    plaintext = LRP(key, 0, h(ex["iv_picc_rand"]), pad=False).decrypt(h(ex["picc_ciphertext"]))
    assert plaintext == h(ex["picc_plaintext"])
    picc_data = h(ex["iv_picc_rand"]) + h(ex["picc_ciphertext"])
    assert decrypt_picc_plaintext(key, picc_data) == plaintext
    decrypted = decrypt_picc_data(key, picc_data)
    assert decrypted == (plaintext[1:8], int.from_bytes(plaintext[8:11], "little"))
    uid, counter = decrypted
    master = lrp_session_key(key, uid, counter)
    assert master == h(ex["session_master_key"])
    mac = truncate_mac(LRP(master, 0).cmac(ex["mac_input_ascii"].encode("ascii")))
    assert mac == h(ex["cmac"])


def test_wrong_meta_key_gives_no_picc_data() -> None:
    assert decrypt_picc_data(bytes(range(16)), h(PICC_AES)) is None


# --- round trips ----------------------------------------------------------------------------


ROUND_TRIPS = [("plain", 0)] + [(m, b) for m in ("aes", "lrp") for b in (0, 1, 16)]


@pytest.mark.parametrize("kv", [KV, KV_DIVERSIFIED], ids=["as-is", "diversified"])
@pytest.mark.parametrize(
    ("mode", "blocks"), ROUND_TRIPS, ids=[f"{m}-{16 * b}-bytes" for m, b in ROUND_TRIPS]
)
def test_mint_round_trip(kv: KeyVersion, mode: str, blocks: int) -> None:
    file_data = bytes((i * 7 + 0x41) % 256 for i in range(blocks * 16)) or None
    query = mint_query(kv, UID, 0x12AB34, mode, file_data)
    params = split_query(query)
    assert all(value == value.upper() for value in params.values())
    msg = parse_query(query)
    tamper = tamper_status(file_data) if kv.tag_tamper and file_data else None
    assert verify(msg, kv) == SunResult(mode, UID, 0x12AB34, kv.name, file_data, tamper)
    if mode == "plain":
        assert list(params) == ["uid", "ctr", "cmac"]
        assert params["uid"] == UID.hex().upper() and params["ctr"] == "12AB34"
    else:
        assert list(params) == ["picc_data", "enc", "cmac"] if file_data else ["picc_data", "cmac"]
        assert len(msg.picc_data or b"") == (16 if mode == "aes" else 24)


@pytest.mark.parametrize("mode", ["aes", "lrp"])
@pytest.mark.parametrize(
    ("prefix", "status"),
    [
        (b"CC", "secure"),
        (b"OC", "tampered_closed"),
        (b"OO", "tampered_open"),
        (b"II", "not_initialized"),
        (b"XX", "unknown"),
    ],
)
def test_round_trip_tag_tamper(mode: str, prefix: bytes, status: str) -> None:
    file_data = prefix + b"rest-of-file" + bytes(2)
    query = mint_query(KV_DIVERSIFIED, UID, 7, mode, file_data)
    result = verify(parse_query(query), KV_DIVERSIFIED)
    assert result is not None
    assert result.file_data == file_data
    assert result.tamper == status
    assert tamper_status(prefix) == status


def test_tamper_is_none_without_tag_tamper_or_file_data() -> None:
    result = verify(parse_query(mint_query(KV, UID, 1, "aes", b"CC" + bytes(14))), KV)
    assert result is not None and result.tamper is None
    result = verify(parse_query(mint_query(KV_DIVERSIFIED, UID, 1, "aes")), KV_DIVERSIFIED)
    assert result is not None and result.tamper is None and result.file_data is None


@pytest.mark.parametrize("mode", ["aes", "lrp"])
def test_mint_is_fresh_each_time(mode: str) -> None:
    first, second = (mint_query(KV, UID, 5, mode) for _ in range(2))
    assert split_query(first)["picc_data"] != split_query(second)["picc_data"]
    assert verify(parse_query(first), KV) == verify(parse_query(second), KV)


def test_counter_extremes_round_trip() -> None:
    for counter in (0, 0xFFFFFF):
        for mode in ("aes", "lrp", "plain"):
            result = verify(parse_query(mint_query(KV, UID, counter, mode)), KV)
            assert result is not None and result.counter == counter


def test_mint_requires_simulate() -> None:
    kv = KeyVersion("prod", bytes(16), bytes(16), simulate=False)
    with pytest.raises(SimulationNotAllowed, match="'prod'"):
        mint_query(kv, UID, 1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"uid": bytes(6)}, "uid"),
        ({"uid": bytes(8)}, "uid"),
        ({"counter": -1}, "counter"),
        ({"counter": 0x1000000}, "counter"),
        ({"mode": "des"}, "mode"),
        ({"file_data": bytes(15)}, "multiple of 16"),
        ({"file_data": b""}, "multiple of 16"),
        ({"file_data": bytes(272)}, "at most 256"),
        ({"mode": "plain", "file_data": bytes(16)}, "plain"),
    ],
    ids=[
        "uid-6",
        "uid-8",
        "ctr-neg",
        "ctr-big",
        "mode",
        "file-15",
        "file-empty",
        "file-272",
        "plain-file",
    ],
)
def test_mint_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"uid": UID, "counter": 1, "mode": "aes", "file_data": None}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        mint_query(KV, **args)


# --- verify_any -----------------------------------------------------------------------------


def test_verify_any_tries_each_version_including_retired() -> None:
    retired = KeyVersion("old", KV.meta_read_key, KV.file_read_key, simulate=True, retired=True)
    other = KeyVersion("other", bytes(16), bytes(16))
    msg = parse_query(mint_query(retired, UID, 3, "lrp"))
    result = verify_any(msg, iter([other, retired, KV]))
    assert result is not None and result.key_version == "old"
    assert verify_any(msg, [other]) is None
    assert verify_any(msg, []) is None


# --- properties -----------------------------------------------------------------------------


@st.composite
def minted(
    draw: st.DrawFn, modes: tuple[str, ...] = ("aes", "lrp"), min_blocks: int = 0
) -> tuple[str, str]:
    """A (key version name, minted query) pair; file data of 0..3 blocks unless plain."""
    mode = draw(st.sampled_from(modes))
    uid = draw(st.binary(min_size=7, max_size=7))
    counter = draw(st.integers(0, 0xFFFFFF))
    blocks = 0 if mode == "plain" else draw(st.integers(min_blocks, 3))
    file_data = draw(st.binary(min_size=16 * blocks, max_size=16 * blocks)) if blocks else None
    kv = draw(st.sampled_from([KV, KV_DIVERSIFIED]))
    return kv.name, mint_query(kv, uid, counter, mode, file_data)


def key_version_named(name: str) -> KeyVersion:
    return KV if name == KV.name else KV_DIVERSIFIED


@PROPERTY
@given(case=minted(("aes", "lrp", "plain")), data=st.data())
def test_any_single_bit_flip_is_rejected(case: tuple[str, str], data: st.DataObject) -> None:
    name, query = case
    kv = key_version_named(name)
    assert verify(parse_query(query), kv) is not None
    params = split_query(query)
    field = data.draw(st.sampled_from(list(params)))
    raw = bytearray(h(params[field]))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= 1 << data.draw(st.integers(0, 7))
    params[field] = raw.hex().upper()
    try:
        msg = parse_query(join_query(params))
    except MalformedSun:
        return
    assert verify(msg, kv) is None
    assert verify_any(msg, [KV, KV_DIVERSIFIED]) is None


@PROPERTY
@given(case=minted(min_blocks=1), data=st.data())
def test_enc_case_flip_changes_mac_input_and_is_rejected(
    case: tuple[str, str], data: st.DataObject
) -> None:
    name, query = case
    params = split_query(query)
    letters = [i for i, c in enumerate(params["enc"]) if c in "ABCDEF"]
    assume(letters)
    index = data.draw(st.sampled_from(letters))
    enc = params["enc"]
    params["enc"] = enc[:index] + enc[index].lower() + enc[index + 1 :]
    original, flipped = parse_query(query), parse_query(join_query(params))
    assert flipped.enc == original.enc  # same bytes ...
    assert flipped.enc_text == params["enc"]
    assert flipped.mac_input != original.mac_input  # ... but different MAC input
    assert verify(flipped, key_version_named(name)) is None


@PROPERTY
@given(
    case=minted(("aes", "lrp", "plain")),
    meta=st.binary(min_size=16, max_size=16),
    file_key=st.binary(min_size=16, max_size=16),
)
def test_wrong_key_version_fails(case: tuple[str, str], meta: bytes, file_key: bytes) -> None:
    name, query = case
    kv = key_version_named(name)
    msg = parse_query(query)
    assume(meta != kv.meta_read_key and file_key != kv.file_read_key)
    assume(kv.file_read_master_key is None or file_key != kv.file_read_master_key)
    # Wrong both keys; right meta key but wrong file key (so the SDMMAC alone must reject).
    for wrong in (
        KeyVersion("wrong", meta, file_key),
        KeyVersion("wrong-file", kv.meta_read_key, file_key),
        KeyVersion("wrong-div", kv.meta_read_key, file_read_master_key=file_key),
    ):
        assert verify(msg, wrong) is None


@PROPERTY
@given(text=st.text(max_size=300))
def test_inspect_never_raises(text: str) -> None:
    report = inspect(text, [KV])
    assert report["valid"] is False and isinstance(report["error"], str)


@PROPERTY
@given(text=st.text(alphabet="picc_datenmuirx=&0123456789ABCDEFabcdef?%", max_size=120))
def test_parse_query_raises_only_malformed_sun(text: str) -> None:
    try:
        parse_query(text)
    except MalformedSun as exc:
        assert exc.reason == str(exc)


# --- malformed input ------------------------------------------------------------------------

ENC_RULE = "enc must be a non-empty multiple of 32 hex characters, at most 512"

MALFORMED = [
    ("no-params", "", "picc_data (or uid and ctr) is missing"),
    ("unrelated-only", "utm_source=x&utm_medium=nfc", "picc_data (or uid and ctr) is missing"),
    ("only-cmac", f"cmac={MAC}", "picc_data (or uid and ctr) is missing"),
    ("missing-cmac", f"picc_data={PICC_AES}", "cmac is missing"),
    ("missing-cmac-plain", "uid=04DE5F1EACC040&ctr=00003D", "cmac is missing"),
    (
        "picc-checked-before-cmac",
        f"picc_data={PICC_AES[:-2]}&cmac=xyz",
        "picc_data must be 32 or 48 hex characters",
    ),
    ("enc-without-picc", f"enc={ENC}&cmac={MAC}", "picc_data is missing"),
    ("uid-without-ctr", f"uid=04DE5F1EACC040&cmac={MAC}", "ctr is missing"),
    ("ctr-without-uid", f"ctr=00003D&cmac={MAC}", "uid is missing"),
    (
        "picc-short",
        f"picc_data={PICC_AES[:-2]}&cmac={MAC}",
        "picc_data must be 32 or 48 hex characters",
    ),
    (
        "picc-40",
        f"picc_data={PICC_AES}ABCDEF01&cmac={MAC}",
        "picc_data must be 32 or 48 hex characters",
    ),
    ("picc-no-value", f"picc_data&cmac={MAC}", "picc_data must be 32 or 48 hex characters"),
    (
        "picc-non-hex",
        f"picc_data={'G' * 32}&cmac={MAC}",
        "picc_data must be hexadecimal (0-9, A-F)",
    ),
    (
        "picc-space",
        f"picc_data={PICC_AES[:16]}%20{PICC_AES[19:]}&cmac={MAC}",
        "picc_data must be hexadecimal (0-9, A-F)",
    ),
    (
        "picc-lrp-non-hex",
        f"picc_data={PICC_LRP[:-1]}Z&cmac={MAC}",
        "picc_data must be hexadecimal (0-9, A-F)",
    ),
    ("cmac-short", f"picc_data={PICC_AES}&cmac={MAC[:-2]}", "cmac must be 16 hex characters"),
    ("cmac-long", f"picc_data={PICC_AES}&cmac={MAC}00", "cmac must be 16 hex characters"),
    (
        "cmac-non-hex",
        f"picc_data={PICC_AES}&cmac={MAC[:-1]}x",
        "cmac must be hexadecimal (0-9, A-F)",
    ),
    ("enc-empty", f"picc_data={PICC_AES}&enc=&cmac={MAC}", ENC_RULE),
    ("enc-31", f"picc_data={PICC_AES}&enc={ENC[:-1]}&cmac={MAC}", ENC_RULE),
    ("enc-48", f"picc_data={PICC_AES}&enc={ENC}{ENC[:16]}&cmac={MAC}", ENC_RULE),
    ("enc-544", f"picc_data={PICC_AES}&enc={ENC * 17}&cmac={MAC}", ENC_RULE),
    (
        "enc-non-hex",
        f"picc_data={PICC_AES}&enc={ENC[:-1]}-&cmac={MAC}",
        "enc must be hexadecimal (0-9, A-F)",
    ),
    ("uid-short", f"uid=04DE5F1EACC0&ctr=00003D&cmac={MAC}", "uid must be 14 hex characters"),
    (
        "uid-non-hex",
        f"uid=04DE5F1EACC04Q&ctr=00003D&cmac={MAC}",
        "uid must be hexadecimal (0-9, A-F)",
    ),
    ("ctr-short", f"uid=04DE5F1EACC040&ctr=00003&cmac={MAC}", "ctr must be 6 hex characters"),
    (
        "ctr-non-hex",
        f"uid=04DE5F1EACC040&ctr=+0003D&cmac={MAC}",
        "ctr must be hexadecimal (0-9, A-F)",
    ),
    (
        "mixed-forms",
        f"picc_data={PICC_AES}&uid=04DE5F1EACC040&ctr=00003D&cmac={MAC}",
        "cannot mix picc_data/enc with uid/ctr",
    ),
    (
        "mixed-enc-uid",
        f"enc={ENC}&uid=04DE5F1EACC040&ctr=00003D&cmac={MAC}",
        "cannot mix picc_data/enc with uid/ctr",
    ),
    (
        "duplicate-picc",
        f"picc_data={PICC_AES}&picc_data={PICC_AES}&cmac={MAC}",
        "duplicate parameter picc_data",
    ),
    ("duplicate-cmac", f"picc_data={PICC_AES}&cmac={MAC}&cmac={MAC}", "duplicate parameter cmac"),
    (
        "duplicate-enc",
        f"picc_data={PICC_AES}&enc={ENC}&enc={ENC}&cmac={MAC}",
        "duplicate parameter enc",
    ),
    ("duplicate-empty", f"picc_data={PICC_AES}&cmac=&cmac={MAC}", "duplicate parameter cmac"),
    (
        "too-long",
        f"picc_data={PICC_AES}&cmac={MAC}&utm_source={'x' * 2000}",
        "query is too long (over 2048 characters)",
    ),
]


@pytest.mark.parametrize(
    ("query", "reason"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed(query: str, reason: str) -> None:
    with pytest.raises(MalformedSun) as info:
        parse_query(query)
    assert info.value.reason == reason
    assert str(info.value) == reason
    assert isinstance(info.value, ValueError)


def test_parse_ignores_unrelated_params_and_leading_question_mark() -> None:
    query = f"?utm_source=nfc&picc_data={PICC_AES}&x&&cmac={MAC}&utm_medium=tag"
    msg = parse_query(query)
    assert msg == SunMessage("encrypted", h(PICC_AES), None, None, None, None, h(MAC))
    assert msg.mac_input == b""


def test_parse_keeps_enc_text_case() -> None:
    enc = ENC.lower()[:5] + ENC[5:]
    msg = parse_query(f"picc_data={PICC_AES.lower()}&enc={enc}&cmac={MAC.lower()}")
    assert msg.enc == h(ENC)
    assert msg.enc_text == enc
    assert msg.mac_input == f"{enc}&cmac=".encode("ascii")
    assert msg.picc_data == h(PICC_AES) and msg.cmac == h(MAC)


def test_parse_plain_form_counter_is_msb_first() -> None:
    msg = parse_query(f"uid=04de5f1eacc040&ctr=00003D&cmac={MAC}")
    assert (msg.form, msg.uid, msg.counter, msg.mac_input) == (
        "plain",
        h("04DE5F1EACC040"),
        61,
        b"",
    )


def test_parse_accepts_exactly_2048_characters() -> None:
    base = f"picc_data={PICC_AES}&cmac={MAC}&pad="
    assert parse_query(base + "x" * (2048 - len(base))).form == "encrypted"


# --- inspect --------------------------------------------------------------------------------

REPORT_KEYS = {"valid", "uid", "counter", "mode", "key_version", "tamper", "file_data", "error"}


@pytest.mark.parametrize(
    "wrap",
    [
        "{q}",
        "?{q}",
        "https://tap.example.com/t?{q}",
        "https://tap.example.com/01/09506000134352/21/ABC123?{q}#frag",
        "  https://tap.example.com/t?utm_source=x&{q}  ",
    ],
    ids=["bare", "question-mark", "url", "gs1-digital-link", "whitespace-and-extra"],
)
def test_inspect_accepts_urls_and_bare_queries(wrap: str) -> None:
    file_data = b"OC" + bytes(14)
    query = mint_query(KV_DIVERSIFIED, UID, 42, "lrp", file_data)
    report = inspect(wrap.format(q=query), [KV, KV_DIVERSIFIED])
    assert report == {
        "valid": True,
        "uid": UID.hex().upper(),
        "counter": 42,
        "mode": "lrp",
        "key_version": "sim-div",
        "tamper": "tampered_closed",
        "file_data": file_data.hex().upper(),
        "error": None,
    }
    json.dumps(report)


def test_inspect_vector() -> None:
    vec = SUN["vectors"][1]
    report = inspect(f"https://www.my424dna.com/?{vector_query(vec)}", [vector_key_version(vec)])
    assert report["valid"] is True
    assert (report["uid"], report["counter"], report["file_data"]) == (
        "04958CAA5C5E80",
        8,
        "78787878787878787878787878787878",
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("https://tap.example.com/t", "picc_data (or uid and ctr) is missing"),
        (f"https://tap.example.com/t?picc_data={PICC_AES}", "cmac is missing"),
        (f"picc_data={PICC_AES}&cmac={MAC[:-1]}", "cmac must be 16 hex characters"),
        ("https://[::1/t?x=1", "not a valid URL"),
        ("x" * 5000, "input is too long"),
        (
            f"picc_data={SUN['vectors'][2]['picc_data']}&enc={ENC}"
            f"&cmac={SUN['vectors'][2]['cmac']}",
            "the tap does not verify under any configured key version",
        ),
    ],
    ids=["no-query", "missing-cmac", "bad-cmac", "bad-url", "huge", "bad-mac-vector"],
)
def test_inspect_reports_errors(text: str, error: str) -> None:
    report = inspect(text, [vector_key_version(SUN["vectors"][2])])
    assert set(report) == REPORT_KEYS
    assert report["valid"] is False
    assert report["error"].startswith(error)
    assert all(report[k] is None for k in REPORT_KEYS - {"valid", "error"})


def test_inspect_non_string_input_does_not_raise() -> None:
    report = inspect(None, [KV])  # type: ignore[arg-type]
    assert report["valid"] is False


def test_a_minted_query_is_aes_unless_lrp_is_asked_for():
    # `tags tap` without --mode mints what most chips are personalised with: AES.
    message = parse_query(mint_query(KV, UID, 3))
    assert len(message.picc_data or b"") == 16
    assert verify(message, KV).counter == 3
