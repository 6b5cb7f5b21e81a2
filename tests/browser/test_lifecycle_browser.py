"""The whole life of one item on real phones: unboxing, care, service, resale to a second phone,
the new owner's welcome, and the old owner locked out. Chromium via Playwright, SQLite and
PostgreSQL, screenshots in ``test-artifacts/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, Phone, backend_of
from tests.browser.test_tap_browser import (  # noqa: F401 - demo_server is a fixture
    assert_fits_phone,
    demo_server,
    tap_demo_button,
)

pytestmark = pytest.mark.browser

BAG, SERIAL = "Aurelia Weekender Bag", "BAG-0001"


def _shot(page: Any, artifacts: Path, app: Any, name: str) -> None:
    assert_fits_phone(page)
    page.screenshot(path=artifacts / f"life-{name}-{backend_of(app)}.png", full_page=True)


def test_whole_life_of_one_item(
    app: Any, demo_server: str, phone: Phone, browser: Any, artifacts: Path  # noqa: F811
) -> None:
    seller = phone.page
    # 1. Unboxing: the first tap registers the owner and starts the warranty.
    assert tap_demo_button(seller, demo_server, SERIAL).status == 200
    expect(seller.get_by_role("heading", level=1)).to_have_text(f"Welcome to your {BAG}")
    expect(seller.get_by_text("You are owner #1 of this bag.")).to_be_visible()
    expect(seller.get_by_text("Warranty now active")).to_be_visible()
    expect(seller.get_by_text("Florence, Italy")).to_be_visible()
    _shot(seller, artifacts, app, "1-unboxing")

    # 2. Care: the owner's next tap.
    tap_demo_button(seller, demo_server, SERIAL)
    expect(seller.get_by_role("heading", level=1)).to_have_text(f"Caring for your {BAG}")
    expect(seller.get_by_text("vegetable-tanned calfskin").first).to_be_visible()
    _shot(seller, artifacts, app, "2-care")

    # 3. After-sales: a service request from the owner page.
    seller.get_by_role("link", name="Your owner page").tap()
    expect(seller.get_by_role("heading", level=1)).to_have_text(f"Your {BAG}")
    seller.get_by_role("link", name="Request a service").tap()
    expect(seller.get_by_role("heading", level=1)).to_have_text("Request a service")
    seller.get_by_label("Cleaning").check()
    seller.get_by_label("What happened?").fill("A coffee stain on the front panel.")
    _shot(seller, artifacts, app, "3-service-form")
    seller.get_by_role("button", name="Send the request").tap()
    expect(seller.get_by_role("heading", level=1)).to_have_text("Thank you, we have your request")
    _shot(seller, artifacts, app, "4-service-sent")

    # 4. Resale: the owner makes a transfer link.
    tap_demo_button(seller, demo_server, SERIAL)
    seller.get_by_role("link", name="Your owner page").tap()
    seller.get_by_role("button", name="Create a transfer link").tap()
    expect(seller.get_by_role("heading", level=1)).to_have_text("Your transfer link")
    link = seller.get_by_label("Transfer link").input_value()
    assert "/transfer/" in link
    _shot(seller, artifacts, app, "5-transfer-link")

    # 5. The buyer, on a second phone, opens the link, taps the bag and accepts.
    buyer_context = browser.new_context(**PHONE)
    buyer_context.set_default_timeout(10_000)
    try:
        buyer = buyer_context.new_page()
        # The link names the public host; on this test server only its path counts.
        buyer.goto(demo_server + urlsplit(link).path)
        expect(buyer.get_by_text("Now hold this phone to the item.")).to_be_visible()
        _shot(buyer, artifacts, app, "6-offer")
        tap_demo_button(buyer, demo_server, SERIAL)
        buyer.get_by_role("button", name="Accept and become the owner").tap()
        expect(buyer.get_by_role("heading", level=1)).to_have_text("Welcome, new owner")
        expect(buyer.get_by_text("you are owner #2")).to_be_visible()
        _shot(buyer, artifacts, app, "7-accepted")

        # 6. The buyer's next tap is the new-owner welcome journey.
        tap_demo_button(buyer, demo_server, SERIAL)
        expect(buyer.get_by_role("heading", level=1)).to_have_text("Welcome, new owner")
        expect(buyer.get_by_text("You are owner #2")).to_be_visible()
        _shot(buyer, artifacts, app, "8-new-owner-tap")

        # 7. The old owner, even with the bag in hand, gets nothing of the owner's any more.
        tap_demo_button(seller, demo_server, SERIAL)
        expect(seller.get_by_role("heading", level=1)).to_have_text(BAG)
        expect(seller.get_by_text(f"Your {BAG}")).to_have_count(0)
        expect(seller.get_by_role("link", name="Your owner page")).to_have_count(0)
        # No script or resource failed on any page of the life so far.
        assert phone.console_errors == []
        gtin = "03760123450003"
        denied = seller.goto(f"{demo_server}/items/{gtin}/{SERIAL}/owner")
        assert denied is not None and denied.status == 403
        expect(seller.get_by_text("Only the registered owner of this item")).to_be_visible()
        _shot(seller, artifacts, app, "9-old-owner")
    finally:
        buyer_context.close()


def test_sharing_a_place_is_opt_in_and_rounded(
    app: Any, demo_server: str, browser: Any, artifacts: Path  # noqa: F811
) -> None:
    from sqlalchemy import select

    from app.verify.models import TapEvent

    context = browser.new_context(**PHONE, geolocation={"latitude": 48.85661,
                                                        "longitude": 2.35222},
                                  permissions=["geolocation"])
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        tap_demo_button(page, demo_server, "SER-0001")
        session = app.extensions["aftertap.db"].sessionmaker()
        try:
            positions = list(session.execute(select(TapEvent.latitude, TapEvent.longitude)))
        finally:
            session.close()
        assert positions == [(None, None)]  # nothing finer than the country without consent
        page.get_by_text("Share your approximate place (optional)").tap()
        page.get_by_role("button", name="Share my approximate place").tap()
        expect(page.get_by_role("heading", level=1)).to_have_text("Thank you")
        _shot(page, artifacts, app, "place-shared")
        session = app.extensions["aftertap.db"].sessionmaker()
        try:
            positions = list(session.execute(select(TapEvent.latitude, TapEvent.longitude)))
        finally:
            session.close()
        assert positions == [(48.9, 2.4)]
    finally:
        context.close()
