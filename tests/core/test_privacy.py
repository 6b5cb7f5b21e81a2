"""The privacy registry: every owner-linked table is covered, and an owner's export and erasure
reach every domain's data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app import models  # noqa: F401 - every table on Base.metadata
from app.catalog.models import Owner, Ownership
from app.core import privacy
from app.core.db import Base
from app.ownership.email import confirm_email, request_email
from app.ownership.owners import create_owner
from app.rewards import grants
from app.rewards.models import LoyaltyEntry, ProductReview, RewardGrant
from app.rules.service import parse_ruleset
from tests.factories import age_ownership, item_path, post_form, tagged_item, tap
from tests.rewards.helpers import tap_event

OWNER_TABLES = {"owners", "ownerships"}
AUTH = {"Authorization": "Basic YWRtaW46cHc="}  # admin:pw


def _owner_linked_tables() -> set[str]:
    """Tables with a foreign key to an owner, directly or through one of their ownerships."""
    return {
        table.name
        for table in Base.metadata.tables.values()
        if any(fk.column.table.name in OWNER_TABLES for fk in table.foreign_keys)
    } | OWNER_TABLES


def test_every_owner_linked_table_has_a_contributor(app):
    linked = _owner_linked_tables()
    # The walk finds the tables every domain keeps about owners.
    assert {"loyalty_entries", "product_reviews", "service_requests", "owner_tokens",
            "transfer_offers", "audit_log", "provenance_records"} <= linked
    missing = linked - privacy.covered_tables()
    assert missing == set(), f"owner-linked tables no privacy contributor covers: {missing}"


def test_a_contributor_that_erases_nothing_must_say_why():
    with pytest.raises(ValueError, match="say why"):
        privacy.register(privacy.Contributor("silent", ("t",), lambda s, o: {}, None))


def test_two_contributors_cannot_export_the_same_section(app, db):
    owner = create_owner(db, datetime.now(UTC))
    db.commit()
    clash = privacy.Contributor("clash", (), lambda s, o: {"owner": {}}, None, reason="test")
    privacy.register(clash)
    try:
        with pytest.raises(ValueError, match="'owner' exported twice"):
            privacy.export_owner(db, owner.id)
    finally:
        privacy.unregister("clash")


GAME = """brand: maison-aurelia
journeys:
  - {id: all, priority: 0, when: {}, experience: care}
rewards:
  win:
    mechanic: scratch_off
    prizes:
      - {id: voucher, weight: 1, code: generated}
"""


def test_export_and_erase_reach_points_review_code_service_and_transfer(app, db, keyring):
    app.config["ADMIN_PASSWORD"] = "pw"
    at = datetime.now(UTC)
    tag = tagged_item(db, category="bag")
    seller = app.test_client()
    tap(seller, db, keyring, tag)  # the unboxing: owner #1, welcome points
    db.expire_all()
    ownership = db.scalars(select(Ownership).where(Ownership.item_id == tag.item_id)).one()
    owner_id = ownership.owner_id
    # A confirmed address, so the brand can find the owner by email.
    token = request_email(db, app.config, db.get_one(Owner, owner_id), "ana@example.com", True,
                          at)
    confirm_email(db, token, at)
    db.commit()

    age_ownership(db, tag, 30)
    tap(seller, db, keyring, tag)
    assert post_form(seller, item_path(tag, "review"),
                     {"rating": "5", "text": "Lovely leather, Ana."}).status_code == 201
    assert post_form(seller, item_path(tag, "service"),
                     {"kind": "repair", "message": "Strap frayed; call Ana on 0612345678."}
                     ).status_code == 303
    # A scratch card won with a code.
    doc = parse_ruleset(GAME, "game.yaml").doc
    won = grants.grant(db, doc, "maison-aurelia", "win",
                       tap_event_id=tap_event(db, tag.item_id, at), owner_id=owner_id,
                       item_id=tag.item_id, journey="all", at=at)
    db.commit()
    code = grants.reveal(db, won.token, owner_id, at).code
    db.commit()
    assert code
    # The resale: a transfer link, the buyer taps and accepts.
    offer = post_form(seller, item_path(tag, "transfer"))
    assert offer.status_code == 201
    link = offer.get_data(as_text=True).split("/transfer/", 1)[1].split('"', 1)[0]
    buyer = app.test_client()
    buyer.get(f"/transfer/{link}")
    tap(buyer, db, keyring, tag)
    assert post_form(buyer, f"/transfer/{link}/accept").status_code == 303

    exported = app.test_client().post("/admin/api/owners/export",
                                      json={"email": "ana@example.com"}, headers=AUTH)
    assert exported.status_code == 200
    assert exported.get_json()["owners"] == 1
    (data,) = exported.get_json()["exports"]
    assert data["owner"]["email"] == "ana@example.com"
    assert [o["ended_by"] for o in data["ownerships"]] == ["transfer"]
    assert sum(data["points"].values()) > 0 and data["ledger"]
    assert code in [r["code"] for r in data["rewards"]]
    assert [r["text"] for r in data["reviews"]] == ["Lovely leather, Ana."]
    assert [r["message"] for r in data["service_requests"]] == [
        "Strap frayed; call Ana on 0612345678."]
    assert "email_verified" in [entry["action"] for entry in data["audit"]]

    entries_before = db.scalar(select(func.count()).select_from(LoyaltyEntry)
                               .where(LoyaltyEntry.owner_id == owner_id))
    erased = app.test_client().post("/admin/api/owners/erase",
                                    json={"email": "ana@example.com"}, headers=AUTH)
    assert erased.status_code == 200
    db.expire_all()
    owner = db.get_one(Owner, owner_id)
    assert (owner.email, owner.email_verified_at, owner.erased_at is not None) == (None, None, True)
    review = db.scalars(select(ProductReview).where(ProductReview.owner_id == owner_id)).one()
    assert "Ana" not in (review.text or "")
    assert review.rating == 5  # anonymous counts stay
    after = privacy.export_owner(db, owner_id)
    assert [r["message"] for r in after["service_requests"]] == ["(erased)"]
    assert db.scalar(select(func.count()).select_from(LoyaltyEntry)
                     .where(LoyaltyEntry.owner_id == owner_id)) == entries_before
    assert db.scalar(select(RewardGrant.code).where(RewardGrant.id == won.id)) == code
    # Nothing about the erased owner is found by address any more.
    again = app.test_client().post("/admin/api/owners/export",
                                   json={"email": "ana@example.com"}, headers=AUTH)
    assert again.status_code == 404
