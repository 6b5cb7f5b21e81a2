"""The owner page's wallet on a phone: a gift to open, points and their worth, a catalogue spend
whose code then shows under the rewards won; the page's height and size are measured."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from app.catalog.models import Item, Ownership
from app.rewards.ledger import EARN, post_entry
from tests.browser.conftest import PHONE, backend_of
from tests.browser.test_rewards_browser import _age_ownership
from tests.browser.test_tap_browser import (  # noqa: F401 - demo_server is a fixture
    assert_fits_phone,
    demo_server,
    tap_demo_button,
)
from tests.rewards.helpers import T0

pytestmark = pytest.mark.browser


def _give_points(app: Any, serial: str, points: int) -> None:
    session = app.extensions["aftertap.db"].sessionmaker()
    try:
        owner_id = session.query(Ownership.owner_id).join(Item, Item.id == Ownership.item_id) \
            .filter(Item.serial == serial, Ownership.ended_at.is_(None)).scalar()
        post_entry(session, owner_id, EARN, points, "admin", "browser-test", T0,
                   brand="maison-aurelia")
        session.commit()
    finally:
        session.close()


def _measure(page: Any, name: str) -> tuple[int, int]:
    """Return the page's height in CSS px and its HTML size in bytes (printed for the report)."""
    height = int(page.evaluate("document.documentElement.scrollHeight"))
    size = len(page.content().encode())
    if os.environ.get("AFTERTAP_REPORT_HEIGHT"):
        print(f"\n{name}: {height} px tall, {size} bytes")
    return height, size


def test_wallet_shows_a_gift_and_points_then_a_spend_shows_its_code(
    app: Any, demo_server: str, browser: Any, artifacts: Path  # noqa: F811
) -> None:
    context = browser.new_context(**PHONE)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        tap_demo_button(page, demo_server, "SER-0001")  # unboxing: owner #1, 100 points
        _age_ownership(app, "SER-0001", 80)  # day 80 of a serum: the refill scratch card
        tap_demo_button(page, demo_server, "SER-0001")
        page.get_by_role("link", name="Your owner page").tap()
        wallet = page.get_by_role("region", name="Your wallet")
        expect(wallet).to_contain_text("100 points, worth €5.00")
        expect(wallet.get_by_role("link", name="Scratch your card")).to_be_visible()
        buy = wallet.get_by_role("listitem").filter(has_text="Three travel samples")
        expect(buy.get_by_role("button", name="Get it")).to_be_disabled()
        expect(buy).to_contain_text("You need 50 more points")
        # The wallet is the first card after the product: no scrolling to reach it.
        assert wallet.bounding_box()["y"] < 844 * 1.5
        _height, size = _measure(page, "owner page")
        assert size < 60_000
        assert_fits_phone(page)

        _give_points(app, "SER-0001", 100)
        page.reload()
        buy.get_by_role("button", name="Get it").tap()
        page.wait_for_url("**/owner")
        expect(wallet).to_contain_text("50 points, worth €2.50")
        expect(wallet.get_by_role("heading", name="Rewards won")).to_be_visible()
        code = wallet.locator(".wallet-codes code").first
        expect(code).to_be_visible()
        assert len(code.inner_text()) >= 6
        expect(wallet.locator(".wallet-codes li").first).to_contain_text("Three travel samples")
        expect(wallet).to_contain_text("use by")
        assert_fits_phone(page)
        page.screenshot(path=artifacts / f"wallet-{backend_of(app)}.png", full_page=True)
        _measure(page, "owner page after a spend")
    finally:
        context.close()
