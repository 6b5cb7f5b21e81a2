"""Provenance over HTTP: the public page and JSON, the published key, owner and admin actions."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from flask import render_template

from app.catalog.access import OWNER_COOKIE
from app.catalog.holdings import current_holding
from app.catalog.views import item_view
from app.core.signals import provenance_issued, provenance_sections
from app.ownership.brand import set_stolen
from app.provenance import KEY_EXTENSION
from app.provenance.models import ProvenanceRecord
from app.provenance.records import issue_record, records_for_item
from app.provenance.verification import public_keys_from_text, verify_document
from app.verify.service import mint_tap_url
from tests.factories import tagged_item
from tests.provenance.helpers import ATTRIBUTES, EMAIL, owned, resold, serviced

JSON = {"Accept": "application/json"}
KEYS = "/.well-known/aftertap-provenance-keys.json"
ADMIN_PASSWORD = "correct horse battery staple"
CSRF = "test-csrf-token"


def tap(client, db, keyring, tag) -> None:  # type: ignore[no-untyped-def]
    """Tap ``tag`` with this browser, through the real verify + journey flow."""
    url = mint_tap_url(db, keyring, tag, "http://localhost")
    db.commit()
    parts = urlsplit(url)
    assert client.get(f"{parts.path}?{parts.query}").status_code == 200


def with_csrf(client):  # type: ignore[no-untyped-def]
    with client.session_transaction() as session:
        session["csrf"] = CSRF
    return client


def post_form(client, path: str):  # type: ignore[no-untyped-def]
    return with_csrf(client).post(path, data={"csrf_token": CSRF})


def admin_headers() -> dict[str, str]:
    token = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def issued(app, db, **kw):  # type: ignore[no-untyped-def]
    """Return ``(tag, record)``: an owned item and a record issued now by its owner."""
    tag, _, ownership_id = owned(db, at=datetime.now(UTC) - timedelta(days=30), **kw)
    record = issue_record(db, app.extensions[KEY_EXTENSION], app.config,
                          item_view(tag.item), ownership_id, datetime.now(UTC))
    db.commit()
    return tag, record


def owner_of_tapped_item(client, db, keyring, **kw):  # type: ignore[no-untyped-def]
    """Return the tag of a new item this browser has just unboxed (first genuine tap: owner)."""
    tag = tagged_item(db, attributes=dict(ATTRIBUTES), **kw)
    tap(client, db, keyring, tag)
    assert client.get_cookie(OWNER_COOKIE) is not None
    assert current_holding(db, tag.item.id) is not None
    return tag


def create_path(tag) -> str:  # type: ignore[no-untyped-def]
    return f"/items/{tag.item.product.gtin}/{tag.item.serial}/provenance"


# --- public ---------------------------------------------------------------------------------------


def test_well_known_key_set_is_the_signing_key_in_jwk_form(app, client):
    resp = client.get(KEYS)
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    assert "max-age" in resp.headers["Cache-Control"]
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    key = app.extensions[KEY_EXTENSION]
    (jwk,) = resp.get_json()["keys"]
    assert jwk == {"kid": key.key_id, "kty": "OKP", "crv": "Ed25519",
                   "x": base64.urlsafe_b64encode(key.public_raw).rstrip(b"=").decode(),
                   "alg": "EdDSA", "use": "sig",
                   # The house key: it signs for brands without a key of their own.
                   "aftertap_brand": None, "aftertap_status": "current"}
    assert "d" not in jwk  # never the private part


def test_public_page_shows_the_signed_facts_and_no_personal_data(app, client, db):
    tag, record = issued(app, db)
    serviced(db, tag.item, "cleaning", datetime.now(UTC) - timedelta(days=3))
    resp = client.get(f"/provenance/{record.id}")
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "public, max-age=60"
    page = resp.get_data(as_text=True)
    for shown in (tag.item.product.name, tag.item.serial, "Italy", "calfskin",
                  "Previous owners", "Valid provenance record", "Valid until",
                  f"/provenance/{record.id}.json", KEYS, record.key_id):
        assert shown in page, shown
    for hidden in (EMAIL, "Atelier", "Note for", "EUR 112"):
        assert hidden not in page
    # The page shows what was signed: service recorded after issuing is not in this record.
    assert "cleaning" not in page


def test_public_page_of_a_record_without_a_service_section(app, client, db):
    with provenance_sections.muted():  # as if no package added sections
        _, record = issued(app, db)
    assert "service" not in json.loads(record.document)
    resp = client.get(f"/provenance/{record.id}")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "Previous owners" in page and "Valid provenance record" in page
    assert "Services" not in page


def test_public_json_verifies_with_only_the_published_key(app, client, db):
    _, record = issued(app, db)
    resp = client.get(f"/provenance/{record.id}.json")
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "public, max-age=60"
    body = resp.get_json()
    assert body["status"] == "valid" and body["revoked_at"] is None
    assert body["document"] == record.document and body["signature"] == record.signature
    assert body["keys_url"] == "http://localhost" + KEYS
    keys = public_keys_from_text(client.get(KEYS).get_data(as_text=True))
    result = verify_document(resp.get_data(as_text=True), keys, datetime.now(UTC))
    assert result.ok, result.reason
    assert EMAIL not in resp.get_data(as_text=True)


def test_unknown_record_is_404_page_and_json(client):
    page = client.get("/provenance/doesnotexist")
    assert page.status_code == 404
    assert "no provenance record" in page.get_data(as_text=True)
    as_json = client.get("/provenance/doesnotexist.json", headers=JSON)
    assert as_json.status_code == 404
    assert as_json.get_json()["error"] == "not_found"


def test_expired_record_shows_expired(app, client, db):
    _, record = issued(app, db)
    db.get(ProvenanceRecord, record.id).expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.commit()
    assert client.get(f"/provenance/{record.id}.json").get_json()["status"] == "expired"
    assert "Expired" in client.get(f"/provenance/{record.id}").get_data(as_text=True)


def test_record_of_an_item_sold_on_or_stolen_no_longer_looks_valid(app, client, db):
    tag, record = issued(app, db)
    resold(db, tag, datetime.now(UTC))
    assert client.get(f"/provenance/{record.id}.json").get_json()["status"] == "changed_hands"
    assert "changed hands" in client.get(f"/provenance/{record.id}").get_data(as_text=True)
    set_stolen(db, tag.item, True, datetime.now(UTC), actor="admin", reason="police report")
    db.commit()
    assert client.get(f"/provenance/{record.id}.json").get_json()["status"] == "stolen"
    assert "reported stolen" in client.get(f"/provenance/{record.id}").get_data(as_text=True)


@pytest.fixture
def admin(app):  # type: ignore[no-untyped-def]
    app.config["ADMIN_PASSWORD"] = ADMIN_PASSWORD
    return app.test_client()


def test_admin_revokes_and_the_public_page_says_so(app, admin, client, db):
    _, record = issued(app, db)
    path = f"/admin/api/provenance/{record.id}/revoke"
    assert admin.post(path, json={"reason": "x"}).status_code == 401
    assert admin.post(path, data="reason=x", headers=admin_headers()).status_code == 415
    resp = admin.post(path, json={"reason": "fraudulent listing"}, headers=admin_headers())
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "revoked"
    again = admin.post(path, json={}, headers=admin_headers())
    assert again.status_code == 409
    missing = admin.post("/admin/api/provenance/nope/revoke", json={}, headers=admin_headers())
    assert missing.status_code == 404
    body = client.get(f"/provenance/{record.id}.json").get_json()
    assert body["status"] == "revoked" and body["revoked_at"] is not None
    assert "Withdrawn" in client.get(f"/provenance/{record.id}").get_data(as_text=True)
    # Still authentic offline: revocation is only known online, which the docs say.
    keys = {record.key_id: app.extensions[KEY_EXTENSION].public_raw}
    assert verify_document(body, keys, datetime.now(UTC)).ok


# --- the owner ------------------------------------------------------------------------------------


def test_owner_with_a_live_tap_creates_a_record_and_lands_on_its_page(app, client, db, keyring):
    tag = owner_of_tapped_item(client, db, keyring)
    resp = post_form(client, create_path(tag))
    assert resp.status_code == 303
    location = urlsplit(resp.headers["Location"]).path
    assert location.startswith("/provenance/")
    record = db.get(ProvenanceRecord, location.rsplit("/", 1)[1])
    assert record is not None and record.item_id == tag.item.id
    assert record.ownership_id == current_holding(db, tag.item.id).id
    doc = json.loads(record.document)
    assert doc["ownership"]["previous_owners"] == 0
    assert client.get(location).status_code == 200


def test_create_without_a_tap_in_this_browser_is_403(app, client, db, keyring):
    tag = owner_of_tapped_item(client, db, keyring)
    stranger = app.test_client()
    resp = post_form(stranger, create_path(tag))
    assert resp.status_code == 403
    # The owner's cookie alone (no product in hand) is not enough either.
    cookie_only = app.test_client()
    cookie_only.set_cookie(OWNER_COOKIE, client.get_cookie(OWNER_COOKIE).value)
    resp = post_form(cookie_only, create_path(tag))
    assert resp.status_code == 403
    assert db.query(ProvenanceRecord).count() == 0


def test_another_browser_that_taps_the_item_is_not_the_owner(app, client, db, keyring):
    tag = owner_of_tapped_item(client, db, keyring)
    client.get("/healthz")  # the owner's browser came back: the claim is confirmed
    other = app.test_client()
    tap(other, db, keyring, tag)
    resp = with_csrf(other).post(create_path(tag), data={"csrf_token": CSRF}, headers=JSON)
    assert resp.status_code == 403
    assert resp.get_json()["error"] == "not_owner"
    assert db.query(ProvenanceRecord).count() == 0


def test_create_needs_the_csrf_token(client, db, keyring):
    tag = owner_of_tapped_item(client, db, keyring)
    assert client.post(create_path(tag)).status_code == 400


def test_owner_revokes_their_record_others_cannot(app, client, db, keyring):
    tag = owner_of_tapped_item(client, db, keyring)
    location = urlsplit(post_form(client, create_path(tag)).headers["Location"]).path
    record_id = location.rsplit("/", 1)[1]
    other = app.test_client()
    tap(other, db, keyring, tag)
    assert post_form(other, f"/provenance/{record_id}/revoke").status_code == 403
    assert post_form(app.test_client(), f"/provenance/{record_id}/revoke").status_code == 403
    assert post_form(client, "/provenance/nope/revoke").status_code == 404
    resp = post_form(client, f"/provenance/{record_id}/revoke")
    assert resp.status_code == 303
    assert urlsplit(resp.headers["Location"]).path == location
    assert client.get(f"{location}.json").get_json()["status"] == "revoked"
    assert post_form(client, f"/provenance/{record_id}/revoke").status_code == 409


def test_owner_section_lists_records_with_links_and_forms(app, db):
    tag, record = issued(app, db)
    view = item_view(tag.item)
    with app.test_request_context("/"):
        records = records_for_item(db, view.id)
        html = render_template("provenance/_owner_section.html", item=view,
                               provenance_records=records)
    assert f"/provenance/{record.id}" in html
    assert f"/provenance/{record.id}/revoke" in html
    assert f"/items/{view.product.gtin}/{view.serial}/provenance" in html
    assert "Create a provenance record for a listing" in html
    assert html.count('name="csrf_token"') == 2


def test_owner_page_offers_the_record_and_lists_it(client, db, keyring):
    tag = owner_of_tapped_item(client, db, keyring)
    page_path = f"/items/{tag.item.product.gtin}/{tag.item.serial}/owner"
    page = client.get(page_path)
    assert page.status_code == 200
    assert f'action="{create_path(tag)}"' in page.get_data(as_text=True)
    location = urlsplit(post_form(client, create_path(tag)).headers["Location"]).path
    html = client.get(page_path).get_data(as_text=True)
    assert f'href="{location}"' in html
    assert f'action="{location}/revoke"' in html


def test_creating_tells_listeners_with_the_app_settings_and_commits_with_them(app, client, db,
                                                                              keyring):
    tag = owner_of_tapped_item(client, db, keyring)
    holding = current_holding(db, tag.item.id)
    heard = []

    def listener(sender, **kw):  # type: ignore[no-untyped-def]
        heard.append(kw)

    with provenance_issued.connected_to(listener):
        resp = post_form(client, create_path(tag))
    assert resp.status_code == 303
    (kw,) = heard
    # The app's own settings: the rewards listener reads its points table there.
    assert kw["settings"] is app.config
    assert (kw["owner_id"], kw["ownership_id"]) == (holding.owner_id, holding.id)
    assert resp.headers["Location"].endswith(f"/provenance/{kw['record_id']}")

    def broken(sender, **kw):  # type: ignore[no-untyped-def]
        raise RuntimeError("listener failed")

    with provenance_issued.connected_to(broken):
        assert post_form(client, create_path(tag)).status_code == 500
    assert db.query(ProvenanceRecord).count() == 1  # the second record went with the failure
