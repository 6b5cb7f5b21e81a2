"""The brand's ownership API: credentials and JSON bodies, and what a take-back answers."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from blinker import Signal
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.holdings import current_holding
from app.catalog.models import Owner, Ownership
from app.core.errors import DomainError
from app.ownership import api
from tests.factories import item_path, tagged_item
from tests.ownership.helpers import AUTH, confirmed_owner, owned


def _take_back_path(tag: Any) -> str:
    return f"/admin/api/items/{tag.item.product.gtin}/{tag.item.serial}/take-back"


def test_admin_api_needs_credentials_and_json(app, db, keyring):
    app.config["ADMIN_PASSWORD"] = "pw"
    tag = tagged_item(db, released=False)
    path = f"/admin/api/items/{tag.item.product.gtin}/{tag.item.serial}/release"
    client = app.test_client()
    assert client.post(path, json={}).status_code == 401
    assert client.post(path, data={"x": "1"}, headers=AUTH).status_code == 415
    assert client.post("/admin/api/items/04000000000000/NOPE/release", json={},
                       headers=AUTH).status_code == 404
    db.expire_all()
    assert tag.item.released is False


def test_take_back_answers_the_points_its_listeners_report(app, db, keyring, monkeypatch):
    app.config["ADMIN_PASSWORD"] = "pw"
    tag, _phone = owned(app, db, keyring)
    owner_id = db.scalar(select(Ownership.owner_id))
    # A signal with only this test's listeners: the rewards ledger's own is tested in rewards.
    signal = Signal()
    monkeypatch.setattr(api, "item_taken_back", signal)
    heard: list[tuple[Any, dict[str, Any]]] = []

    def earns(sender: Any, **kw: Any) -> SimpleNamespace:
        heard.append((sender, kw))
        return SimpleNamespace(points=30)

    def earns_nothing(sender: Any, **kw: Any) -> None:
        return None

    signal.connect(earns)
    signal.connect(earns_nothing)
    resp = app.test_client().post(_take_back_path(tag), json={"reason": "buy-back"},
                                  headers=AUTH)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["points"] == 30
    assert resp.get_json()["item"]["history"][-1]["ended_by"] == "take_back"
    ((sender, kw),) = heard
    assert isinstance(sender, Session)
    assert (kw["item_id"], kw["owner_id"]) == (tag.item_id, owner_id)
    assert kw["settings"]["ADMIN_PASSWORD"] == "pw" and kw["at"].tzinfo is not None


def test_take_back_with_no_listener_earns_nothing(app, db, keyring, monkeypatch):
    app.config["ADMIN_PASSWORD"] = "pw"
    tag, _phone = owned(app, db, keyring)
    monkeypatch.setattr(api, "item_taken_back", Signal())
    resp = app.test_client().post(_take_back_path(tag), json={}, headers=AUTH)
    assert resp.status_code == 200 and resp.get_json()["points"] == 0


def test_a_failing_take_back_listener_undoes_the_take_back(app, db, keyring, monkeypatch):
    """Listeners run inside the take-back's transaction: both commit, or neither."""
    app.config["ADMIN_PASSWORD"] = "pw"
    tag, _phone = owned(app, db, keyring)
    signal = Signal()
    monkeypatch.setattr(api, "item_taken_back", signal)

    def fails(sender: Any, **kw: Any) -> None:
        raise DomainError("The ledger refused.")

    signal.connect(fails)
    resp = app.test_client().post(_take_back_path(tag), json={}, headers=AUTH)
    assert resp.status_code == 400
    db.expire_all()
    assert current_holding(db, tag.item_id) is not None


def test_admin_api_erases_an_owner_found_by_verified_email(app, db, keyring, mailbox):
    app.config["ADMIN_PASSWORD"] = "pw"
    tag, phone = confirmed_owner(app, db, keyring, mailbox)
    client = app.test_client()
    body = {"email": "ANA@example.com"}
    assert client.post("/admin/api/owners/erase", json=body).status_code == 401
    assert client.post("/admin/api/owners/erase", json={"email": "bob@example.com"},
                       headers=AUTH).status_code == 404
    db.expire_all()
    assert db.scalar(select(Owner.erased_at)) is None
    assert phone.get(item_path(tag, "owner")).status_code == 200

    erased = client.post("/admin/api/owners/erase", json=body, headers=AUTH)
    assert erased.status_code == 200
    db.expire_all()
    owner = db.scalars(select(Owner)).one()
    assert (owner.email, owner.erased_at is not None) == (None, True)
    assert current_holding(db, tag.item_id) is None  # the item is free to be claimed again
    # The erased owner's phone is nobody now, and the address finds no one.
    assert phone.get(item_path(tag, "owner")).status_code == 403
    assert client.post("/admin/api/owners/erase", json=body, headers=AUTH).status_code == 404

