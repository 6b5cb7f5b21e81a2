"""A staff member on a phone: signs in through the real form and looks an item up."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from playwright.sync_api import expect

from app.aftersales.events import record_event
from app.catalog.models import Item
from app.core import staff
from app.core.clock import now
from tests.admin.helpers import BRAND_A, PASSWORD, seed_brand, staff_member
from tests.browser.conftest import Phone, backend_of
from tests.browser.test_tap_browser import assert_fits_phone

pytestmark = pytest.mark.browser


def test_sign_in_and_find_an_item_on_a_phone(
    app: Any, db: Any, live_server: str, phone: Phone, artifacts: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The tests are about who gets in, not argon2's cost (about half a second a hash on CI).
    monkeypatch.setattr(staff, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    seeded = seed_brand(app, db, BRAND_A, "WAT-0042")
    item = db.query(Item).filter(Item.serial == seeded.serial).one()
    record_event(db, item, "full service", now() - timedelta(days=2), location="Paris Rivoli",
                 settings={}, actor="staff:1")
    db.commit()
    staff_member(db, seeded.brand_id, "service", "lea@brand.example")
    page = phone.page
    backend = backend_of(app)

    page.goto(f"{live_server}/admin/items?q={seeded.serial}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert_fits_phone(page)
    page.screenshot(path=str(artifacts / f"staff-login-{backend}.png"), full_page=True)
    page.get_by_label("Email").fill("lea@brand.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Find an item")
    expect(page.get_by_role("heading", name="Test watch")).to_be_visible()
    expect(page.get_by_text("Owner no. 1")).to_be_visible()
    assert_fits_phone(page)
    page.screenshot(path=str(artifacts / f"staff-item-{backend}.png"), full_page=True)
    # Only the signed-out first visit's 401, which is the sign-in page itself.
    assert [text for text, _url in phone.console_errors if "401" not in text] == []
