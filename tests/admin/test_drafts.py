"""The preview page's draft: check, replay and publish a ruleset through the browser."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

from sqlalchemy import select

from app.rules.models import RulesetVersion
from tests.factories import tagged_item

LIVE_FILE = Path(__file__).resolve().parents[2] / "rulesets" / "maison-aurelia.yaml"
AUTH = {"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}


def test_a_draft_is_checked_replayed_then_published(app, db):
    tagged_item(db)
    app.config["ADMIN_PASSWORD"] = "pw"
    client = app.test_client()
    page = client.get("/admin/preview", headers=AUTH).get_data(as_text=True)
    assert "Try or publish a draft" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]

    typo = LIVE_FILE.read_text().replace("brand: maison-aurelia", "brand: maison-aurelie")
    refused = client.post("/admin/preview/draft", headers=AUTH, data={
        "csrf_token": token, "text": typo, "action": "publish"})
    assert refused.status_code == 422
    assert "is not a brand in the database" in refused.get_data(as_text=True)

    checked = client.post("/admin/preview/draft", headers=AUTH, data={
        "csrf_token": token, "action": "check", "days": "30",
        "file": (io.BytesIO(LIVE_FILE.read_bytes()), "maison-aurelia.yaml")})
    assert checked.status_code == 200
    assert "taps of the last 30 days replayed" in checked.get_data(as_text=True)
    assert db.scalar(select(RulesetVersion.id)) is None

    published = client.post("/admin/preview/draft", headers=AUTH, data={
        "csrf_token": token, "action": "publish",
        "file": (io.BytesIO(LIVE_FILE.read_bytes()), "maison-aurelia.yaml")})
    assert "Published: <strong>maison-aurelia version" in published.get_data(as_text=True)
    row = db.scalars(select(RulesetVersion)).one()
    assert row.author == "admin" and row.source == "maison-aurelia.yaml"
    after = client.get("/admin/preview", headers=AUTH).get_data(as_text=True)
    assert f"version {row.id} is live, published by admin" in after
