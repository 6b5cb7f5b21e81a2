"""Issuing, revoking and listing records, and a record's status now."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.catalog.access import NotOwner
from app.catalog.views import item_view
from app.core.audit import AuditEntry
from app.core.errors import Conflict
from app.core.signals import provenance_issued
from app.ownership.brand import set_stolen
from app.provenance.models import ProvenanceRecord
from app.provenance.records import (
    current_status,
    get_record,
    issue_record,
    records_for_item,
    revoke_record,
)
from tests.provenance.helpers import NOW, issue, owned, resold


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
    revoke_record(db, record.id, NOW, owner_id=owner.id)
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
        revoke_record(db, record.id, NOW, owner_id=stranger.id)
    with pytest.raises(NotOwner):
        revoke_record(db, record.id, NOW)
    db.rollback()
    revoked = revoke_record(db, record.id, NOW + timedelta(hours=1), owner_id=owner.id)
    db.commit()
    assert revoked.revoked_at is not None
    with pytest.raises(Conflict):
        revoke_record(db, record.id, NOW, owner_id=owner.id)
    db.rollback()
    # Once the item is sold on, the seller can no longer withdraw what they issued; the brand can.
    resold(db, tag, NOW + timedelta(days=1))
    with pytest.raises(NotOwner):
        revoke_record(db, later.id, NOW, owner_id=owner.id)
    db.rollback()
    revoke_record(db, later.id, NOW, admin=True, reason="listing withdrawn")
    db.commit()


def test_records_for_item_lists_status_and_who_may_revoke(db, key):
    tag, owner, ownership_id = owned(db)
    old = issue(db, key, tag, ownership_id, at=NOW - timedelta(days=100))
    withdrawn = issue(db, key, tag, ownership_id, at=NOW - timedelta(days=2))
    current = issue(db, key, tag, ownership_id, at=NOW - timedelta(days=1))
    revoke_record(db, withdrawn.id, NOW, owner_id=owner.id)
    db.commit()
    listed = records_for_item(db, tag.item.id, current_key_id=key.key_id, now=NOW)
    assert [(r.id, r.status, r.can_revoke) for r in listed] == [
        (current.id, "valid", True), (withdrawn.id, "revoked", False), (old.id, "expired", True),
    ]
    retired = records_for_item(db, tag.item.id, current_key_id="ed25519-new", now=NOW)
    assert retired[0].status == "retired_key"
    resold(db, tag, NOW)
    after_sale = records_for_item(db, tag.item.id, now=NOW)
    assert [(r.status, r.can_revoke) for r in after_sale] == [
        ("changed_hands", False), ("revoked", False), ("expired", False),
    ]


def test_status_reads_theft_and_changes_of_hands_now(db, key):
    tag, _, ownership_id = owned(db)
    record = issue(db, key, tag, ownership_id)
    assert current_status(db, record, key.key_id, NOW) == "valid"
    assert current_status(db, record, key.key_id, NOW + timedelta(days=90)) == "expired"
    set_stolen(db, tag.item, True, NOW, actor="admin", reason="police report")
    db.commit()
    assert current_status(db, record, key.key_id, NOW) == "stolen"
    set_stolen(db, tag.item, False, NOW, actor="admin", reason="found")
    db.commit()
    resold(db, tag, NOW + timedelta(hours=1))
    assert current_status(db, record, key.key_id, NOW) == "changed_hands"


def test_unknown_record_is_not_found(db):
    from app.core.errors import NotFound

    for record_id in ("nope", "x" * 40, ""):
        with pytest.raises(NotFound):
            get_record(db, record_id)


def test_an_owners_record_sends_provenance_issued_once_stored(db, key):
    tag, owner, ownership_id = owned(db)
    heard = []

    def listener(sender, **kw):  # type: ignore[no-untyped-def]
        # On the issuing session, with the record already there: one transaction for both.
        heard.append((sender, kw, sender.get(ProvenanceRecord, kw["record_id"]) is not None))

    settings = {"PROVENANCE_VALID_DAYS": 30}
    with provenance_issued.connected_to(listener):
        record = issue_record(db, key, settings, item_view(tag.item), ownership_id,
                              NOW + timedelta(microseconds=250))
    assert heard == [(db, {"settings": settings, "owner_id": owner.id,
                           "ownership_id": ownership_id, "record_id": record.id,
                           "at": NOW + timedelta(microseconds=250)}, True)]


def test_a_brand_record_or_a_refused_one_sends_nothing(db, key):
    tag, _, ownership_id = owned(db)
    resold(db, tag, NOW)
    heard = []
    with provenance_issued.connected_to(lambda sender, **kw: heard.append(kw)):
        issue(db, key, tag, None)  # the brand's own record: no owner to tell about
        with pytest.raises(NotOwner):
            issue(db, key, tag, ownership_id)  # the seller, no longer the owner
        db.rollback()
    assert heard == []
