"""The owner's message choices on a real phone: words people read, one tap to save. Chromium via
Playwright, SQLite and PostgreSQL, screenshots in ``test-artifacts/``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.catalog.models import Item, Owner, Ownership
from tests.browser.conftest import Phone, backend_of
from tests.browser.test_tap_browser import (  # noqa: F401 - demo_server is a fixture
    assert_fits_phone,
    demo_server,
    tap_demo_button,
)
from tests.messages.helpers import publish_demo

pytestmark = pytest.mark.browser

SERIAL = "BAG-0001"


def _confirm_address(app: Any) -> None:
    """Give the bag's owner a confirmed address (the email flow is tested on its own)."""
    session = app.extensions["aftertap.db"].sessionmaker()
    try:
        owner = session.scalar(select(Owner).join(Ownership, Ownership.owner_id == Owner.id)
                               .join(Item, Item.id == Ownership.item_id)
                               .where(Item.serial == SERIAL, Ownership.ended_at.is_(None)))
        owner.email, owner.email_opt_in = "ana@example.com", True
        owner.email_verified_at = datetime.now(UTC)
        session.commit()
    finally:
        # Closed at once: on SQLite an open transaction would hold the write lock.
        session.close()


def test_owner_unticks_refill_reminders(
    app: Any, demo_server: str, phone: Phone, artifacts: Path  # noqa: F811
) -> None:
    session = app.extensions["aftertap.db"].sessionmaker()
    try:
        publish_demo(session)
    finally:
        session.close()
    page = phone.page
    assert tap_demo_button(page, demo_server, SERIAL).status == 200
    _confirm_address(app)
    page.get_by_role("link", name="Your owner page").tap()
    form = page.locator("form#messages")
    expect(form.get_by_text("Messages from Maison Aurelia")).to_be_visible()
    expect(form.get_by_text("You can change this at any time.")).to_be_visible()
    refill = form.get_by_label("Refill reminders (Email)")
    expect(refill).to_be_checked()
    expect(form.get_by_label(
        "Reminders when you have not used an item for a while (The brand’s customer service)"
    )).to_be_checked()
    assert "refill_email" not in form.inner_text()
    refill.uncheck()
    form.get_by_role("button", name="Save my choices").tap()
    page.wait_for_load_state("load")
    expect(page.locator("form#messages").get_by_label("Refill reminders (Email)")
           ).not_to_be_checked()
    # Messages come by the owner's own clock: they choose Tokyo, and it stays chosen.
    form = page.locator("form#messages")
    zone = form.get_by_label("Your time zone")
    expect(zone).to_have_value("")  # automatic until chosen
    zone.select_option(label="Asia · Tokyo")
    form.get_by_role("button", name="Save my choices").tap()
    page.wait_for_load_state("load")
    expect(page.locator("form#messages").get_by_label("Your time zone")).to_have_value(
        "Asia/Tokyo")
    expect(page.locator("form#messages").get_by_label("Refill reminders (Email)")
           ).not_to_be_checked()
    page.locator("form#messages").scroll_into_view_if_needed()
    assert_fits_phone(page)
    page.screenshot(path=artifacts / f"messages-consent-{backend_of(app)}.png")
    size = len(page.content().encode())
    assert size < 60_000, f"the owner page is {size:,} bytes"
    # A zone not among the few: its own page lists them all, by area.
    page.locator("form#messages").get_by_role("link", name="Another time zone").tap()
    page.wait_for_load_state("load")
    expect(page.get_by_role("heading", name="Your time zone")).to_be_visible()
    page.get_by_label("Time zone").select_option(value="Pacific/Auckland")
    assert_fits_phone(page)
    page.screenshot(path=artifacts / f"messages-timezone-{backend_of(app)}.png")
    page.get_by_role("button", name="Save").tap()
    page.wait_for_load_state("load")
    expect(page.locator("form#messages").get_by_label("Your time zone")).to_have_value(
        "Pacific/Auckland")
