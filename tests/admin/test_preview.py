"""The marketer's preview page: behind admin auth, shows decision, reasons and refused files."""

from __future__ import annotations

import base64

import pytest

from tests.factories import tagged_item


def basic(password: str) -> dict[str, str]:
    token = base64.b64encode(f"admin:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def admin_app(app):  # type: ignore[no-untyped-def]
    app.config["ADMIN_PASSWORD"] = "correct horse battery staple"
    return app


def test_admin_pages_do_not_exist_without_a_password(client):
    assert client.get("/admin/preview").status_code == 404


def test_admin_needs_the_password(admin_app):
    client = admin_app.test_client()
    assert client.get("/admin/preview").status_code == 401
    assert client.get("/admin/preview", headers=basic("wrong")).status_code == 401
    assert "WWW-Authenticate" in client.get("/admin/preview").headers


def test_preview_shows_decision_and_reasons_for_an_item_and_moment(admin_app, db):
    tagged_item(db, category="serum", serial="SER-P1")
    client = admin_app.test_client()
    resp = client.get("/admin/preview?brand=maison-aurelia&item=SER-P1&moment=owner-day-80",
                      headers=basic("correct horse battery staple"))
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Journey <strong>serum-refill</strong> shows <strong>refill</strong>" in html
    assert "✓ ownership.days &gt;= 77" in html
    page = client.get(
        "/admin/preview/page?brand=maison-aurelia&item=SER-P1&moment=owner-day-80",
        headers=basic("correct horse battery staple"))
    assert page.status_code == 200
    assert "Running low on Test serum?" in page.get_data(as_text=True)


def test_preview_reports_bad_input_plainly(admin_app):
    client = admin_app.test_client()
    auth = basic("correct horse battery staple")
    resp = client.get("/admin/preview?item=NOPE", headers=auth)
    assert resp.status_code == 200
    assert "no tagged item has serial" in resp.get_data(as_text=True)
    resp = client.get("/admin/preview?facts=owner.is_curent%3Dtrue", headers=auth)
    assert "did you mean" in resp.get_data(as_text=True)
    assert client.get("/admin/preview/page?moment=first-tap", headers=auth).status_code == 400


def test_preview_shows_a_refused_ruleset(settings, tmp_path):
    import os
    import time

    from app import create_app

    rules = tmp_path / "r"
    rules.mkdir()
    good = "brand: maison-aurelia\njourneys:\n  - {id: a, priority: 1, experience: care}\n"
    (rules / "b.yaml").write_text(good)
    app = create_app({**settings, "RULESETS_DIR": str(rules), "RULESETS_RELOAD_SECONDS": 0,
                      "ADMIN_PASSWORD": "pw"})
    (rules / "b.yaml").write_text(good.replace("care", "careless"))
    later = time.time() + 5
    os.utime(rules / "b.yaml", (later, later))
    html = app.test_client().get("/admin/preview", headers=basic("pw")).get_data(as_text=True)
    assert "b.yaml is not live" in html
    assert "careless" in html
    app.extensions["aftertap.db"].engine.dispose()
