"""The signed document: canonical JSON, the agreed fields, no personal data, added sections."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.signals import provenance_sections
from app.provenance.document import CORE_FIELDS, canonical_json, format_time, parse_time
from app.provenance.models import ProvenanceRecord
from app.provenance.verification import signed_document, verify_document
from tests.provenance.helpers import EMAIL, NOW, issue, owned, resold, serviced


def test_document_is_canonical_json_with_the_agreed_fields(db, key):
    tag, _, ownership_id = owned(db)
    record = issue(db, key, tag, ownership_id)
    doc = json.loads(record.document)
    assert record.document == canonical_json(doc)
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
        "made_on": parse_time(format_time(tag.item.created_at)).date().isoformat(),
    }
    assert doc["ownership"] == {"previous_owners": 0, "current_owner_since": "2026-03-01"}
    assert doc["service"] == {"count": 0, "last": None, "kinds": []}
    assert format_time(record.expires_at) == doc["expires_at"]


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
    exported = json.dumps(signed_document(record), ensure_ascii=False)
    for secret in (EMAIL, "alice", owner.public_id, "Atelier", "Note for", "internal_cost",
                   "EUR 112", "warranty"):
        assert secret not in exported
    doc = json.loads(record.document)
    assert set(doc) == {"type", "id", "issued_at", "expires_at", "issuer", "key_id", "item",
                        "ownership", "service"}
    assert set(doc["ownership"]) == {"previous_owners", "current_owner_since"}


# --- sections other packages add ------------------------------------------------------------------


def test_without_a_section_listener_a_record_has_no_service_section(db, key, public_keys):
    """Provenance knows nothing of service history: after-sales adds it, or nothing does."""
    tag, _, ownership_id = owned(db)
    serviced(db, tag.item, "repair", NOW - timedelta(days=1))
    with provenance_sections.muted():
        record = issue(db, key, tag, ownership_id)
    doc = json.loads(record.document)
    assert set(doc) == CORE_FIELDS
    assert "service" not in doc and "repair" not in record.document
    assert verify_document(signed_document(record), public_keys, NOW).ok
    # With after-sales listening (the app connects it), the same item's record has it.
    with_service = json.loads(issue(db, key, tag, ownership_id).document)
    assert with_service["service"]["kinds"] == ["repair"]
    assert {k: v for k, v in with_service.items() if k not in ("service", "id")} == {
        k: v for k, v in doc.items() if k != "id"}


def test_sections_from_every_listener_are_signed_with_the_record(db, key):
    tag, _, ownership_id = owned(db)
    heard = []

    def care(sender, *, item):  # type: ignore[no-untyped-def]
        heard.append((sender, item.id))
        return {"care": {"guide": "leather-v2"}}

    with (provenance_sections.connected_to(care),
          provenance_sections.connected_to(lambda sender, **kw: None)):  # nothing to add
        record = issue(db, key, tag, ownership_id)
    assert heard == [(db, tag.item.id)]
    doc = json.loads(record.document)
    assert doc["care"] == {"guide": "leather-v2"}
    assert doc["service"] == {"count": 0, "last": None, "kinds": []}
    assert record.document == canonical_json(doc)


@pytest.mark.parametrize("section", ["item", "ownership", "key_id", "service"])
def test_a_listener_cannot_replace_a_field_or_another_listeners_section(db, key, section):
    tag, _, ownership_id = owned(db)
    with (provenance_sections.connected_to(lambda sender, **kw: {section: "forged"}),
          pytest.raises(ValueError, match=section)):
        issue(db, key, tag, ownership_id)
    db.rollback()
    assert db.scalar(select(func.count()).select_from(ProvenanceRecord)) == 0


def test_an_imported_product_signs_its_own_provenance_attributes_and_nothing_else(db, key):
    tag, _, ownership_id = owned(db, attributes={"made_in": "Lucerne", "fill": "800-fill down",
                                                 "warranty_months": 36, "cost": "120"})
    tag.item.product.provenance_attributes = ["made_in", "fill"]
    db.commit()
    doc = json.loads(issue(db, key, tag, ownership_id).document)
    assert doc["item"]["made_in"] == "Lucerne" and doc["item"]["fill"] == "800-fill down"
    assert "warranty_months" not in doc["item"] and "cost" not in doc["item"]
