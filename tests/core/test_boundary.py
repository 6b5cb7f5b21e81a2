"""The input boundary: a client's malformed input gets a 4xx before any handler, changes nothing
and logs no traceback, on both backends. Each case here was a 500 on PostgreSQL."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DataError

from app import create_app
from app.aftersales.models import ServiceEvent
from app.catalog.models import Item
from app.core import security
from app.core.db import db as app_db
from app.rewards.models import ProductReview
from tests.factories import JSON_ACCEPT, item_path, post_form, tagged_item, tap

# API clients ask for JSON; errors answer in kind.
ADMIN = {"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode(), **JSON_ACCEPT}
TILL = {"Authorization": "Basic " + base64.b64encode(b"till:shop").decode(), **JSON_ACCEPT}


@pytest.fixture
def quiet(caplog):  # type: ignore[no-untyped-def]
    """Capture every log record; after the test, none may be an error or carry a traceback."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not loud, [r.getMessage()[:200] for r in loud]
    assert "Traceback" not in caplog.text


@pytest.fixture
def admin_app(app):  # type: ignore[no-untyped-def]
    app.config.update(ADMIN_PASSWORD="pw", TILL_PASSWORD="shop")
    return app


def _json_error(resp) -> str:  # type: ignore[no-untyped-def]
    body = resp.get_json()
    assert body is not None, resp.get_data(as_text=True)[:300]
    return str(body["error"])


# --- control characters in the address ----------------------------------------------------------


@pytest.mark.parametrize("path", ["/provenance/%00", "/provenance/x%00.json", "/rewards/x%00",
                                  "/rewards/x%01/reveal", "/transfer/%7F"])
def test_a_control_character_in_the_path_is_a_400_page_or_json(client, quiet, path):
    page = client.get(path)
    assert page.status_code == 400
    assert "This link is damaged" in page.get_data(as_text=True)
    assert page.mimetype == "text/html"
    api = client.get(path, headers=JSON_ACCEPT)
    assert api.status_code == 400 and _json_error(api) == "bad_request"


def test_a_nul_in_an_item_serial_is_a_400(client, db, quiet):
    tag = tagged_item(db)
    assert client.get(f"/items/{tag.item.product.gtin}/x%00/owner").status_code == 400
    assert client.get(f"/items/{tag.item.product.gtin}/x%00/owner",
                      headers=JSON_ACCEPT).status_code == 400


def test_a_control_character_in_the_query_string_is_a_400(client, db, keyring, quiet):
    tag = tagged_item(db)
    tap(client, db, keyring, tag)
    assert client.get(item_path(tag, "owner") + "?welcome=1").status_code == 200
    assert client.get(item_path(tag, "owner") + "?welcome=%00").status_code == 400
    assert client.get(item_path(tag, "owner") + "?we%1Bcome=1").status_code == 400
    # Only form and JSON text may hold a line break; a query value may not.
    assert client.get(item_path(tag, "owner") + "?welcome=a%0Ab").status_code == 400


def test_the_till_api_refuses_a_nul_in_a_code(admin_app, quiet):
    till = admin_app.test_client()
    resp = till.get("/admin/api/codes/AB%00CD", headers=TILL)
    assert resp.status_code == 400 and _json_error(resp) == "bad_request"
    resp = till.post("/admin/api/codes/AB%00CD/redeem", json={"shop": "Paris"}, headers=TILL)
    assert resp.status_code == 400


# --- ids ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("huge", [2**31, 2**63, 99999999999999999999, 10**400])
def test_a_service_request_id_past_an_id_column_is_not_found(client, db, keyring, quiet, huge):
    tag = tagged_item(db)
    tap(client, db, keyring, tag)  # the owner, item in hand: the page would be shown
    resp = client.get(item_path(tag, f"service/{huge}"))
    assert resp.status_code == 404
    # The route did not match: the database was never asked (no refusal logged).
    assert "no such service request" not in resp.get_data(as_text=True)
    assert not [r for r in quiet.records if r.levelno >= logging.WARNING]


def test_the_largest_id_still_reaches_the_handler(client, db, keyring, quiet):
    tag = tagged_item(db)
    tap(client, db, keyring, tag)
    resp = client.get(item_path(tag, f"service/{2**31 - 1}"))
    assert resp.status_code == 404
    assert "no such service request" in resp.get_data(as_text=True)  # the handler's answer


def test_a_json_integer_past_64_bits_is_a_400(admin_app, db, quiet):
    tag = tagged_item(db)
    api = admin_app.test_client()
    path = f"/admin/api/items/{tag.item.product.gtin}/{tag.item.serial}/service-events"
    resp = api.post(path, json={"kind": "polish", "request_id": 99999999999999999999},
                    headers=ADMIN)
    assert resp.status_code == 400 and _json_error(resp) == "bad_request"
    assert db.scalar(select(func.count()).select_from(ServiceEvent)) == 0


# --- form fields ---------------------------------------------------------------------------------


def _reviews(db) -> list[str]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return list(db.scalars(select(ProductReview.text)))


def test_a_nul_in_a_form_field_is_a_400_and_stores_nothing(app, db, keyring, quiet):
    tag = tagged_item(db)
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    resp = post_form(phone, item_path(tag, "review"), {"rating": "5", "text": "Fine\x00leather"})
    assert resp.status_code == 400 and "cannot be typed" in resp.get_data(as_text=True)
    resp = post_form(phone, item_path(tag, "review"), {"rating": "5", "te\x01xt": "Fine"})
    assert resp.status_code == 400
    assert _reviews(db) == []


def test_a_textarea_may_send_tabs_and_line_breaks(app, db, keyring, quiet):
    tag = tagged_item(db)
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    resp = post_form(phone, item_path(tag, "review"),
                     {"rating": "5", "text": "Soft leather.\r\n\tStrong seams."})
    assert resp.status_code == 201
    assert _reviews(db) == ["Soft leather.\r\n\tStrong seams."]


# --- JSON bodies --------------------------------------------------------------------------------


def _stolen(db, tag) -> bool:  # type: ignore[no-untyped-def]
    db.expire_all()
    return db.get(Item, tag.item_id).stolen_at is not None


@pytest.mark.parametrize("body", [
    {"stolen": True, "reason": "lost\x00on the train"},
    {"stolen": True, "reason": "bell\x07"},
    {"stolen": True, "re\x00ason": "lost"},
    {"stolen": True, "reason": {"where": ["train", {"car\x1f": 3}]}},
    {"stolen": True, "reason": "lost\ud800"},
])
def test_a_control_character_anywhere_in_json_is_a_400_and_changes_nothing(
    admin_app, db, quiet, body
):
    tag = tagged_item(db)
    api = admin_app.test_client()
    resp = api.post(f"/admin/api/items/{tag.item.product.gtin}/{tag.item.serial}/stolen",
                    data=json.dumps(body), content_type="application/json", headers=ADMIN)
    assert resp.status_code == 400 and _json_error(resp) == "bad_request"
    assert not _stolen(db, tag)


def test_json_text_may_hold_line_breaks(admin_app, db, quiet):
    tag = tagged_item(db)
    api = admin_app.test_client()
    resp = api.post(f"/admin/api/items/{tag.item.product.gtin}/{tag.item.serial}/stolen",
                    json={"stolen": True, "reason": "Lost:\n\ton the train"}, headers=ADMIN)
    assert resp.status_code == 200
    assert _stolen(db, tag)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_json_nested_past_the_limit_is_a_400(admin_app, db, quiet):
    tag = tagged_item(db)
    api = admin_app.test_client()
    path = f"/admin/api/items/{tag.item.product.gtin}/{tag.item.serial}/stolen"
    shallow = '{"stolen": true, "reason": "x", "where": ' + _nested(30) + "}"
    deep = '{"stolen": true, "reason": "x", "where": ' + _nested(40) + "}"
    resp = api.post(path, data=deep, content_type="application/json", headers=ADMIN)
    assert resp.status_code == 400 and "deeper" in resp.get_json()["message"]
    assert not _stolen(db, tag)
    resp = api.post(path, data=shallow, content_type="application/json", headers=ADMIN)
    assert resp.status_code == 200  # within the limit, the handler decides (it ignores "where")


def test_a_hundred_thousand_brackets_are_a_400_not_a_recursion_error(settings, quiet):
    app = create_app({**settings, "MAX_BODY_BYTES": 1024 * 1024, "ADMIN_PASSWORD": "pw"})
    try:
        api = app.test_client()
        resp = api.post("/admin/api/codes/ABC/redeem", data=_nested(100_000),
                        content_type="application/json", headers=ADMIN)
        assert resp.status_code == 400 and _json_error(resp) == "bad_request"
        # Unclosed, too: the parser must not recurse through it either.
        resp = api.post("/admin/api/codes/ABC/redeem", data="[" * 100_000,
                        content_type="application/json", headers=ADMIN)
        assert resp.status_code == 400
    finally:
        app.extensions["aftertap.db"].engine.dispose()


# --- body size ----------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_a_413_page_or_json(admin_app, db, keyring, quiet):
    assert admin_app.config["MAX_CONTENT_LENGTH"] == 64 * 1024
    tag = tagged_item(db)
    api = admin_app.test_client()
    big = {"stolen": True, "reason": "x" * (65 * 1024)}
    resp = api.post(f"/admin/api/items/{tag.item.product.gtin}/{tag.item.serial}/stolen",
                    json=big, headers=ADMIN)
    assert resp.status_code == 413 and resp.get_json()["error"] == "too_large"
    assert not _stolen(db, tag)
    phone = admin_app.test_client()
    tap(phone, db, keyring, tag)
    resp = post_form(phone, item_path(tag, "review"), {"rating": "5", "text": "x" * 70_000})
    assert resp.status_code == 413 and resp.mimetype == "text/html"
    assert "too large" in resp.get_data(as_text=True)
    assert _reviews(db) == []


def test_the_body_limit_is_a_setting(settings):
    app = create_app({**settings, "MAX_BODY_BYTES": 1000})
    try:
        assert app.config["MAX_CONTENT_LENGTH"] == 1000
        resp = app.test_client().post("/items/1/2/review", data={"csrf_token": "x" * 2000})
        assert resp.status_code == 413
    finally:
        app.extensions["aftertap.db"].engine.dispose()


# --- what slips past the boundary: the database's own refusal -----------------------------------


def test_a_value_the_database_refuses_is_a_400_without_a_traceback(settings, quiet):
    app = create_app(settings)

    @app.post("/_test/refused")
    def _refused() -> str:
        session = app_db.session
        if session.get_bind().dialect.name == "postgresql":
            # A real data error: PostgreSQL cannot cast this text to an integer.
            session.execute(text("SELECT CAST(:v AS integer)"), {"v": "not a number"})
        else:  # SQLite casts anything; raise what its driver would
            raise DataError("SELECT 1", {}, ValueError("refused"))
        return "unreachable"

    try:
        security.exempt("_refused")
        client = app.test_client()
        assert client.post("/_test/refused").status_code == 400
        resp = client.post("/_test/refused", headers=JSON_ACCEPT)
        assert resp.status_code == 400 and _json_error(resp) == "bad_request"
    finally:
        app.extensions["aftertap.db"].engine.dispose()
    assert any("database refused a value" in r.getMessage() for r in quiet.records)


@pytest.mark.parametrize("query", ["picc_data=%00&cmac=%00", "%ff%fe=%00",
                                   "picc_data=" + "0" * 31 + "%00&cmac=" + "0" * 16])
def test_a_tap_with_control_characters_is_an_invalid_tap_not_a_500(client, db, quiet, query):
    tag = tagged_item(db)
    for path in ("/t", f"/01/{tag.item.product.gtin}/21/{tag.item.serial}"):
        resp = client.get(f"{path}?{query}", headers=JSON_ACCEPT)
        assert resp.status_code == 400
        assert resp.get_json()["verdict"] == "invalid"  # the tap's own answer, and count
    assert client.get(f"/01/{tag.item.product.gtin}/21/x%00?{query}").status_code == 400
