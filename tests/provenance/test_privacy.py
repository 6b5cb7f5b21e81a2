"""Provenance in an owner's export and erasure: the records they issued, on both backends."""

from __future__ import annotations

from datetime import timedelta

from app.core import privacy
from app.provenance.privacy import PRIVACY
from app.provenance.records import revoke_record
from tests.provenance.helpers import NOW, issue, owned, resold


def test_the_app_registers_provenance_records_with_nothing_to_erase(app):
    (contributor,) = [c for c in privacy.contributors() if c.name == "provenance"]
    assert contributor is PRIVACY
    assert contributor.tables == ("provenance_records",)
    assert "provenance_records" in privacy.covered_tables()
    # Records describe the item and hold no personal data; the reason says so.
    assert contributor.erase is None
    assert "names no one" in contributor.reason


def test_export_lists_the_records_the_owner_issued_and_no_one_elses(db, key):
    tag, seller, ownership_id = owned(db)
    first = issue(db, key, tag, ownership_id, at=NOW - timedelta(days=2))
    withdrawn = issue(db, key, tag, ownership_id, at=NOW - timedelta(days=1))
    revoke_record(db, withdrawn.id, NOW, owner_id=seller.id)
    db.commit()
    buyer, buyers_ownership = resold(db, tag, NOW + timedelta(hours=1))
    buyers = issue(db, key, tag, buyers_ownership, at=NOW + timedelta(hours=2))
    issue(db, key, tag, None, at=NOW + timedelta(hours=3))  # the brand's own: no owner

    exported = PRIVACY.export(db, seller.id)
    assert exported == {"provenance_records": [
        {"id": first.id, "issued_at": (NOW - timedelta(days=2)).isoformat(),
         "expires_at": (NOW + timedelta(days=88)).isoformat(), "revoked_at": None},
        {"id": withdrawn.id, "issued_at": (NOW - timedelta(days=1)).isoformat(),
         "expires_at": (NOW + timedelta(days=89)).isoformat(), "revoked_at": NOW.isoformat()},
    ]}
    assert [r["id"] for r in PRIVACY.export(db, buyer.id)["provenance_records"]] == [buyers.id]
    assert privacy.export_owner(db, seller.id)["provenance_records"] == (
        exported["provenance_records"])


def test_an_owner_without_records_exports_an_empty_list(db):
    _, owner, _ = owned(db)
    assert PRIVACY.export(db, owner.id) == {"provenance_records": []}
