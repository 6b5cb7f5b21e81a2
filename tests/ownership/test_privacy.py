"""Export and erasure: the ownership contributor to the privacy registry, the owner's own
export and erasure pages, and the brand's requests by email (API and CLI)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from app.catalog.holdings import find_one_owner_by_email, find_owner, find_owners_by_email
from app.catalog.models import Owner, Ownership
from app.catalog.views import item_view
from app.core import privacy as registry
from app.core.audit import AuditEntry
from app.core.errors import Conflict, DomainError, NotFound
from app.ownership.email import confirm_email, request_email
from app.ownership.lifecycle import claim
from app.ownership.models import OwnerToken, TransferOffer
from app.ownership.privacy import (
    CONTRIBUTOR,
    erase_owner,
    erase_personal_data,
    export_sections,
)
from app.ownership.transfers import accept_offer, create_offer
from app.rewards import ledger
from app.verify.models import TapEvent
from tests.factories import item_path, post_form, tagged_item, tap
from tests.ownership.helpers import confirmed_owner

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SOLD_ON = NOW + timedelta(days=10)
ERASED_ON = NOW + timedelta(days=30)


def _owner_with_data(app, db, *, sold_on=SOLD_ON):  # type: ignore[no-untyped-def]
    """An owner (confirmed address, opted in, a pending link) who sold a first item on
    ``sold_on`` and still holds a second one, with an open transfer offer on it."""
    first, second = tagged_item(db), tagged_item(db)
    owner, _ = claim(db, item_view(first.item), None, NOW)
    loaded = db.get(Owner, owner.id)
    confirm_email(db, request_email(db, app.config, loaded, "ana@example.com", True, NOW), NOW)
    request_email(db, app.config, loaded, "new@example.com", False, NOW)
    claim(db, item_view(second.item), loaded, NOW + timedelta(hours=1))
    token, _offer = create_offer(db, app.config, item_view(first.item), loaded,
                                 sold_on - timedelta(hours=1))
    accept_offer(db, token, item_view(first.item), None, sold_on)
    create_offer(db, app.config, item_view(second.item), loaded, SOLD_ON)
    db.commit()
    return owner.id, first, second


def test_ownership_registers_before_the_other_domains_so_its_erase_runs_last(app):
    names = [c.name for c in registry.contributors()]
    before = set(names[:names.index("ownership")])
    assert not before & {"aftersales", "provenance", "rewards"}
    assert set(CONTRIBUTOR.tables) == {"owners", "ownerships", "owner_tokens", "transfer_offers"}


def test_export_sections_hold_the_owner_and_their_ownerships(app, db):
    owner_id, first, second = _owner_with_data(app, db)
    sections = export_sections(db, owner_id)
    assert set(sections) == {"owner", "ownerships"}
    assert sections["owner"] == {"email": "ana@example.com", "email_verified_at": NOW.isoformat(),
                                 "email_opt_in": True, "created_at": NOW.isoformat()}
    sold, held = sections["ownerships"]
    assert sold == {"gtin": first.item.product.gtin, "product": first.item.product.name,
                    "serial": first.item.serial, "ordinal": 1, "began_by": "first_tap",
                    "started_at": NOW.isoformat(), "ended_at": SOLD_ON.isoformat(),
                    "ended_by": "transfer", "taps": 1}
    assert (held["serial"], held["ended_by"]) == (second.item.serial, None)
    # The registry's export carries the same sections, beside other packages' ones.
    document = registry.export_owner(db, owner_id)
    assert (document["owner"], document["ownerships"]) == (sections["owner"],
                                                           sections["ownerships"])


def test_erase_wipes_personal_fields_and_kills_the_cookie_credential(app, db):
    owner_id, first, second = _owner_with_data(app, db)
    credential = db.get(Owner, owner_id).public_id
    ownerships_before = db.scalar(select(func.count()).select_from(Ownership))
    assert find_owner(db, credential) is not None

    erase_personal_data(db, owner_id, ERASED_ON)
    db.commit()
    db.expire_all()
    owner = db.get(Owner, owner_id)
    assert (owner.email, owner.email_verified_at, owner.email_opt_in, owner.erased_at) == (
        None, None, False, ERASED_ON)
    assert owner.public_id != credential
    assert find_owner(db, credential) is None and find_owner(db, owner.public_id) is None
    tokens = db.scalars(select(OwnerToken).where(OwnerToken.owner_id == owner_id)).all()
    assert len(tokens) == 2
    assert all(t.email is None and t.used_at is not None for t in tokens)
    offers = {o.item_id: o for o in db.scalars(select(TransferOffer))}
    assert offers[second.item_id].cancelled_at == ERASED_ON
    assert offers[second.item_id].accepted_at is None
    assert offers[first.item_id].cancelled_at is None  # accepted: history, not a live link
    # Ownership rows stay, anonymous: histories and counts do not change.
    assert db.scalar(select(func.count()).select_from(Ownership)) == ownerships_before
    ended_by = db.scalars(select(Ownership.ended_by).where(Ownership.owner_id == owner_id)
                          .order_by(Ownership.started_at)).all()
    assert ended_by == ["transfer", "erased"]


def test_an_unknown_owner_is_not_found(app, db):
    with pytest.raises(NotFound):
        export_sections(db, 987654)
    with pytest.raises(NotFound):
        erase_personal_data(db, 987654, ERASED_ON)


def test_erase_owner_reports_only_the_ownerships_it_ended(app, db):
    # The first item changed hands at the very moment of the erasure: not ended by it.
    owner_id, _first, _second = _owner_with_data(app, db, sold_on=ERASED_ON)
    assert erase_owner(db, owner_id, ERASED_ON, actor="admin") == 1
    db.commit()
    # Erasing again ends nothing more.
    again = ERASED_ON + timedelta(days=1)
    assert erase_owner(db, owner_id, again, actor="owner") == 0
    db.commit()
    entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "erase")
                         .order_by(AuditEntry.id)).all()
    assert [(e.actor, e.owner_id, e.detail) for e in entries] == [
        ("admin", owner_id, {"ownerships_ended": 1}), ("owner", owner_id, {"ownerships_ended": 0})]


def test_export_then_erase(app, db, keyring, mailbox):
    tag, phone = confirmed_owner(app, db, keyring, mailbox)
    exported = phone.get(item_path(tag, "export"))
    assert exported.status_code == 200
    assert "attachment" in exported.headers["Content-Disposition"]
    data = exported.get_json()
    assert data["owner"]["email"] == "ana@example.com"
    assert [o["serial"] for o in data["ownerships"]] == [tag.item.serial]
    taps_before = db.scalar(select(func.count()).select_from(TapEvent))

    unconfirmed = post_form(phone, item_path(tag, "erase"))
    assert unconfirmed.status_code == 400
    erased = post_form(phone, item_path(tag, "erase"), {"confirm": "yes"})
    assert erased.status_code == 200
    assert any(c.startswith("aftertap_owner=;") for c in erased.headers.getlist("Set-Cookie"))

    db.expire_all()
    owner = db.scalar(select(Owner))
    assert (owner.email, owner.email_opt_in, owner.erased_at is not None) == (None, False, True)
    assert db.scalar(select(OwnerToken.email).where(OwnerToken.email.is_not(None))) is None
    (ownership,) = db.scalars(select(Ownership))
    assert ownership.ended_by == "erased"
    assert db.scalar(select(func.count()).select_from(TapEvent)) == taps_before
    # The item is free again; the next person to tap it becomes owner #2.
    body = tap(app.test_client(), db, keyring, tag, as_json=True).get_json()
    assert body["ownership"]["ordinal"] == 2 and body["ownership"]["claimed_now"] is True


def test_admin_export_and_erase_by_email(app, db, keyring, mailbox, runner):
    app.config["ADMIN_PASSWORD"] = "pw"
    auth = {"Authorization": "Basic YWRtaW46cHc="}
    confirmed_owner(app, db, keyring, mailbox)
    client = app.test_client()
    resp = client.post("/admin/api/owners/export", json={"email": "ana@example.com"},
                       headers=auth)
    assert resp.status_code == 200
    (document,) = resp.get_json()["exports"]
    assert resp.get_json()["owners"] == 1 and document["owner"]["email"] == "ana@example.com"
    assert client.post("/admin/api/owners/export", json={"email": "nobody@example.com"},
                       headers=auth).status_code == 404
    result = runner.invoke(args=["owners", "erase", "ana@example.com", "--yes"])
    assert result.exit_code == 0, result.output
    assert "1 ownership(s) ended" in result.output
    again = runner.invoke(args=["owners", "erase", "ana@example.com", "--yes"])
    assert again.exit_code == 1 and "No owner has that verified email" in again.output


def test_admin_export_takes_the_email_in_a_json_body_never_in_the_url(app, db, keyring, mailbox):
    app.config["ADMIN_PASSWORD"] = "pw"
    auth = {"Authorization": "Basic YWRtaW46cHc="}
    confirmed_owner(app, db, keyring, mailbox)
    client = app.test_client()
    # Access logs keep URLs: an address in the query string is refused, not served.
    in_url = client.get("/admin/api/owners/export?email=ana@example.com", headers=auth)
    assert in_url.status_code == 405 and "ana@example.com" not in in_url.get_data(as_text=True)
    as_form = client.post("/admin/api/owners/export", data={"email": "ana@example.com"},
                          headers=auth)
    assert as_form.status_code == 415
    exported = client.post("/admin/api/owners/export", json={"email": "ana@example.com"},
                           headers=auth)
    assert exported.status_code == 200 and exported.headers["Cache-Control"] == "no-store"
    assert exported.get_json()["exports"][0]["owner"]["email"] == "ana@example.com"


AUTH = {"Authorization": "Basic YWRtaW46cHc="}  # admin:pw


def _owners_sharing(app, db, address="ana@example.com", items=(1, 2)):  # type: ignore[no-untyped-def]
    """Owners (one per entry of ``items``, holding that many items each) who all confirmed
    ``address`` from their own phone; returns their ids, in creation order."""
    ids = []
    for count in items:
        owner = None
        for _ in range(count):
            owner, _ = claim(db, item_view(tagged_item(db).item), owner, NOW)
        loaded = db.get_one(Owner, owner.id)
        confirm_email(db, request_email(db, app.config, loaded, address, True, NOW), NOW)
        ids.append(owner.id)
    db.commit()
    return ids


def test_find_owners_by_email_finds_every_owner_with_the_verified_address(app, db):
    first, second = _owners_sharing(app, db)
    assert [o.id for o in find_owners_by_email(db, "ANA@example.com")] == [first, second]
    # An erased owner is not found, even with the address still on the row.
    db.execute(update(Owner).where(Owner.id == first).values(erased_at=ERASED_ON))
    assert [o.id for o in find_owners_by_email(db, "ana@example.com")] == [second]
    with pytest.raises(NotFound):
        find_owners_by_email(db, "nobody@example.com")
    with pytest.raises(DomainError):
        find_owners_by_email(db, "not an address")


def test_find_one_owner_by_email_refuses_an_address_several_owners_confirmed(app, db):
    first, second = _owners_sharing(app, db)
    with pytest.raises(Conflict, match="2 owners"):
        find_one_owner_by_email(db, "ana@example.com")
    db.execute(update(Owner).where(Owner.id == first).values(erased_at=ERASED_ON))
    assert find_one_owner_by_email(db, "ana@example.com").id == second


def test_admin_export_and_erase_reach_every_owner_with_the_address(app, db):
    app.config["ADMIN_PASSWORD"] = "pw"
    first, second = _owners_sharing(app, db, items=(1, 2))
    client = app.test_client()
    body = {"email": "Ana@Example.com"}
    exported = client.post("/admin/api/owners/export", json=body, headers=AUTH)
    assert exported.status_code == 200
    data = exported.get_json()
    # One document per owner, by owner id: the first holds one item, the second two.
    assert data["owners"] == 2
    assert [len(d["ownerships"]) for d in data["exports"]] == [1, 2]
    assert {d["owner"]["email"] for d in data["exports"]} == {"ana@example.com"}

    erased = client.post("/admin/api/owners/erase", json=body, headers=AUTH)
    assert erased.status_code == 200
    assert erased.get_json() == {"erased": True, "owners": 2, "ownerships_ended": 3}
    db.expire_all()
    assert all(db.get_one(Owner, i).erased_at is not None for i in (first, second))
    entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "erase")
                         .order_by(AuditEntry.id)).all()
    assert [(e.owner_id, e.detail) for e in entries] == [
        (first, {"ownerships_ended": 1}), (second, {"ownerships_ended": 2})]
    # Neither is found by the address any more.
    for path in ("/admin/api/owners/export", "/admin/api/owners/erase"):
        assert client.post(path, json=body, headers=AUTH).status_code == 404


def test_admin_requests_by_email_skip_an_erased_owner(app, db):
    app.config["ADMIN_PASSWORD"] = "pw"
    first, _second = _owners_sharing(app, db, items=(1, 2))
    # Erased, the address left on the row: only the erased_at guard keeps it out.
    db.execute(update(Owner).where(Owner.id == first).values(erased_at=ERASED_ON))
    db.commit()
    client = app.test_client()
    body = {"email": "ana@example.com"}
    data = client.post("/admin/api/owners/export", json=body, headers=AUTH).get_json()
    assert data["owners"] == 1 and [len(d["ownerships"]) for d in data["exports"]] == [2]
    erased = client.post("/admin/api/owners/erase", json=body, headers=AUTH).get_json()
    assert (erased["owners"], erased["ownerships_ended"]) == (1, 2)
    assert db.scalar(select(func.count()).select_from(AuditEntry)
                     .where(AuditEntry.action == "erase", AuditEntry.owner_id == first)) == 0


def test_owners_cli_exports_and_erases_every_owner_with_the_address(app, db, runner):
    first, second = _owners_sharing(app, db, items=(1, 2))
    result = runner.invoke(args=["owners", "export", "ana@example.com"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["owners"] == 2 and [len(d["ownerships"]) for d in data["exports"]] == [1, 2]
    result = runner.invoke(args=["owners", "erase", "ana@example.com", "--yes"])
    assert result.exit_code == 0, result.output
    assert "erased 2 owner(s); 3 ownership(s) ended" in result.output
    db.expire_all()
    assert all(db.get_one(Owner, i).erased_at is not None for i in (first, second))
    again = runner.invoke(args=["owners", "export", "ana@example.com"])
    assert again.exit_code == 1 and "No owner has that verified email" in again.output


def test_reassign_to_an_address_several_owners_confirmed_is_refused(app, db, runner):
    app.config["ADMIN_PASSWORD"] = "pw"
    _owners_sharing(app, db)
    tag = tagged_item(db)
    db.commit()
    gtin, serial = tag.item.product.gtin, tag.item.serial
    resp = app.test_client().post(f"/admin/api/items/{gtin}/{serial}/reassign",
                                  json={"email": "ana@example.com", "reason": "ticket 7"},
                                  headers=AUTH)
    assert resp.status_code == 409
    result = runner.invoke(args=["items", "reassign", gtin, serial, "--email",
                                 "ana@example.com", "--reason", "ticket 7"])
    assert result.exit_code == 1 and "2 owners" in result.output
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Ownership)
                     .where(Ownership.item_id == tag.item_id)) == 0


def test_rewards_balance_shows_every_owner_with_the_address(app, db, runner):
    first, second = _owners_sharing(app, db)
    ledger.post_entry(db, first, "earn", 42, "admin", "welcome", NOW, brand="maison-aurelia")
    ledger.post_entry(db, second, "earn", 7, "admin", "welcome", NOW, brand="maison-aurelia")
    db.commit()
    result = runner.invoke(args=["rewards", "balance", "ana@example.com"])
    assert result.exit_code == 0, result.output
    assert f"owner {first} balance: 42 points" in result.output
    assert f"owner {second} balance: 7 points" in result.output
