"""The tap as a person sees it on a phone: real Chromium, a live server, SQLite and PostgreSQL.

Assertions go through what is on the screen (roles and text), never through CSS internals.
Screenshots land in ``test-artifacts/`` so a person can look at them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from app.verify.service import mint_tap_url
from tests.browser.conftest import (  # noqa: F401 - demo_server is a fixture, kept importable here
    PHONE,
    Phone,
    assert_fits_phone,
    backend_of,
    demo_server,
    forge,
    tap_demo_button,
)
from tests.factories import tagged_item

pytestmark = pytest.mark.browser

# The first demo product and item, as seed_demo creates them.
DEMO_PRODUCT, DEMO_SERIAL = "Aurelia Weekender Bag", "BAG-0001"


def mint(app: Any, base_url: str) -> tuple[str, str, str]:
    """Create a tagged item; return a fresh tap URL for it, its product name and its serial."""
    session = app.extensions["aftertap.db"].sessionmaker()
    try:
        tag = tagged_item(session)
        url = mint_tap_url(session, app.extensions["aftertap.keys"], tag, base_url)
        name, serial = tag.item.product.name, tag.item.serial
        session.commit()
    finally:
        # Closed at once: on SQLite an open transaction would hold the write lock the server needs.
        session.close()
    return url, name, serial


def status_of(response: Any) -> int:
    assert response is not None, "the navigation had no response"
    return int(response.status)


def test_demo_tap_unboxes_then_welcomes_back(
    app: Any, demo_server: str, phone: Phone, browser: Any, artifacts: Path  # noqa: F811
) -> None:
    page = phone.page
    first = tap_demo_button(page, demo_server, DEMO_SERIAL)
    assert first.status == 200
    expect(page.get_by_role("status")).to_have_text("✓ Authentic")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Welcome to your {DEMO_PRODUCT}")
    expect(page.get_by_text(DEMO_SERIAL, exact=True)).to_be_visible()
    expect(page.get_by_text(DEMO_PRODUCT, exact=True)).to_be_visible()
    assert_fits_phone(page)
    page.screenshot(path=artifacts / f"unboxing-{backend_of(app)}.png", full_page=True)

    # A friend's phone (another browser context) tapping the same bag: genuine, not theirs.
    context = browser.new_context(**PHONE)
    try:
        friend = context.new_page()
        again = tap_demo_button(friend, demo_server, DEMO_SERIAL)
        assert again.status == 200
        expect(friend.get_by_role("status")).to_have_text("✓ Authentic")
        # Not the friend's bag: no "welcome back", no "your".
        expect(friend.get_by_role("heading", level=1)).to_have_text(DEMO_PRODUCT)
        expect(friend.get_by_text(f"This {DEMO_PRODUCT} checked out as genuine again")
               ).to_be_visible()
        assert_fits_phone(friend)
        friend.screenshot(path=artifacts / f"welcome-back-{backend_of(app)}.png", full_page=True)
    finally:
        context.close()


def test_reloaded_tap_link_is_a_replay(
    app: Any, live_server: str, phone: Phone, artifacts: Path
) -> None:
    page = phone.page
    url, product, _serial = mint(app, live_server)
    assert status_of(page.goto(url)) == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Welcome to your {product}")

    assert status_of(page.reload()) == 409
    expect(page.get_by_role("status")).to_have_text("Not verified")
    expect(page.get_by_role("heading", level=1)).to_have_text("This link has already been used")
    expect(page.get_by_text("hold your phone to it and tap it again")).to_be_visible()
    expect(page.get_by_text("Authentic")).to_have_count(0)
    assert_fits_phone(page)
    page.screenshot(path=artifacts / f"replayed-{backend_of(app)}.png", full_page=True)


def test_forged_link_is_not_verified(
    app: Any, live_server: str, phone: Phone, artifacts: Path
) -> None:
    page = phone.page
    url, product, serial = mint(app, live_server)
    assert status_of(page.goto(forge(url))) == 400
    expect(page.get_by_role("status")).to_have_text("Not verified")
    expect(page.get_by_role("heading", level=1)).to_have_text("We could not verify this")
    expect(page.get_by_text("Hold your phone to the product itself and tap again")).to_be_visible()
    # A forged link must not show the item it names.
    expect(page.get_by_text(product)).to_have_count(0)
    expect(page.get_by_text(serial)).to_have_count(0)
    assert_fits_phone(page)
    page.screenshot(path=artifacts / f"forged-{backend_of(app)}.png", full_page=True)


def test_pages_load_nothing_from_elsewhere_and_log_no_errors(
    app: Any, demo_server: str, phone: Phone, artifacts: Path  # noqa: F811
) -> None:
    page = phone.page
    page.goto(f"{demo_server}/demo")
    expect(page.get_by_role("button", name=f"Tap {DEMO_SERIAL}")).to_be_visible()
    assert_fits_phone(page)
    page.screenshot(path=artifacts / f"demo-{backend_of(app)}.png", full_page=True)
    assert tap_demo_button(page, demo_server, DEMO_SERIAL).status == 200
    replayed, _product, _serial = mint(app, demo_server)
    forged = forge(mint(app, demo_server)[0])
    assert status_of(page.goto(replayed)) == 200
    assert status_of(page.reload()) == 409
    assert status_of(page.goto(forged)) == 400

    assert phone.requests, "no request was recorded"
    elsewhere = [u for u in phone.requests if not u.startswith(f"{demo_server}/")]
    assert elsewhere == [], f"requests to other origins: {elsewhere}"
    # Chromium logs a document's own non-2xx status as a console error; those statuses are the
    # point of these two pages. The favicon is test_no_favicon_404's business.
    intended = {replayed: 409, forged: 400}
    errors = [
        (text, url)
        for text, url in phone.console_errors
        if not (url in intended and f"status of {intended[url]} " in text)
    ]
    assert errors == []


def test_no_favicon_404(app: Any, live_server: str, phone: Phone) -> None:
    page = phone.page
    url, product, _serial = mint(app, live_server)
    assert status_of(page.goto(url)) == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Welcome to your {product}")

    def favicon_errors() -> list[tuple[str, str]]:
        return [e for e in phone.console_errors if urlsplit(e[1]).path == "/favicon.ico"]

    # Chromium fetches the favicon after the load event: give it up to 3 s to show up.
    for _ in range(30):
        if favicon_errors():
            break
        page.wait_for_timeout(100)
    assert favicon_errors() == []
