"""Points for real behaviour: a review, a service, a provenance record, a take-back."""

from __future__ import annotations

from sqlalchemy import select

from app.catalog.models import Ownership
from app.rewards.ledger import balance, ledger
from tests.factories import age_ownership, item_path, post_form, tagged_item, tap

AUTH = {"Authorization": "Basic YWRtaW46cHc="}  # admin:pw
JSON = {"Accept": "application/json"}


def _owned(app, db, keyring, **kw):  # type: ignore[no-untyped-def]
    tag = tagged_item(db, **kw)
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    db.expire_all()
    owner_id = db.scalar(select(Ownership.owner_id).where(Ownership.item_id == tag.item_id))
    return tag, phone, owner_id


def test_a_review_earns_once_and_ends_the_review_promotion(app, db, keyring):
    tag, phone, owner_id = _owned(app, db, keyring)
    start = balance(db, owner_id, "maison-aurelia")  # the unboxing's welcome points
    age_ownership(db, tag, 30)
    page = tap(phone, db, keyring, tag).get_data(as_text=True)
    assert "Send my review" in page  # the review-reveal journey's page offers the form

    bad = post_form(phone, item_path(tag, "review"), {"rating": "9", "text": "great"})
    assert bad.status_code == 400
    sent = post_form(phone, item_path(tag, "review"), {"rating": "5", "text": "Lovely leather."})
    assert sent.status_code == 201 and "40 points" in sent.get_data(as_text=True)
    assert balance(db, owner_id, "maison-aurelia") == start + 40
    again = post_form(phone, item_path(tag, "review"), {"rating": "4", "text": "Again"})
    assert again.status_code == 409
    assert balance(db, owner_id, "maison-aurelia") == start + 40
    body = tap(phone, db, keyring, tag, as_json=True).get_json()
    assert body["experience"]["journey"] != "review-reveal"  # owner.has_reviewed is now true

    stranger = app.test_client()
    tap(stranger, db, keyring, tag)
    assert post_form(stranger, item_path(tag, "review"),
                     {"rating": "1", "text": "x"}).status_code == 403


def test_service_and_take_back_credit_the_owner(app, db, keyring, runner):
    app.config["ADMIN_PASSWORD"] = "pw"
    tag, _phone, owner_id = _owned(app, db, keyring)
    start = balance(db, owner_id, "maison-aurelia")
    gtin, serial = tag.item.product.gtin, tag.item.serial
    client = app.test_client()
    resp = client.post(f"/admin/api/items/{gtin}/{serial}/service-events",
                       json={"kind": "leather conditioning"}, headers=AUTH)
    assert resp.status_code == 201
    assert balance(db, owner_id, "maison-aurelia") == start + 50
    result = runner.invoke(args=["service", "record", gtin, serial, "--kind", "polish"])
    assert result.exit_code == 0, result.output
    assert balance(db, owner_id, "maison-aurelia") == start + 100

    back = client.post(f"/admin/api/items/{gtin}/{serial}/take-back",
                       json={"reason": "buy-back programme"}, headers=AUTH)
    assert back.status_code == 200 and back.get_json()["points"] == 200
    assert balance(db, owner_id, "maison-aurelia") == start + 300
    assert back.get_json()["item"]["history"][-1]["ended_by"] == "take_back"
    again = client.post(f"/admin/api/items/{gtin}/{serial}/take-back",
                        json={"reason": "twice"}, headers=AUTH)
    assert again.status_code == 409
    causes = [e.cause_type for e in ledger(db, owner_id)]
    assert causes == ["reward", "service", "service", "take_back"]


def test_provenance_before_resale_earns_once_per_ownership(app, db, keyring):
    tag, phone, owner_id = _owned(app, db, keyring)
    start = balance(db, owner_id, "maison-aurelia")
    for _ in range(2):
        tap(phone, db, keyring, tag)
        assert post_form(phone, item_path(tag, "provenance")).status_code == 303
    assert balance(db, owner_id, "maison-aurelia") == start + 25


def test_owner_page_shows_the_balance(app, db, keyring):
    tag, phone, owner_id = _owned(app, db, keyring)
    page = phone.get(item_path(tag, "owner")).get_data(as_text=True)
    assert f"<strong>{balance(db, owner_id, 'maison-aurelia')} points</strong>" in page
