"""Provenance records as a resale platform relies on them: signed, exact, expiring, anonymous."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from Crypto.Signature import eddsa
from sqlalchemy import select

from app.catalog.access import NotOwner
from app.catalog.views import item_view
from app.core.audit import AuditEntry
from app.core.errors import Conflict
from app.ownership.service import set_stolen
from app.provenance import KEY_EXTENSION
from app.provenance import service as prov
from app.provenance.keys import b64url, b64url_decode, write_key_file
from tests.provenance.helpers import EMAIL, NOW, owned, resold, serviced


@pytest.fixture
def key(app):  # type: ignore[no-untyped-def]
    return app.extensions[KEY_EXTENSION]


@pytest.fixture
def public_keys(key):  # type: ignore[no-untyped-def]
    """The verifier's only input besides the file: the published JWK set, as JSON text."""
    return prov.public_keys_from_text(json.dumps(prov.public_jwks([key])))


def issue(db, key, tag, ownership_id, at=NOW, days=90):  # type: ignore[no-untyped-def]
    record = prov.issue_record(db, key, {"PROVENANCE_VALID_DAYS": days}, item_view(tag.item),
                               ownership_id, at)
    db.commit()
    return record


def test_good_record_verifies_with_only_the_published_public_key(db, key, public_keys):
    tag, _, ownership_id = owned(db)
    record = issue(db, key, tag, ownership_id)
    # The file as a platform receives it: text, re-indented, nothing shared with the service.
    text = json.dumps(prov.signed_document(record), indent=4)
    result = prov.verify_document(text, public_keys, NOW + timedelta(days=1))
    assert result.ok, result.reason
    assert result.reason == "valid"
    assert result.record is not None
    assert result.record["id"] == record.id
    assert result.record["item"]["serial"] == tag.item.serial


def test_any_ed25519_library_can_check_the_signed_bytes(db, key):
    """Nothing but the JWK's x and the file: the signature covers the document text verbatim."""
    tag, _, ownership_id = owned(db)
    exported = json.loads(json.dumps(prov.signed_document(issue(db, key, tag, ownership_id))))
    jwk = prov.public_jwks([key])["keys"][0]
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and jwk["alg"] == "EdDSA"
    public = eddsa.import_public_key(b64url_decode(jwk["x"]))
    eddsa.new(public, "rfc8032").verify(exported["document"].encode("utf-8"),
                                        b64url_decode(exported["signature"]))
    assert exported["key_id"] == jwk["kid"] == json.loads(exported["document"])["key_id"]


def test_document_is_canonical_json_with_the_agreed_fields(db, key):
    tag, _, ownership_id = owned(db)
    record = issue(db, key, tag, ownership_id)
    doc = json.loads(record.document)
    assert record.document == prov.canonical_json(doc)
    assert ": " not in record.document and ", " not in record.document
    assert doc["type"] == "aftertap.provenance/1"
    assert doc["id"] == record.id and len(record.id) == 32
    assert doc["issued_at"] == "2026-03-01T12:00:00Z"
    assert doc["expires_at"] == "2026-05-30T12:00:00Z"  # 90 days
    assert doc["issuer"] == {"brand": "maison-aurelia", "name": "Maison Aurelia"}
    assert doc["key_id"] == key.key_id == record.key_id
    product = tag.item.product
    assert doc["item"] == {
        "gtin": product.gtin, "serial": tag.item.serial, "product": product.name,
        "category": "bag", "made_in": "Italy", "material": "calfskin",
        "made_on": prov.parse_time(prov.format_time(tag.item.created_at)).date().isoformat(),
    }
    assert doc["ownership"] == {"previous_owners": 0, "current_owner_since": "2026-03-01"}
    assert doc["service"] == {"count": 0, "last": None, "kinds": []}
    assert prov.format_time(record.expires_at) == doc["expires_at"]


def test_history_counts_previous_owners_and_summarises_service(db, key):
    tag, _, _ = owned(db, at=NOW - timedelta(days=400))
    serviced(db, tag.item, "cleaning", NOW - timedelta(days=300))
    serviced(db, tag.item, "repair", NOW - timedelta(days=200))
    serviced(db, tag.item, "cleaning", NOW - timedelta(days=20))
    resold(db, tag, NOW - timedelta(days=100))
    _, ownership_id = resold(db, tag, NOW - timedelta(days=10))
    doc = json.loads(issue(db, key, tag, ownership_id).document)
    since = (NOW - timedelta(days=10)).date().isoformat()
    assert doc["ownership"] == {"previous_owners": 2, "current_owner_since": since}
    assert doc["service"] == {"count": 3, "last": (NOW - timedelta(days=20)).date().isoformat(),
                              "kinds": ["cleaning", "repair"]}


def test_document_holds_no_personal_data(db, key):
    tag, owner, ownership_id = owned(db)
    serviced(db, tag.item, "repair", NOW - timedelta(days=1))
    record = issue(db, key, tag, ownership_id)
    exported = json.dumps(prov.signed_document(record), ensure_ascii=False)
    for secret in (EMAIL, "alice", owner.public_id, "Atelier", "Note for", "internal_cost",
                   "EUR 112", "warranty"):
        assert secret not in exported
    doc = json.loads(record.document)
    assert set(doc) == {"type", "id", "issued_at", "expires_at", "issuer", "key_id", "item",
                        "ownership", "service"}
    assert set(doc["ownership"]) == {"previous_owners", "current_owner_since"}


def test_a_changed_character_anywhere_in_the_document_fails(db, key, public_keys):
    tag, _, ownership_id = owned(db)
    good = prov.signed_document(issue(db, key, tag, ownership_id))
    text = good["document"]
    # Without the readable copy, so only the signature can catch the change.
    bare = {"document": text, "signature": good["signature"]}
    assert prov.verify_document(bare, public_keys, NOW).ok
    for i in range(0, len(text), 3):
        changed = text[:i] + ("X" if text[i] != "X" else "Y") + text[i + 1:]
        result = prov.verify_document({**bare, "document": changed}, public_keys, NOW)
        assert not result.ok, i
        assert result.reason.startswith(("bad signature", "unknown key", "malformed file"))


def test_a_forged_serial_fails_as_bad_signature(db, key, public_keys):
    tag, _, ownership_id = owned(db, serial="AUR000123")
    good = prov.signed_document(issue(db, key, tag, ownership_id))
    forged_doc = json.loads(good["document"])
    forged_doc["item"]["serial"] = "AUR000999"
    forged_doc["ownership"]["previous_owners"] = 0
    forged = {**good, "record": forged_doc, "document": prov.canonical_json(forged_doc)}
    result = prov.verify_document(forged, public_keys, NOW)
    assert (result.ok, result.reason, result.record) == (False, "bad signature", None)


def test_tampered_signature_fails(db, key, public_keys):
    tag, _, ownership_id = owned(db)
    good = prov.signed_document(issue(db, key, tag, ownership_id))
    sig = bytearray(b64url_decode(good["signature"]))
    for position in (0, 31, 32, 63):
        bad = bytearray(sig)
        bad[position] ^= 0x01
        result = prov.verify_document({**good, "signature": b64url(bytes(bad))}, public_keys, NOW)
        assert (result.ok, result.reason) == (False, "bad signature")
    short = prov.verify_document({**good, "signature": good["signature"][:-4]}, public_keys, NOW)
    assert (short.ok, short.reason) == (False, "bad signature")


def test_edited_readable_copy_fails_even_though_the_signed_text_is_intact(db, key, public_keys):
    tag, _, ownership_id = owned(db)
    good = prov.signed_document(issue(db, key, tag, ownership_id))
    good["record"]["ownership"]["previous_owners"] = 0
    good["record"]["item"]["made_in"] = "France"
    result = prov.verify_document(good, public_keys, NOW)
    assert not result.ok
    assert "does not match" in result.reason


def test_expired_record_fails_with_expired_reason(db, key, public_keys):
    tag, _, ownership_id = owned(db)
    exported = prov.signed_document(issue(db, key, tag, ownership_id, days=30))
    assert prov.verify_document(exported, public_keys, NOW + timedelta(days=30, seconds=-1)).ok
    result = prov.verify_document(exported, public_keys, NOW + timedelta(days=30))
    assert not result.ok
    assert result.reason.startswith("expired")
    assert result.record is not None  # authentic, just no longer valid


def test_unknown_key_fails(db, key, tmp_path):
    tag, _, ownership_id = owned(db)
    exported = prov.signed_document(issue(db, key, tag, ownership_id))
    other = write_key_file(tmp_path / "other.pem")
    result = prov.verify_document(exported, {other.key_id: other.public_raw}, NOW)
    assert (result.ok, result.reason) == (False, f"unknown key {key.key_id}")


def test_record_signed_by_another_key_under_our_key_id_fails(db, key, tmp_path, public_keys):
    """A forger who copies our key id into a document signed with their own key gets nowhere."""
    tag, _, ownership_id = owned(db)
    good = prov.signed_document(issue(db, key, tag, ownership_id))
    forger = write_key_file(tmp_path / "forger.pem")
    forged = {**good, "signature": prov.sign(forger, good["document"])}
    assert prov.verify_document(forged, public_keys, NOW).reason == "bad signature"


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
    result = prov.verify_document(data, public_keys, NOW)
    assert not result.ok
    assert result.reason.startswith("malformed file")


def test_outer_key_id_must_match_the_signed_one(db, key, public_keys):
    tag, _, ownership_id = owned(db)
    good = prov.signed_document(issue(db, key, tag, ownership_id))
    result = prov.verify_document({**good, "key_id": "ed25519-0000000000000000"}, public_keys, NOW)
    assert not result.ok and result.reason.startswith("malformed file")


def test_public_key_as_pem_works_and_a_lying_kid_is_refused(db, key):
    tag, _, ownership_id = owned(db)
    exported = prov.signed_document(issue(db, key, tag, ownership_id))
    pem = key.key.public_key().export_key(format="PEM")
    assert prov.verify_document(exported, prov.public_keys_from_text(pem), NOW).ok
    jwks = prov.public_jwks([key])
    jwks["keys"][0]["kid"] = "ed25519-ffffffffffffffff"
    with pytest.raises(prov.PublicKeyError):
        prov.public_keys_from_jwks(jwks)
    with pytest.raises(prov.PublicKeyError):
        prov.public_keys_from_text("{\"keys\": []}")
    with pytest.raises(prov.PublicKeyError):
        prov.public_keys_from_text("hello")


def test_only_the_current_owner_can_issue_and_not_for_a_stolen_item(db, key):
    tag, _, first = owned(db)
    _, second = resold(db, tag, NOW)
    with pytest.raises(NotOwner):
        issue(db, key, tag, first)
    db.rollback()
    set_stolen(db, tag.item, True, NOW, actor="admin", reason="police report")
    db.commit()
    with pytest.raises(Conflict):
        issue(db, key, tag, second)


def test_issue_and_revoke_are_audited_without_personal_data(db, key):
    tag, owner, ownership_id = owned(db)
    record = issue(db, key, tag, ownership_id)
    prov.revoke_record(db, record.id, NOW, owner_id=owner.id)
    db.commit()
    entries = db.scalars(select(AuditEntry).where(AuditEntry.action.like("provenance_%"))
                         .order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor, e.owner_id, e.detail["record_id"]) for e in entries] == [
        ("provenance_issue", "owner", owner.id, record.id),
        ("provenance_revoke", "owner", owner.id, record.id),
    ]


def test_revocation_rules(db, key):
    tag, owner, ownership_id = owned(db)
    record = issue(db, key, tag, ownership_id)
    later = issue(db, key, tag, ownership_id, at=NOW + timedelta(minutes=1))
    _, stranger, _ = owned(db)  # owns another item
    with pytest.raises(NotOwner):
        prov.revoke_record(db, record.id, NOW, owner_id=stranger.id)
    with pytest.raises(NotOwner):
        prov.revoke_record(db, record.id, NOW)
    db.rollback()
    revoked = prov.revoke_record(db, record.id, NOW + timedelta(hours=1), owner_id=owner.id)
    db.commit()
    assert revoked.revoked_at is not None
    with pytest.raises(Conflict):
        prov.revoke_record(db, record.id, NOW, owner_id=owner.id)
    db.rollback()
    # Once the item is sold on, the seller can no longer withdraw what they issued; the brand can.
    resold(db, tag, NOW + timedelta(days=1))
    with pytest.raises(NotOwner):
        prov.revoke_record(db, later.id, NOW, owner_id=owner.id)
    db.rollback()
    prov.revoke_record(db, later.id, NOW, admin=True, reason="listing withdrawn")
    db.commit()


def test_records_for_item_lists_status_and_who_may_revoke(db, key):
    tag, owner, ownership_id = owned(db)
    old = issue(db, key, tag, ownership_id, at=NOW - timedelta(days=100))
    withdrawn = issue(db, key, tag, ownership_id, at=NOW - timedelta(days=2))
    current = issue(db, key, tag, ownership_id, at=NOW - timedelta(days=1))
    prov.revoke_record(db, withdrawn.id, NOW, owner_id=owner.id)
    db.commit()
    listed = prov.records_for_item(db, tag.item.id, current_key_id=key.key_id, now=NOW)
    assert [(r.id, r.status, r.can_revoke) for r in listed] == [
        (current.id, "valid", True), (withdrawn.id, "revoked", False), (old.id, "expired", True),
    ]
    retired = prov.records_for_item(db, tag.item.id, current_key_id="ed25519-new", now=NOW)
    assert retired[0].status == "retired_key"
    resold(db, tag, NOW)
    after_sale = prov.records_for_item(db, tag.item.id, now=NOW)
    assert [(r.status, r.can_revoke) for r in after_sale] == [
        ("changed_hands", False), ("revoked", False), ("expired", False),
    ]


def test_status_reads_theft_and_changes_of_hands_now(db, key):
    tag, _, ownership_id = owned(db)
    record = issue(db, key, tag, ownership_id)
    assert prov.current_status(db, record, key.key_id, NOW) == "valid"
    assert prov.current_status(db, record, key.key_id, NOW + timedelta(days=90)) == "expired"
    set_stolen(db, tag.item, True, NOW, actor="admin", reason="police report")
    db.commit()
    assert prov.current_status(db, record, key.key_id, NOW) == "stolen"
    set_stolen(db, tag.item, False, NOW, actor="admin", reason="found")
    db.commit()
    resold(db, tag, NOW + timedelta(hours=1))
    assert prov.current_status(db, record, key.key_id, NOW) == "changed_hands"


def test_unknown_record_is_not_found(db):
    from app.core.errors import NotFound

    for record_id in ("nope", "x" * 40, ""):
        with pytest.raises(NotFound):
            prov.get_record(db, record_id)
