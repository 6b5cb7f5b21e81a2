"""Key versions: parsing and validation of the TOML key file, AN10922 diversification, demo keys."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from app.verify.keys import (
    KeyFileError,
    KeyVersion,
    load_key_versions,
    parse_key_versions,
    write_demo_keys_file,
)
from app.verify.sun import mint_query, parse_query, verify

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
AN10922 = json.loads((VECTORS / "an10922.json").read_text())["vectors"][0]

META = "000102030405060708090A0B0C0D0E0F"
FILE = "A0A1A2A3A4A5A6A7A8A9AAABACADAEAF"
MASTER = "F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF"

GOOD = f"""
[key_versions.demo-2026]
meta_read_key = "{META}"
file_read_key = "{FILE.lower()}"
tag_tamper = false
simulate = true

[key_versions."batch_2.diversified"]
meta_read_key = "{META}"
file_read_master_key = "{MASTER}"
system_identifier = "{AN10922["aid"]}{AN10922["system_identifier"]}"
tag_tamper = true
simulate = false
retired = true
"""


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def version_text(**fields: Any) -> str:
    """One version 'v1' with valid defaults; a field set to None is left out."""
    table: dict[str, Any] = {
        "meta_read_key": META,
        "file_read_key": FILE,
        "tag_tamper": False,
        "simulate": False,
    }
    table.update(fields)
    lines = [f"{k} = {toml_value(v)}" for k, v in table.items() if v is not None]
    return "[key_versions.v1]\n" + "\n".join(lines) + "\n"


def test_parse_good_file() -> None:
    versions = parse_key_versions(GOOD, "keys.toml")
    assert list(versions) == ["demo-2026", "batch_2.diversified"]
    demo = versions["demo-2026"]
    assert demo == KeyVersion(
        "demo-2026", bytes.fromhex(META), bytes.fromhex(FILE), None, b"", False, True, False
    )
    assert demo.file_key_for(bytes(7)) == bytes.fromhex(FILE)
    assert not demo.diversified
    div = versions["batch_2.diversified"]
    assert div.file_read_key is None and div.file_read_master_key == bytes.fromhex(MASTER)
    assert div.diversified and div.tag_tamper and not div.simulate and div.retired


def test_diversified_file_key_equals_an10922_vector() -> None:
    kv = KeyVersion(
        "an10922",
        meta_read_key=bytes(16),
        file_read_master_key=bytes.fromhex(AN10922["master_key"]),
        system_identifier=bytes.fromhex(AN10922["aid"] + AN10922["system_identifier"]),
    )
    assert kv.file_key_for(bytes.fromhex(AN10922["uid"])) == bytes.fromhex(
        AN10922["diversified_key"]
    )
    with pytest.raises(ValueError, match="uid"):
        kv.file_key_for(bytes(8))


BAD_FIELDS = [
    (
        "meta-short",
        {"meta_read_key": META[:-2]},
        "meta_read_key",
        "meta_read_key must be 32 hex characters",
    ),
    (
        "meta-long",
        {"meta_read_key": META + "00"},
        "meta_read_key",
        "meta_read_key must be 32 hex characters",
    ),
    (
        "meta-odd",
        {"meta_read_key": META[:-1]},
        "meta_read_key",
        "meta_read_key must be 32 hex characters",
    ),
    (
        "meta-non-hex",
        {"meta_read_key": "Z" * 32},
        "meta_read_key",
        "meta_read_key must be 32 hex characters",
    ),
    (
        "meta-0x",
        {"meta_read_key": "0x" + META[2:]},
        "meta_read_key",
        "meta_read_key must be 32 hex characters",
    ),
    ("meta-int", {"meta_read_key": 5}, "meta_read_key", "meta_read_key must be 32 hex characters"),
    ("meta-missing", {"meta_read_key": None}, "meta_read_key", "meta_read_key is required"),
    (
        "file-short",
        {"file_read_key": FILE[:30]},
        "file_read_key",
        "file_read_key must be 32 hex characters",
    ),
    (
        "master-bad",
        {"file_read_key": None, "file_read_master_key": "AB"},
        "file_read_master_key",
        "file_read_master_key must be 32 hex characters",
    ),
    (
        "both-file-keys",
        {"file_read_master_key": MASTER},
        "file_read_key",
        "exactly one of file_read_key and file_read_master_key must be set",
    ),
    (
        "no-file-key",
        {"file_read_key": None},
        "file_read_key",
        "exactly one of file_read_key and file_read_master_key must be set",
    ),
    (
        "sysid-odd",
        {"file_read_key": None, "file_read_master_key": MASTER, "system_identifier": "ABC"},
        "system_identifier",
        "system_identifier must be an even number of hex characters, at most 48",
    ),
    (
        "sysid-too-long",
        {"file_read_key": None, "file_read_master_key": MASTER, "system_identifier": "00" * 25},
        "system_identifier",
        "system_identifier must be an even number of hex characters, at most 48",
    ),
    (
        "sysid-without-master",
        {"system_identifier": "4E585020416275"},
        "system_identifier",
        "system_identifier only applies with file_read_master_key",
    ),
    ("tamper-string", {"tag_tamper": "false"}, "tag_tamper", "tag_tamper must be true or false"),
    (
        "tamper-missing",
        {"tag_tamper": None},
        "tag_tamper",
        "tag_tamper is required (true or false)",
    ),
    ("simulate-int", {"simulate": 1}, "simulate", "simulate must be true or false"),
    ("simulate-missing", {"simulate": None}, "simulate", "simulate is required (true or false)"),
    ("retired-string", {"retired": "yes"}, "retired", "retired must be true or false"),
    ("unknown-field", {"meta_read_kye": META}, "meta_read_kye", "unknown field meta_read_kye"),
]


@pytest.mark.parametrize(
    ("fields", "field", "message"), [c[1:] for c in BAD_FIELDS], ids=[c[0] for c in BAD_FIELDS]
)
def test_bad_field(fields: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(KeyFileError) as info:
        parse_key_versions(version_text(**fields), "/etc/aftertap/keys.toml")
    assert str(info.value) == f"/etc/aftertap/keys.toml: key version 'v1': {message}"
    assert (info.value.source, info.value.version, info.value.field) == (
        "/etc/aftertap/keys.toml",
        "v1",
        field,
    )


def test_error_message_does_not_echo_key_material() -> None:
    almost = FILE[:-1]
    with pytest.raises(KeyFileError) as info:
        parse_key_versions(version_text(file_read_key=almost))
    assert almost.lower() not in str(info.value).lower()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("key_versions = [", "not valid TOML"),
        ("", "defines no key versions"),
        ("[key_versions]\n", "defines no key versions"),
        ("key_versions = 5\n", "defines no key versions"),
        ("[keys.v1]\nmeta_read_key = 'x'\n", "unknown top-level field keys"),
        ("[key_versions]\nv1 = 5\n", "key version 'v1': must be a table of settings"),
        (version_text().replace("v1", '"bad name"'), "key version 'bad name': the name must be"),
    ],
    ids=[
        "invalid-toml",
        "empty",
        "empty-table",
        "not-a-table",
        "unknown-top-level",
        "version-not-table",
        "bad-name",
    ],
)
def test_bad_file_structure(text: str, message: str) -> None:
    with pytest.raises(KeyFileError) as info:
        parse_key_versions(text, "k.toml")
    assert str(info.value).startswith("k.toml: ")
    assert message in str(info.value)


def test_load_key_versions_reads_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(GOOD)
    assert load_key_versions(path) == parse_key_versions(GOOD)
    assert load_key_versions(str(path)).keys() == {"demo-2026", "batch_2.diversified"}


def test_load_key_versions_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(KeyFileError, match="key file does not exist") as info:
        load_key_versions(missing)
    assert str(missing) in str(info.value)
    with pytest.raises(KeyFileError, match="cannot read key file"):
        load_key_versions(tmp_path)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(KeyFileError, match="not UTF-8"):
        load_key_versions(binary)
    bad = tmp_path / "bad.toml"
    bad.write_text(version_text(simulate="no"))
    with pytest.raises(KeyFileError, match=f"^{bad}: key version 'v1': simulate must be"):
        load_key_versions(bad)


def test_key_version_rejects_impossible_combinations() -> None:
    with pytest.raises(ValueError, match="meta_read_key"):
        KeyVersion("x", bytes(8), bytes(16))
    with pytest.raises(ValueError, match="exactly one"):
        KeyVersion("x", bytes(16))
    with pytest.raises(ValueError, match="exactly one"):
        KeyVersion("x", bytes(16), bytes(16), bytes(16))
    with pytest.raises(ValueError, match="16 bytes"):
        KeyVersion("x", bytes(16), bytes(15))
    with pytest.raises(ValueError, match="system_identifier"):
        KeyVersion("x", bytes(16), bytes(16), system_identifier=b"\x01")
    with pytest.raises(ValueError, match="system_identifier"):
        KeyVersion("x", bytes(16), None, bytes(16), system_identifier=bytes(25))


def test_repr_shows_no_key_material() -> None:
    versions = parse_key_versions(GOOD)
    for kv in versions.values():
        for text in (repr(kv), str(kv), f"{kv}", repr(versions)):
            for key in (META, FILE, MASTER):
                assert key.lower() not in text.lower()
    assert repr(versions["demo-2026"]).startswith("KeyVersion(name='demo-2026'")


def test_write_demo_keys_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "keys.toml"
    kv = write_demo_keys_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key_versions(path) == {"demo-2026": kv}
    assert kv.simulate and not kv.retired and not kv.tag_tamper and not kv.diversified
    assert kv.meta_read_key != kv.file_read_key
    # The demo keys work end to end.
    assert verify(parse_query(mint_query(kv, bytes(7), 1, "aes", bytes(16))), kv) is not None


def test_write_demo_keys_file_is_random_each_time(tmp_path: Path) -> None:
    first = write_demo_keys_file(tmp_path / "a.toml")
    second = write_demo_keys_file(tmp_path / "b.toml", name="demo-b")
    assert second.name == "demo-b"
    assert first.meta_read_key != second.meta_read_key
    assert first.file_read_key != second.file_read_key


def test_write_demo_keys_file_refuses_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text("# operator's real keys\n")
    with pytest.raises(FileExistsError):
        write_demo_keys_file(path)
    assert path.read_text() == "# operator's real keys\n"


def test_write_demo_keys_file_mode_ignores_umask(tmp_path: Path) -> None:
    previous = os.umask(0o277)
    try:
        write_demo_keys_file(tmp_path / "keys.toml")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "keys.toml").stat().st_mode) == 0o600


def test_write_demo_keys_file_rejects_bad_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="name"):
        write_demo_keys_file(tmp_path / "keys.toml", name="bad name]\n[x")
    assert not (tmp_path / "keys.toml").exists()


def test_a_system_identifier_of_the_largest_allowed_length_loads():
    # 24 bytes (48 hex characters) is the limit the error message promises: it must be accepted.
    text = f"""
[key_versions.longest]
meta_read_key = "{META}"
file_read_master_key = "{MASTER}"
system_identifier = "{"A5" * 24}"
tag_tamper = false
simulate = false
"""
    kv = parse_key_versions(text)["longest"]
    assert kv.system_identifier == bytes.fromhex("A5" * 24)
