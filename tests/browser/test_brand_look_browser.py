"""Two brands' looks and the owner-only film, on a phone: real Chromium, SQLite and PostgreSQL.

Screenshots land in ``test-artifacts/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.verify.service import mint_tap_url
from tests.browser.conftest import BACKGROUND, PHONE, Phone, backend_of
from tests.factories import tagged_item

pytestmark = pytest.mark.browser

def _tag(app: Any, **kw: Any) -> int:
    session = app.extensions["aftertap.db"].sessionmaker()
    try:
        tag_id = tagged_item(session, **kw).id
    finally:
        session.close()
    return tag_id


def _mint(app: Any, base_url: str, tag_id: int) -> str:
    from app.verify.models import Tag

    session = app.extensions["aftertap.db"].sessionmaker()
    try:
        url = mint_tap_url(session, app.extensions["aftertap.keys"], session.get(Tag, tag_id),
                           base_url)
        session.commit()
    finally:
        # Closed at once: on SQLite an open transaction holds the write lock the server needs.
        session.close()
    return url


def test_two_brands_look_different_and_only_the_owner_gets_the_film(
        app: Any, live_server: str, phone: Phone, browser: Any, artifacts: Path) -> None:
    backend = backend_of(app)
    page = phone.page
    watch = _tag(app, category="watch")
    parka = _tag(app, brand="nordwand", category="parka")

    # Nordwand's page: its own colours and logo.
    page.goto(_mint(app, live_server, parka))
    nordwand_bg = page.evaluate(BACKGROUND)
    assert page.get_by_role("img", name="Nordwand").is_visible()
    page.screenshot(path=str(artifacts / f"brand-look-nordwand-{backend}.png"), full_page=True)

    # Maison Aurelia's watch: claimed on the first tap, the owner's film on the next ones.
    page.goto(_mint(app, live_server, watch))
    aurelia_bg = page.evaluate(BACKGROUND)
    assert aurelia_bg == "rgb(246, 241, 231)" and nordwand_bg == "rgb(16, 36, 62)"
    assert page.get_by_role("img", name="Maison Aurelia").is_visible()
    page.goto(_mint(app, live_server, watch))
    page.goto(_mint(app, live_server, watch))
    video = page.locator("video")
    assert video.count() == 1
    page.wait_for_function("document.querySelector('video').readyState >= 1")
    assert page.evaluate("document.querySelector('video').duration") > 3
    assert page.evaluate("document.fonts.check('17px \"Aurelia Serif\"')")
    page.screenshot(path=str(artifacts / f"brand-look-owner-film-{backend}.png"), full_page=True)
    film_url = video.get_attribute("src")
    assert film_url and film_url.endswith("/media/movement-documentary.mp4")
    assert all(url.startswith(live_server) or url.startswith("data:") for url in phone.requests)
    assert not phone.console_errors

    # A stranger's phone, having tapped the same watch: no player, and the film refused.
    stranger = browser.new_context(**PHONE)
    try:
        other = stranger.new_page()
        other.goto(_mint(app, live_server, watch))
        assert other.locator("video").count() == 0
        response = other.request.get(live_server + film_url, headers={"Range": "bytes=0-99"})
        assert response.status == 403
        other.goto(live_server + film_url)
        other.screenshot(path=str(artifacts / f"brand-look-film-refused-{backend}.png"))
    finally:
        stranger.close()
