"""Helpers for the after-sales tests: admin credentials and an owned item."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from app.catalog.holdings import current_holding
from app.catalog.models import Item
from app.catalog.views import item_view
from app.ownership.lifecycle import claim
from tests.factories import tagged_item

ADMIN_PASSWORD = "correct horse battery staple"
# The app settings ``record_event`` passes on with ``service_recorded``: none, where loyalty points
# are not what a test is about (tests/rewards covers them).
SETTINGS: dict[str, object] = {}


def basic(password: str = ADMIN_PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"admin:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def admin_app(app):  # type: ignore[no-untyped-def]
    app.config["ADMIN_PASSWORD"] = ADMIN_PASSWORD
    return app


@pytest.fixture
def owned(db):  # type: ignore[no-untyped-def]
    """Return ``(item, holding)``: a watch with a 24-month warranty, claimed and activated."""
    tag = tagged_item(db, category="watch", attributes={"warranty_months": 24})
    item = tag.item
    start = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
    claim(db, item_view(item), None, start)
    item.warranty_started_at = start
    item.warranty_ends_at = datetime(2028, 1, 10, 9, 0, tzinfo=UTC)
    db.commit()
    return item, current_holding(db, item.id)


def fresh(db, item: Item) -> Item:  # type: ignore[no-untyped-def]
    """Return ``item`` re-read from the database."""
    db.expire_all()
    return db.get(Item, item.id)
