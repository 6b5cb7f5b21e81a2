"""Issue 13, item 7 on a phone (390x844): the scratch card's keyboard way in is visible and not
covered; the owner reloading their tap page is offered their owner page; a pending buyer is
about to become the owner. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.catalog.holdings import current_holding
from app.catalog.models import Item, Owner
from app.catalog.views import item_view
from app.ownership.transfers import create_offer
from tests.browser.conftest import PHONE, backend_of
from tests.browser.test_rewards_browser import _age_ownership
from tests.browser.test_tap_browser import (  # noqa: F401 - demo_server is a fixture
    DEMO_PRODUCT,
    DEMO_SERIAL,
    assert_fits_phone,
    demo_server,
    tap_demo_button,
)

pytestmark = pytest.mark.browser


def _phone(browser: Any) -> Any:
    context = browser.new_context(**PHONE)
    context.set_default_timeout(10_000)
    return context


def test_scratch_card_keyboard_button_is_visible_and_not_under_the_canvas(
    app: Any, demo_server: str, browser: Any, artifacts: Path  # noqa: F811
) -> None:
    context = _phone(browser)
    try:
        page = context.new_page()
        tap_demo_button(page, demo_server, "SER-0002")  # unboxing: owner #1
        _age_ownership(app, "SER-0002", 80)  # day 80 of a serum: the refill scratch card
        tap_demo_button(page, demo_server, "SER-0002")
        page.get_by_role("link", name="Scratch to reveal").tap()
        canvas = page.locator("canvas")
        expect(canvas).to_be_visible()  # the script has drawn the foil
        button = page.get_by_role("button", name="Reveal my reward")
        expect(button).to_be_visible()
        button.scroll_into_view_if_needed()
        # Playwright's actionability check: fails when another element (the canvas) would
        # receive the click instead of the button.
        button.click(trial=True, timeout=3_000)
        box, foil = button.bounding_box(), canvas.bounding_box()
        assert box is not None and foil is not None
        # The boxes do not overlap: the button is wholly above, below or beside the foil.
        assert (box["y"] >= foil["y"] + foil["height"] or box["y"] + box["height"] <= foil["y"]
                or box["x"] >= foil["x"] + foil["width"]
                or box["x"] + box["width"] <= foil["x"]), (box, foil)
        page.screenshot(path=artifacts / f"scratch-keyboard-{backend_of(app)}.png", full_page=True)
        # From a keyboard: focus the button and press Enter; the reward is revealed.
        button.focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_be_visible()
        expect(page.get_by_role("heading", level=1)).not_to_have_text("Scratch to see your reward")
        assert_fits_phone(page)
    finally:
        context.close()


def test_owner_reloading_a_used_tap_page_is_offered_their_owner_page(
    app: Any, demo_server: str, browser: Any, artifacts: Path  # noqa: F811
) -> None:
    context = _phone(browser)
    try:
        page = context.new_page()
        tap_demo_button(page, demo_server, DEMO_SERIAL)
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Welcome to your {DEMO_PRODUCT}")
        reloaded = page.reload()
        assert reloaded is not None and reloaded.status == 409
        expect(page.get_by_role("status")).to_have_text("Not verified")
        expect(page.get_by_text("Verified with the chip inside this product")).to_have_count(0)
        link = page.get_by_role("link", name="Go to your owner page")
        expect(link).to_be_visible()
        assert_fits_phone(page)
        page.screenshot(path=artifacts / f"not-verified-owner-{backend_of(app)}.png",
                        full_page=True)
        link.tap()
        expect(page.get_by_text(DEMO_SERIAL, exact=True).first).to_be_visible()
        assert urlsplit(page.url).path.endswith(f"/{DEMO_SERIAL}/owner")

        # The same used link on someone else's phone: not verified, and nothing of the item.
        stranger = context.browser.new_context(**PHONE)
        try:
            other = stranger.new_page()
            other.goto(reloaded.url)
            expect(other.get_by_role("status")).to_have_text("Not verified")
            expect(other.get_by_role("link", name="Go to your owner page")).to_have_count(0)
            body = other.locator("body").inner_text()
            assert DEMO_SERIAL not in body and DEMO_PRODUCT not in body
            other.screenshot(path=artifacts / f"not-verified-{backend_of(app)}.png",
                             full_page=True)
        finally:
            stranger.close()
    finally:
        context.close()


def _offer_for(app: Any, serial: str) -> str:
    """Return a transfer offer's path for ``serial``, made by its current owner."""
    session = app.extensions["aftertap.db"].sessionmaker()
    try:
        item = session.scalar(select(Item).where(Item.serial == serial))
        holding = current_holding(session, item.id)
        assert holding is not None
        owner = session.get(Owner, holding.owner_id)
        token, _ = create_offer(session, app.config, item_view(item), owner, datetime.now(UTC))
        session.commit()
    finally:
        session.close()
    return f"/transfer/{token}"


def test_a_pending_buyer_is_about_to_become_the_owner(
    app: Any, demo_server: str, browser: Any, artifacts: Path  # noqa: F811
) -> None:
    seller, buyer = _phone(browser), _phone(browser)
    try:
        tap_demo_button(seller.new_page(), demo_server, DEMO_SERIAL)  # owner #1
        page = buyer.new_page()
        page.goto(demo_server + _offer_for(app, DEMO_SERIAL))
        expect(page.get_by_role("heading", level=1)).to_have_text(
            f"You have been offered an {DEMO_PRODUCT}")
        tap_demo_button(page, demo_server, DEMO_SERIAL)
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "You are about to become the owner")
        expect(page.get_by_text("Welcome back")).to_have_count(0)
        expect(page.get_by_role("button", name="Accept and become the owner")).to_be_visible()
        assert_fits_phone(page)
        page.screenshot(path=artifacts / f"pending-buyer-{backend_of(app)}.png", full_page=True)
    finally:
        seller.close()
        buyer.close()
