"""The brand's side of ownership: sale, theft, reassignment and take-back, each audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.catalog.holdings import current_holding
from app.catalog.models import Owner
from app.catalog.views import item_view
from app.core.audit import AuditEntry
from app.core.errors import Conflict, DomainError
from app.ownership.brand import reassign, release, set_stolen, take_back
from app.ownership.lifecycle import claim, history
from app.ownership.models import TransferOffer
from app.ownership.transfers import create_offer
from tests.factories import tagged_item
from tests.ownership.helpers import AUTH, owned

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)


def test_brand_reassignment_is_audited(app, db, keyring):
    app.config["ADMIN_PASSWORD"] = "pw"
    tag, _seller = owned(app, db, keyring)
    gtin, serial = tag.item.product.gtin, tag.item.serial
    path = f"/admin/api/items/{gtin}/{serial}/reassign"
    no_reason = app.test_client().post(path, json={}, headers=AUTH)
    assert no_reason.status_code == 400
    resp = app.test_client().post(path, json={"reason": "ticket 42: proof of purchase"},
                                  headers=AUTH)
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["ordinal"] == 2
    assert [h["began_by"] for h in body["item"]["history"]] == ["first_tap", "brand"]
    entry = body["item"]["audit"][-1]
    assert entry["actor"] == "admin" and entry["action"] == "reassign"
    assert entry["detail"]["reason"] == "ticket 42: proof of purchase"


def test_reassign_needs_a_reason_and_someone_new(app, db):
    tag = tagged_item(db)
    owner, _ = claim(db, item_view(tag.item), None, NOW)
    with pytest.raises(DomainError):
        reassign(db, tag.item, None, LATER, actor="admin", reason="  ")
    db.commit()
    with pytest.raises(Conflict):
        reassign(db, tag.item, db.get(Owner, owner.id), LATER, actor="admin", reason="gift")


def test_release_happens_once(app, db):
    tag = tagged_item(db, released=False)
    assert release(db, tag.item, NOW, actor="admin", source="pos") is True
    assert release(db, tag.item, LATER, actor="admin", source="pos") is False
    db.commit()
    actions = db.scalars(select(AuditEntry.action).where(AuditEntry.item_id == tag.item_id))
    assert list(actions) == ["release"]


def test_stolen_flag_withdraws_open_offers(app, db):
    tag = tagged_item(db)
    view = item_view(tag.item)
    owner, _ = claim(db, view, None, NOW)
    create_offer(db, app.config, view, owner, NOW)
    set_stolen(db, tag.item, True, LATER, actor="owner", reason="reported by the owner")
    db.commit()
    assert db.scalar(select(TransferOffer.cancelled_at)) == LATER
    set_stolen(db, tag.item, False, LATER, actor="admin", reason="found")
    db.commit()
    assert tag.item.stolen_at is None
    actions = db.scalars(select(AuditEntry.action).where(AuditEntry.item_id == tag.item_id)
                         .order_by(AuditEntry.id))
    assert list(actions)[-2:] == ["stolen", "recovered"]


def test_take_back_ends_the_ownership_and_withdraws_its_offers(app, db):
    tag = tagged_item(db)
    view = item_view(tag.item)
    owner, _ = claim(db, view, None, NOW)
    create_offer(db, app.config, view, owner, NOW)
    assert take_back(db, tag.item, LATER, actor="admin", reason=" buy-back ") == owner.id
    db.commit()
    assert current_holding(db, tag.item_id) is None
    assert [h.ended_by for h in history(db, tag.item_id)] == ["take_back"]
    assert db.scalar(select(TransferOffer.cancelled_at)) == LATER
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "take_back"))
    assert (entry.actor, entry.owner_id, entry.detail["reason"]) == ("admin", owner.id, "buy-back")
    with pytest.raises(Conflict):
        take_back(db, tag.item, LATER, actor="admin", reason="twice")
