"""Reward mechanics on a phone: a real scratch gesture on the canvas, and a real click."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, backend_of
from tests.browser.conftest import age_ownership as _age_ownership
from tests.browser.test_tap_browser import (  # noqa: F401 - demo_server is a fixture
    assert_fits_phone,
    demo_server,
    tap_demo_button,
)

pytestmark = pytest.mark.browser


def _phone(browser: Any) -> Any:
    context = browser.new_context(**PHONE)
    context.set_default_timeout(10_000)
    return context


def test_scratch_off_with_a_finger_then_reload_shows_the_same_prize(
    app: Any, demo_server: str, browser: Any, artifacts: Path  # noqa: F811
) -> None:
    context = _phone(browser)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        tap_demo_button(page, demo_server, "SER-0001")  # unboxing: owner #1
        _age_ownership(app, "SER-0001", 80)  # day 80 of a serum: the refill game
        tap_demo_button(page, demo_server, "SER-0001")
        page.get_by_role("link", name="Scratch to reveal").tap()
        expect(page.get_by_role("heading", level=1)).to_have_text("Scratch to see your reward")
        canvas = page.locator("canvas")
        expect(canvas).to_be_visible()
        box = canvas.bounding_box()
        assert box is not None
        # A finger's zig-zag over the foil (pointer events, as touch produces).
        def zig_zag() -> None:
            page.mouse.move(box["x"] + 10, box["y"] + 10)
            page.mouse.down()
            for row in range(0, int(box["height"]), 14):
                for x in (box["x"] + 8, box["x"] + box["width"] - 8):
                    page.mouse.move(x, box["y"] + row, steps=6)
            page.mouse.up()

        zig_zag()
        assert errors == []
        result = page.locator("[data-result]")
        expect(result).to_be_visible()
        if page.locator("canvas").count():  # the server answered mid-stroke: finish scratching
            zig_zag()
        won = result.locator("strong").inner_text()
        assert won
        expect(page.locator("[data-scratch]")).to_have_attribute("data-done", "yes")
        assert_fits_phone(page)
        page.screenshot(path=artifacts / f"scratch-{backend_of(app)}.png", full_page=True)

        page.reload()
        expect(page.get_by_role("heading", level=1)).to_have_text(won)
    finally:
        context.close()


def test_review_gated_reveal_locked_then_review_then_reveal(
    app: Any, demo_server: str, browser: Any, artifacts: Path  # noqa: F811
) -> None:
    """The demo's review reveal (``requires: review``): locked beside the review form; the
    review unlocks it; then a keyboard and a real click reveal it."""
    context = _phone(browser)
    try:
        page = context.new_page()
        for serial in ("BAG-0001", "BAG-0002", "SNK-0001", "SNK-0002", "WHY-0001"):
            tap_demo_button(page, demo_server, serial)
            _age_ownership(app, serial, 30)
            tap_demo_button(page, demo_server, serial)
            locked = page.get_by_role("region", name="Your reward")
            if locked.count():  # owners in the 10% holdout see the page without the reward
                break
        else:
            raise AssertionError("every owner was held out")
        expect(locked).to_contain_text("Write your review to reveal your reward.")
        expect(page.get_by_role("link", name="Reveal your reward")).to_have_count(0)
        form = page.get_by_role("region", name="Your review")
        expect(form.get_by_role("button", name="Send my review")).to_be_visible()
        assert_fits_phone(page)
        page.screenshot(path=artifacts / f"review-locked-{backend_of(app)}.png", full_page=True,
                        animations="disabled")

        form.get_by_text("(5 of 5)").tap()
        form.get_by_label("Your review").fill("Soft leather, and the stitching is perfect.")
        form.get_by_role("button", name="Send my review").tap()
        expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for your review")
        reveal = page.get_by_role("link", name="Reveal your reward")
        expect(page.get_by_text("Your reward is unlocked.")).to_be_visible()
        reveal.focus()
        page.keyboard.press("Enter")  # the way in works from a keyboard...
        page.get_by_role("button", name="Reveal my reward").click()  # ...and a real click
        expect(page.get_by_role("status")).to_have_text(re.compile("^(You won|Thank you)$"))
        assert_fits_phone(page)
        page.screenshot(path=artifacts / f"reveal-{backend_of(app)}.png", full_page=True,
                        animations="disabled")
        heading = page.get_by_role("heading", level=1).inner_text()
        page.reload()
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    finally:
        context.close()
