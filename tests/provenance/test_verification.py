"""Checking an exported file offline, as a resale platform relies on it: signed, exact, expiring."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from Crypto.Signature import eddsa

from app.provenance.document import canonical_json, sign
from app.provenance.keys import b64url, b64url_decode, write_key_file
from app.provenance.verification import (
    PublicKeyError,
    public_jwks,
    public_keys_from_jwks,
    public_keys_from_text,
    signed_document,
    verify_document,
)
from tests.provenance.helpers import NOW, issue, owned


def test_good_record_verifies_with_only_the_published_public_key(db, key, public_keys):
    tag, _, ownership_id = owned(db)
    record = issue(db, key, tag, ownership_id)
    # The file as a platform receives it: text, re-indented, nothing shared with the service.
    text = json.dumps(signed_document(record), indent=4)
    result = verify_document(text, public_keys, NOW + timedelta(days=1))
    assert result.ok, result.reason
    assert result.reason == "valid"
    assert result.record is not None
    assert result.record["id"] == record.id
    assert result.record["item"]["serial"] == tag.item.serial


def test_any_ed25519_library_can_check_the_signed_bytes(db, key):
    """Nothing but the JWK's x and the file: the signature covers the document text verbatim."""
    tag, _, ownership_id = owned(db)
    exported = json.loads(json.dumps(signed_document(issue(db, key, tag, ownership_id))))
    jwk = public_jwks([key])["keys"][0]
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and jwk["alg"] == "EdDSA"
    public = eddsa.import_public_key(b64url_decode(jwk["x"]))
    eddsa.new(public, "rfc8032").verify(exported["document"].encode("utf-8"),
                                        b64url_decode(exported["signature"]))
    assert exported["key_id"] == jwk["kid"] == json.loads(exported["document"])["key_id"]


def test_a_changed_character_anywhere_in_the_document_fails(db, key, public_keys):
    tag, _, ownership_id = owned(db)
    good = signed_document(issue(db, key, tag, ownership_id))
    text = good["document"]
    # Without the readable copy, so only the signature can catch the change.
    bare = {"document": text, "signature": good["signature"]}
    assert verify_document(bare, public_keys, NOW).ok
    for i in range(0, len(text), 3):
        changed = text[:i] + ("X" if text[i] != "X" else "Y") + text[i + 1:]
        result = verify_document({**bare, "document": changed}, public_keys, NOW)
        assert not result.ok, i
        assert result.reason.startswith(("bad signature", "unknown key", "malformed file"))


def test_a_forged_serial_fails_as_bad_signature(db, key, public_keys):
    tag, _, ownership_id = owned(db, serial="AUR000123")
    good = signed_document(issue(db, key, tag, ownership_id))
    forged_doc = json.loads(good["document"])
    forged_doc["item"]["serial"] = "AUR000999"
    forged_doc["ownership"]["previous_owners"] = 0
    forged = {**good, "record": forged_doc, "document": canonical_json(forged_doc)}
    result = verify_document(forged, public_keys, NOW)
    assert (result.ok, result.reason, result.record) == (False, "bad signature", None)


def test_tampered_signature_fails(db, key, public_keys):
    tag, _, ownership_id = owned(db)
    good = signed_document(issue(db, key, tag, ownership_id))
    sig = bytearray(b64url_decode(good["signature"]))
    for position in (0, 31, 32, 63):
        bad = bytearray(sig)
        bad[position] ^= 0x01
        result = verify_document({**good, "signature": b64url(bytes(bad))}, public_keys, NOW)
        assert (result.ok, result.reason) == (False, "bad signature")
    short = verify_document({**good, "signature": good["signature"][:-4]}, public_keys, NOW)
    assert (short.ok, short.reason) == (False, "bad signature")


def test_edited_readable_copy_fails_even_though_the_signed_text_is_intact(db, key, public_keys):
    tag, _, ownership_id = owned(db)
    good = signed_document(issue(db, key, tag, ownership_id))
    good["record"]["ownership"]["previous_owners"] = 0
    good["record"]["item"]["made_in"] = "France"
    result = verify_document(good, public_keys, NOW)
    assert not result.ok
    assert "does not match" in result.reason


def test_expired_record_fails_with_expired_reason(db, key, public_keys):
    tag, _, ownership_id = owned(db)
    exported = signed_document(issue(db, key, tag, ownership_id, days=30))
    assert verify_document(exported, public_keys, NOW + timedelta(days=30, seconds=-1)).ok
    result = verify_document(exported, public_keys, NOW + timedelta(days=30))
    assert not result.ok
    assert result.reason.startswith("expired")
    assert result.record is not None  # authentic, just no longer valid


def test_unknown_key_fails(db, key, tmp_path):
    tag, _, ownership_id = owned(db)
    exported = signed_document(issue(db, key, tag, ownership_id))
    other = write_key_file(tmp_path / "other.pem")
    result = verify_document(exported, {other.key_id: other.public_raw}, NOW)
    assert (result.ok, result.reason) == (False, f"unknown key {key.key_id}")


def test_record_signed_by_another_key_under_our_key_id_fails(db, key, tmp_path, public_keys):
    """A forger who copies our key id into a document signed with their own key gets nowhere."""
    tag, _, ownership_id = owned(db)
    good = signed_document(issue(db, key, tag, ownership_id))
    forger = write_key_file(tmp_path / "forger.pem")
    forged = {**good, "signature": sign(forger, good["document"])}
    assert verify_document(forged, public_keys, NOW).reason == "bad signature"


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        "[]",
        {},
        {"document": "{}", "signature": "AA"},
        {"document": 1, "signature": "AA"},
        {"document": "{\"type\": \"aftertap.provenance/1\"}", "signature": "AA"},
        {"document": "nope", "signature": "AA"},
    ],
)
def test_malformed_files_fail(data, public_keys):
    result = verify_document(data, public_keys, NOW)
    assert not result.ok
    assert result.reason.startswith("malformed file")


def test_outer_key_id_must_match_the_signed_one(db, key, public_keys):
    tag, _, ownership_id = owned(db)
    good = signed_document(issue(db, key, tag, ownership_id))
    result = verify_document({**good, "key_id": "ed25519-0000000000000000"}, public_keys, NOW)
    assert not result.ok and result.reason.startswith("malformed file")


def test_public_key_as_pem_works_and_a_lying_kid_is_refused(db, key):
    tag, _, ownership_id = owned(db)
    exported = signed_document(issue(db, key, tag, ownership_id))
    pem = key.key.public_key().export_key(format="PEM")
    assert verify_document(exported, public_keys_from_text(pem), NOW).ok
    jwks = public_jwks([key])
    jwks["keys"][0]["kid"] = "ed25519-ffffffffffffffff"
    with pytest.raises(PublicKeyError):
        public_keys_from_jwks(jwks)
    with pytest.raises(PublicKeyError):
        public_keys_from_text("{\"keys\": []}")
    with pytest.raises(PublicKeyError):
        public_keys_from_text("hello")
