"""Cookies and proxies: the session cookie's attributes, a TLS proxy in front (ProxyFix, HSTS),
trusted hosts, redirects that never reflect the Host header, and ``no-store`` on ``/admin``."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from app import create_app
from app.core.security import relative_redirect
from tests.factories import tagged_item, tap, tap_url

ADMIN = {"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}
VIA_TLS_PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


@pytest.fixture
def make_app(settings: dict[str, object]) -> Iterator[Any]:
    """Build an app with extra settings (read once at start-up, like the proxy's hops)."""
    built: list[Flask] = []

    def build(**extra: object) -> Flask:
        app = create_app({**settings, **extra})
        built.append(app)
        return app

    yield build
    for app in built:
        app.extensions["aftertap.db"].engine.dispose()


def session_cookie(response: Any) -> str:
    """Return the Set-Cookie header of the session cookie (fails when none was set)."""
    (header,) = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    return header


def attributes(header: str) -> set[str]:
    """Return a Set-Cookie header's attributes, lower-cased, without the value."""
    return {part.strip().lower() for part in header.split(";")[1:]}


def test_the_session_cookie_is_lax_and_http_only_and_not_secure_over_plain_http(app, db,
                                                                               keyring):
    response = tap(app.test_client(), db, keyring, tagged_item(db))
    assert response.status_code == 200
    attrs = attributes(session_cookie(response))
    assert "samesite=lax" in attrs and "httponly" in attrs
    # A development server on plain HTTP must still get its cookie back.
    assert "secure" not in attrs


def test_cookie_secure_marks_the_session_cookie_secure(make_app, db):
    app = make_app(COOKIE_SECURE=True)
    response = tap(app.test_client(), db, app.extensions["aftertap.keys"], tagged_item(db))
    attrs = attributes(session_cookie(response))
    assert "secure" in attrs and "samesite=lax" in attrs


def test_behind_a_tls_proxy_cookies_are_secure_and_hsts_is_sent(make_app, db):
    app = make_app(PROXY_HOPS=1, HSTS_SECONDS=31536000)
    keys = app.extensions["aftertap.keys"]
    response = app.test_client().get(tap_url(db, keys, tagged_item(db)), headers=VIA_TLS_PROXY)
    assert response.status_code == 200
    assert "secure" in attributes(session_cookie(response))
    owner = [h for h in response.headers.getlist("Set-Cookie") if not h.startswith("session=")]
    assert owner and all("secure" in attributes(h) for h in owner)
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_forwarded_headers_are_ignored_without_a_proxy_configured(make_app, db):
    app = make_app(HSTS_SECONDS=31536000)
    response = app.test_client().get(
        tap_url(db, app.extensions["aftertap.keys"], tagged_item(db)), headers=VIA_TLS_PROXY)
    assert response.status_code == 200
    # Anyone can send X-Forwarded-Proto: only a configured proxy is believed.
    assert "secure" not in attributes(session_cookie(response))
    assert "Strict-Transport-Security" not in response.headers


def test_hsts_only_when_asked_for_and_only_over_https(make_app):
    plain = make_app().test_client()
    assert "Strict-Transport-Security" not in plain.get(
        "/healthz", base_url="https://localhost").headers
    hsts = make_app(HSTS_SECONDS=600).test_client()
    assert hsts.get("/healthz", base_url="https://localhost").headers[
        "Strict-Transport-Security"] == "max-age=600"
    assert "Strict-Transport-Security" not in hsts.get("/healthz").headers


def test_a_forged_host_gets_400_when_hosts_are_trusted(make_app):
    client = make_app(TRUSTED_HOSTS="shop.example, localhost").test_client()
    assert client.get("/healthz", headers={"Host": "shop.example"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "shop.example:8443"}).status_code == 200
    forged = client.get("/healthz", headers={"Host": "evil.example"})
    assert forged.status_code == 400
    redirect = client.get("/admin//preview", headers={"Host": "evil.example"})
    assert redirect.status_code == 400 and "Location" not in redirect.headers
    as_json = client.get("/rewards//terms/x", headers={"Host": "evil.example",
                                                       "Accept": "application/json"})
    assert as_json.status_code == 400 and as_json.get_json()["error"] == "bad_request"


def test_unset_trusted_hosts_accept_any_host(make_app):
    client = make_app().test_client()
    assert client.get("/healthz", headers={"Host": "anything.example"}).status_code == 200


@pytest.mark.parametrize("path", ["/admin//preview", "/rewards//terms/maison-aurelia",
                                  "/items//01234/ABC/owner"])
def test_slash_redirects_never_name_the_host_the_client_sent(app, path):
    response = app.test_client().get(path, headers={"Host": "evil.example"})
    assert response.status_code == 308
    location = response.headers["Location"]
    assert "evil.example" not in location
    assert location.startswith("/") and not location.startswith("//")
    assert location == path.replace("//", "/")


def test_every_admin_response_is_no_store(app, db):
    app.config["ADMIN_PASSWORD"] = "pw"
    client = app.test_client()
    tag = tagged_item(db)
    item = f"/admin/api/items/{tag.item.product.gtin}/{tag.item.serial}"
    for path, headers in [("/admin/preview", ADMIN), (item, ADMIN), (item, {}),
                          ("/admin/api/items/0/0", ADMIN)]:
        response = client.get(path, headers=headers)
        assert response.status_code in (200, 401, 404), path
        assert response.headers["Cache-Control"] == "no-store", (path, response.status_code)
    # Other public pages keep their own caching.
    assert client.get("/healthz").headers.get("Cache-Control") != "no-store"


def test_a_relative_redirect_never_becomes_a_link_to_another_host(app):
    with app.test_request_context("/", headers={"Host": "evil.example"}):
        response = app.response_class(status=308,
                                      headers={"Location": "http://evil.example//other.example/x?a=1"})
        assert relative_redirect(response).headers["Location"] == "/other.example/x?a=1"
        elsewhere = app.response_class(status=302, headers={"Location": "https://brand.example/"})
        assert relative_redirect(elsewhere).headers["Location"] == "https://brand.example/"
