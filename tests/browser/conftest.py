"""Fixtures for the browser tests: a live server on the ``app`` fixture, Chromium, a phone.

``live_server`` serves the parametrised ``app`` (SQLite and PostgreSQL) on a free loopback port.
``browser`` is Debian's Chromium (``AFTERTAP_CHROMIUM`` overrides the path); when it is missing the
tests fail in CI and skip elsewhere, saying why. Playwright never downloads a browser of its own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("AFTERTAP_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A phone: an iPhone-sized screen (390x844 CSS px at 3x) with a mobile Chrome user agent, since
# the engine really is Chromium.
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Mobile Safari/537.36"
    ),
    "locale": "en-GB",
}
# A laptop: 1280x800 CSS px, a mouse, the desktop Chromium user agent Playwright sends.
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}, "locale": "en-GB"}
NO_HORIZONTAL_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"
# The page's background colour, as the browser computed it from the brand's theme.
BACKGROUND = "getComputedStyle(document.body).backgroundColor"


def backend_of(app: Any) -> str:
    """Return "sqlite" or "postgresql" for the app's database (for artifact names)."""
    return str(app.config["DATABASE_URL"]).split(":", 1)[0].split("+", 1)[0]


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1:<free port> in a daemon thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium.

    Module-scoped on purpose: while Playwright's sync API is alive it marks its event loop as the
    running one in this thread, which would break ``asyncio.run`` in tests collected later.
    """
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        reason = (
            f"Chromium is not installed at {CHROMIUM}: run `make browser` (Debian's chromium "
            "package) or set AFTERTAP_CHROMIUM to a Chromium executable"
        )
        if IN_CI:
            pytest.fail(f"{reason}; CI requires it", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Phone:
    """A page in a phone-sized context, recording every request and console error it sees.

    ``console_errors`` holds ``(text, url of the resource or script it is about)``.
    """

    page: Any
    requests: list[str] = field(default_factory=list)
    console_errors: list[tuple[str, str]] = field(default_factory=list)

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            self.console_errors.append((msg.text, (msg.location or {}).get("url", "")))


@pytest.fixture
def phone(browser: Any) -> Iterator[Phone]:
    context = browser.new_context(**PHONE)
    context.set_default_timeout(10_000)
    page = context.new_page()
    recorded = Phone(page)
    page.on("request", lambda req: recorded.requests.append(req.url))
    page.on("console", recorded._console)
    page.on("pageerror", lambda exc: recorded.console_errors.append((f"uncaught: {exc}", "")))
    try:
        yield recorded
    finally:
        context.close()


@pytest.fixture
def artifacts() -> Path:
    """The directory screenshots go to (``test-artifacts/`` at the repo root, git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def demo_server(app: Any, live_server: str) -> str:
    """The live server with the demo page on and the demo brands seeded."""
    from app.demo.service import seed_demo

    app.config["DEMO"] = True
    session = app.extensions["aftertap.db"].sessionmaker()
    try:
        seed_demo(session, "test-2026")
        session.commit()
    finally:
        session.close()
    return live_server


def tap_demo_button(page: Any, base_url: str, serial: str) -> Any:
    """Open /demo, tap ``serial``'s button as a finger would; return the tap page's response."""
    from playwright.sync_api import expect

    page.goto(f"{base_url}/demo")
    expect(page.get_by_role("heading", name="Tap a product")).to_be_visible()
    with page.expect_response(lambda r: "/01/" in r.url and "cmac=" in r.url) as tap:
        button = page.get_by_role("button", name=f"Tap {serial}")
        # A finger on a touch screen, a mouse click elsewhere.
        if _has_touch(page):
            button.tap()
        else:
            button.click()
    # The response arrives before the browser commits the navigation to it; wait for the tap
    # page itself, or the next goto races this navigation (a flake seen in CI).
    page.wait_for_url(lambda url: "/01/" in url and "cmac=" in url)
    page.wait_for_load_state("load")
    return tap.value


def _has_touch(page: Any) -> bool:
    return bool(page.evaluate("navigator.maxTouchPoints > 0"))


def assert_fits_phone(page: Any) -> None:
    assert page.evaluate(NO_HORIZONTAL_SCROLL), (
        f"the page scrolls sideways on a {page.viewport_size['width']} px screen: "
        f"{page.evaluate('document.documentElement.scrollWidth')} px wide"
    )


def forge(url: str) -> str:
    """Return ``url`` with one hex character of its cmac changed."""
    head, cmac = url.rsplit("cmac=", 1)
    last = cmac[-1]
    return f"{head}cmac={cmac[:-1]}{'1' if last == '0' else '0'}"


def age_ownership(app: Any, serial: str, days: int) -> None:
    """Move the start of ``serial``'s ownership ``days`` before now (committed)."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from app.catalog.models import Item, Ownership

    session = app.extensions["aftertap.db"].sessionmaker()
    try:
        item_id = session.query(Item.id).filter(Item.serial == serial).scalar()
        session.execute(update(Ownership).where(Ownership.item_id == item_id)
                        .values(started_at=datetime.now(UTC) - timedelta(days=days)))
        session.commit()
    finally:
        session.close()
