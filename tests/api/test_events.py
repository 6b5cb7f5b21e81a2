"""``POST /api/v1/events``: a shop's signed order comes in once; every refusal is a clear JSON
4xx that stores nothing; retries and racing deliveries of one id store one row."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import func, select

from app.catalog.owner_refs import owner_reference
from app.core import staff
from app.core.privacy import email_digest
from app.insights import commerce
from app.insights.models import CommerceEvent
from tests.factories import gtin, tagged_item
from tests.insights.commerce_helpers import HOUR_AGO, PATH, order, owner_of, post, shop, signed

EMAIL = "Alice.Martin@Example.com"
CONFORMS = [status_code_conformance, content_type_conformance, response_schema_conformance]


def _count(db) -> int:  # type: ignore[no-untyped-def]
    return db.scalar(select(func.count()).select_from(CommerceEvent))


def _refused(response, status: int, error: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == error and body["message"]
    return body


def test_a_signed_order_is_stored_for_the_owner_its_address_hash_names(app, client, db):
    shop_ = shop(db)
    owner_id = owner_of(db, "maison-aurelia", EMAIL)
    payload = order(shop_.gtin, {"email_sha256": email_digest(EMAIL)})
    response = post(client, shop_, payload, event_id="msg_first")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["event"] == {
        "id": "msg_first", "type": "order.created",
        "products": [{"gtin": shop_.gtin, "quantity": 1}], "amount_minor": 12900,
        "currency": "EUR", "occurred_at": HOUR_AGO.isoformat(),
        "received_at": response.get_json()["event"]["received_at"]}
    row = db.scalars(select(CommerceEvent)).one()
    assert (row.brand_id, row.kind, row.owner_id, row.email_hash) == (
        shop_.brand_id, "order", owner_id, email_digest(EMAIL))
    # As the document says.
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    schema["/api/v1/events"]["POST"].Case().validate_response(response, checks=CONFORMS)


def test_the_owner_reference_of_our_webhooks_names_the_owner(app, client, db):
    shop_ = shop(db)
    owner_id = owner_of(db, "maison-aurelia")
    reference = owner_reference(app.config, shop_.brand_id, owner_id)
    response = post(client, shop_, order(shop_.gtin, {"id": reference}))
    assert response.status_code == 201
    assert db.scalar(select(CommerceEvent.owner_id)) == owner_id


def test_another_brands_owner_reference_is_refused(app, client, db):
    shop_ = shop(db)
    other = shop(db, brand="nordwand")
    owner_id = owner_of(db, "nordwand")
    reference = owner_reference(app.config, other.brand_id, owner_id)
    body = _refused(post(client, shop_, order(shop_.gtin, {"id": reference})), 422,
                    "invalid_event")
    assert body["details"] == {"field": "data.owner.id"}
    assert _count(db) == 0


def test_an_unknown_owner_is_kept_unlinked_and_answered_like_a_known_one(app, client, db):
    shop_ = shop(db)
    # An owner of another brand's item only: not this brand's to name.
    outsider = owner_of(db, "nordwand", EMAIL)
    response = post(client, shop_, order(shop_.gtin, {"email_sha256": email_digest(EMAIL)}))
    assert response.status_code == 201 and "owner" not in response.get_json()["event"]
    row = db.scalars(select(CommerceEvent)).one()
    assert row.owner_id is None and row.email_hash == email_digest(EMAIL)
    assert outsider


def test_the_same_id_again_answers_the_stored_event_and_writes_nothing(app, client, db):
    shop_ = shop(db)
    first = post(client, shop_, order(shop_.gtin), event_id="msg_retry")
    again = post(client, shop_, order(shop_.gtin, amount="1.00"), event_id="msg_retry")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert _count(db) == 1
    assert db.scalar(select(CommerceEvent.amount_minor)) == 12900


def test_the_same_id_from_another_brand_is_another_event(app, client, db):
    a, b = shop(db), shop(db, brand="nordwand")
    assert post(client, a, order(a.gtin), event_id="msg_1").status_code == 201
    assert post(client, b, order(b.gtin), event_id="msg_1").status_code == 201
    assert _count(db) == 2


def test_two_deliveries_racing_with_one_id_store_one_row(app, db):
    shop_ = shop(db)
    body = json.dumps(order(shop_.gtin))
    headers = signed(shop_, body, event_id="msg_race")
    start = threading.Barrier(2)
    statuses: list[int] = []

    def deliver() -> None:
        client = app.test_client()
        start.wait()
        statuses.append(client.post(PATH, data=body, headers=headers).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 201]
    assert _count(db) == 1


def test_a_token_of_one_brand_with_the_secret_of_another_is_refused(app, client, db):
    a, b = shop(db), shop(db, brand="nordwand")
    body = _refused(post(client, a, order(a.gtin), secret=b.secret), 401, "bad_signature")
    assert "does not match" in body["message"]
    # And the other way round: brand B's secret with brand B's product, brand A's token.
    _refused(post(client, b, order(b.gtin), token=a.token), 401, "bad_signature")
    assert _count(db) == 0


def test_a_body_changed_after_signing_is_refused(app, client, db):
    shop_ = shop(db)
    body = json.dumps(order(shop_.gtin))
    headers = signed(shop_, body)
    response = client.post(PATH, data=body.replace("129.00", "1.00"), headers=headers)
    _refused(response, 401, "bad_signature")
    garbled = {**headers, "webhook-signature": "v1"}
    _refused(client.post(PATH, data=body, headers=garbled), 401, "bad_signature")
    missing = {k: v for k, v in headers.items() if k != "webhook-signature"}
    _refused(client.post(PATH, data=body, headers=missing), 401, "bad_signature")
    assert _count(db) == 0


def test_a_stale_timestamp_is_refused_even_well_signed(app, client, db):
    shop_ = shop(db)
    stale = datetime.now(UTC) - timedelta(minutes=6)
    body = _refused(post(client, shop_, order(shop_.gtin), at=stale), 401, "bad_signature")
    assert "five minutes" in body["message"]
    assert _count(db) == 0


def test_after_a_rotation_both_secrets_verify_until_the_old_one_is_dropped(app, client, db):
    shop_ = shop(db)
    new = commerce.rotate_secret(db, shop_.brand_id, datetime.now(UTC))
    db.commit()
    assert post(client, shop_, order(shop_.gtin)).status_code == 201
    assert post(client, shop_, order(shop_.gtin), secret=new).status_code == 201
    commerce.drop_old_secrets(db, shop_.brand_id, datetime.now(UTC))
    db.commit()
    _refused(post(client, shop_, order(shop_.gtin)), 401, "bad_signature")
    assert post(client, shop_, order(shop_.gtin), secret=new).status_code == 201


def test_a_brand_without_a_secret_is_told_how_to_make_one(app, client, db):
    tag = tagged_item(db, brand="nordwand")
    _, token = staff.create_token(db, tag.item.product.brand_id, "till", "shop",
                                  datetime.now(UTC), actor="test")
    db.commit()
    body = json.dumps(order(tag.item.product.gtin))
    headers = {**signed(shop(db), body), "Authorization": f"Bearer {token}"}
    refused = _refused(client.post(PATH, data=body, headers=headers), 403, "no_signing_secret")
    assert "flask commerce secret" in refused["message"]


@pytest.mark.parametrize("authorization", [None, "Bearer atk_not-a-token", "Basic YWRtaW46cHc="])
def test_no_valid_token_is_a_json_401(app, client, db, authorization):
    app.config["ADMIN_PASSWORD"] = "pw"
    shop_ = shop(db)
    body = json.dumps(order(shop_.gtin))
    headers = signed(shop_, body)
    del headers["Authorization"]
    if authorization:
        headers["Authorization"] = authorization
    response = client.post(PATH, data=body, headers=headers)
    _refused(response, 401, "invalid_token")
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert _count(db) == 0


def test_a_revoked_token_is_refused(app, client, db):
    shop_ = shop(db)
    token_id = staff.list_tokens(db, shop_.brand_id)[0].id
    staff.revoke_token(db, token_id, datetime.now(UTC), actor="test")
    db.commit()
    _refused(post(client, shop_, order(shop_.gtin)), 401, "invalid_token")


def test_a_role_that_does_not_sell_is_refused(app, client, db):
    shop_ = shop(db, role="marketer")
    _refused(post(client, shop_, order(shop_.gtin)), 403, "forbidden")
    assert _count(db) == 0


def test_a_body_that_is_not_json_is_a_400(app, client, db):
    shop_ = shop(db)
    _refused(post(client, shop_, '{"type": "order.created", "data": '), 400, "bad_request")
    assert _count(db) == 0


def test_a_nul_byte_is_refused_at_the_boundary(app, client, db):
    shop_ = shop(db)
    payload = order(shop_.gtin, owner={"email_sha256": "0" * 64})
    payload["data"]["products"][0]["gtin"] = shop_.gtin + "\u0000"
    _refused(post(client, shop_, payload), 400, "bad_request")
    assert _count(db) == 0


def test_a_body_that_is_not_utf8_is_a_400(app, client, db):
    shop_ = shop(db)
    headers = signed(shop_, "x")
    _refused(client.post(PATH, data=b'{"type": "\xff"}', headers=headers), 400, "bad_request")


def test_unknown_gtins_are_listed(app, client, db):
    shop_ = shop(db)
    theirs = shop(db, brand="nordwand").gtin
    nobodys = gtin(999_001)
    payload = order(shop_.gtin, products=[{"gtin": shop_.gtin}, {"gtin": theirs},
                                          {"gtin": nobodys, "quantity": 2}])
    body = _refused(post(client, shop_, payload), 422, "invalid_event")
    assert body["details"] == {"gtins": sorted([theirs, nobodys])}
    assert theirs in body["message"] and nobodys in body["message"]
    assert _count(db) == 0


@pytest.mark.parametrize("currency", ["eur", "EURO", "E1R", "QQQ", 978])
def test_a_currency_that_is_not_iso_4217_is_a_422(app, client, db, currency):
    shop_ = shop(db)
    body = _refused(post(client, shop_, order(shop_.gtin, currency=currency)), 422,
                    "invalid_event")
    assert body["details"] == {"field": "data.currency"}


def test_a_body_over_16_kib_is_a_413_before_anything_else(app, client, db):
    shop_ = shop(db)
    payload = order(shop_.gtin, note="x" * (17 * 1024))
    _refused(post(client, shop_, payload), 413, "too_large")
    assert _count(db) == 0


def test_a_body_over_the_apps_limit_is_a_413_from_the_boundary(app, client, db):
    shop_ = shop(db)
    response = post(client, shop_, order(shop_.gtin, note="x" * (70 * 1024)))
    _refused(response, 413, "too_large")


def test_a_body_that_is_not_declared_json_is_a_415(app, client, db):
    shop_ = shop(db)
    body = json.dumps(order(shop_.gtin))
    headers = {**signed(shop_, body), "Content-Type": "text/plain"}
    _refused(client.post(PATH, data=body, headers=headers), 415, "unsupported_media_type")


def test_events_are_rate_limited_per_token(app, client, db):
    app.config["RATE_LIMITS"] = {**app.config["RATE_LIMITS"],
                                 "COMMERCE_EVENTS_PER_TOKEN": "2 per minute"}
    shop_ = shop(db)
    assert [post(client, shop_, order(shop_.gtin)).status_code for _ in range(3)] == [
        201, 201, 429]
    limited = post(client, shop_, order(shop_.gtin))
    assert limited.get_json()["error"] == "rate_limited" and limited.headers["Retry-After"]
    # Another token (another shop of the same brand) has its own allowance.
    _, other = staff.create_token(db, shop_.brand_id, "till", "outlet", datetime.now(UTC),
                                  actor="test")
    db.commit()
    assert post(client, shop_, order(shop_.gtin), token=other).status_code == 201
