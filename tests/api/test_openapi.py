"""The OpenAPI document: served as JSON, a valid OpenAPI 3.1 document, and never adrift from
the routes the app really has (every JSON route in it, with its methods; nothing in it that the
app does not serve)."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import pytest
import schemathesis
import yaml
from jsonschema import Draft202012Validator

from app.api.views import SPEC_FILE
from app.catalog.holdings import current_holding
from app.core import staff
from tests.factories import JSON_ACCEPT, tagged_item, tap_url

# Routes that answer JSON and are in the document's scope: the tap, the admin and till API, the
# public provenance files, health and the document itself. Every /admin/api rule is in scope
# whatever its name; these are the rest.
PUBLIC_JSON_ENDPOINTS = {
    "tap.tap",
    "tap.tap_digital_link",
    "provenance.record_json",
    "provenance.public_keys",
    "healthz",
    "openapi.openapi",
    "events.receive",  # POST /api/v1/events, a brand's shop or CRM
}
# Routes that answer JSON on request but are deliberately outside the document: the owner's own
# browser actions, which need a live tap session and the CSRF token of a page they opened.
OWNER_BROWSER_JSON = {
    "rewards.reveal",  # POST /rewards/<token>/reveal, JSON with Accept: application/json
    "ownership.export",  # GET /items/<gtin>/<serial>/export, the owner's own download
}
_IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _spec() -> dict:
    return yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))


def _openapi_path(rule: str) -> str:
    """``/items/<gtin>/<int:id>`` → ``/items/{gtin}/{id}``."""
    return re.sub(r"<(?:[a-z_]+:)?([a-z_]+)>", r"{\1}", rule)


def _in_scope(app) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin/api/") or rule.endpoint in PUBLIC_JSON_ENDPOINTS:
            methods = set(rule.methods or ()) - _IGNORED_METHODS
            routes.setdefault(_openapi_path(rule.rule), set()).update(methods)
    return routes


def test_document_is_served_as_public_cacheable_json(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.get_json() == _spec()
    # Public: no credentials needed, none asked for, no cookie set.
    assert "Set-Cookie" not in response.headers


def test_document_is_valid_openapi_31():
    spec = _spec()
    assert spec["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(spec).validate()  # the OpenAPI 3.1 meta-schema
    for name, schema in spec["components"]["schemas"].items():
        try:
            Draft202012Validator.check_schema(schema)
        except Exception as exc:  # pragma: no cover - names the broken schema
            pytest.fail(f"components/schemas/{name}: {exc}")


def test_every_json_route_is_documented_with_its_methods(app):
    spec_paths = {
        path: {m.upper() for m in item if m in ("get", "post", "put", "patch", "delete")}
        for path, item in _spec()["paths"].items()
    }
    routes = _in_scope(app)
    assert routes, "no route in scope: the scope rule is wrong"
    missing = {p: m for p, m in routes.items() if spec_paths.get(p) != m}
    assert not missing, f"routes missing from app/api/openapi.yaml or with other methods: {missing}"
    served = {_openapi_path(r.rule) for r in app.url_map.iter_rules()}
    stale = sorted(set(spec_paths) - served)
    assert not stale, f"app/api/openapi.yaml documents paths the app does not serve: {stale}"
    assert set(spec_paths) == set(routes)


def test_out_of_scope_json_routes_still_exist(app):
    # If one of these goes away or is renamed, the exclusion list above must follow.
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints >= OWNER_BROWSER_JSON | PUBLIC_JSON_ENDPOINTS


def test_every_admin_api_operation_requires_a_token_and_documents_401_403_and_429():
    for path, item in _spec()["paths"].items():
        for method, operation in item.items():
            if path.startswith("/admin/api/"):
                assert operation.get("security") == [{"bearerAuth": []}, {"basicAuth": []}], (
                    method, path)
                assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)
            if method == "post":
                assert {"413", "415"} <= set(operation["responses"]), (method, path)


@pytest.fixture
def schema(app):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


def _validate(schema, method: str, path: str, response) -> None:  # type: ignore[no-untyped-def]
    """Fail unless ``response`` is documented for the operation and matches its schema."""
    operation = schema[path][method]
    case = operation.Case()
    case.validate_response(response)


def test_genuine_and_replayed_taps_match_the_document(app, client, db, keyring, schema):
    tag = tagged_item(db)
    url = tap_url(db, keyring, tag)
    genuine = client.get(url, headers=JSON_ACCEPT)
    assert genuine.status_code == 200 and genuine.get_json()["verdict"] == "genuine"
    assert genuine.get_json()["ownership"]["claimed_now"] is True
    _validate(schema, "GET", "/t", genuine)
    replayed = client.get(url, headers=JSON_ACCEPT)
    assert replayed.status_code == 409
    _validate(schema, "GET", "/t", replayed)
    link = tap_url(db, keyring, tag).replace("/t?", f"/01/{tag.item.product.gtin}/21/"
                                                     f"{tag.item.serial}?")
    digital = client.get(link, headers=JSON_ACCEPT)
    assert digital.status_code == 200
    _validate(schema, "GET", "/01/{gtin}/21/{serial}", digital)
    assert current_holding(db, tag.item_id) is not None


def test_a_revoked_token_and_a_role_refused_are_the_documented_401_and_403(
        app, client, db, schema):
    tag = tagged_item(db)
    at = datetime.now(UTC)
    path = f"/admin/api/items/{tag.item.product.gtin}/{tag.item.serial}"
    _, till = staff.create_token(db, tag.item.product.brand_id, "till", "shop", at,
                                 actor="test")
    revoked_id, revoked = staff.create_token(db, tag.item.product.brand_id, "service", "crm",
                                             at, actor="test")
    staff.revoke_token(db, revoked_id, at, actor="test")
    db.commit()
    refused = client.get(path, headers={"Authorization": f"Bearer {till}", **JSON_ACCEPT})
    assert refused.status_code == 403
    _validate(schema, "GET", "/admin/api/items/{gtin}/{serial}", refused)
    gone = client.get(path, headers={"Authorization": f"Bearer {revoked}", **JSON_ACCEPT})
    assert gone.status_code == 401
    _validate(schema, "GET", "/admin/api/items/{gtin}/{serial}", gone)


def test_wrong_password_is_the_documented_401(app, client, schema):
    app.config["ADMIN_PASSWORD"] = "right"
    token = base64.b64encode(b"admin:wrong").decode()
    response = client.get("/admin/api/items/04000000000001/S1",
                          headers={"Authorization": f"Basic {token}", **JSON_ACCEPT})
    assert response.status_code == 401
    _validate(schema, "GET", "/admin/api/items/{gtin}/{serial}", response)
