"""Languages on a phone (issue 13, item 3): a French phone (390x844, locale fr-FR) taps the demo
brand, whose ruleset says ``locales: [en, fr]``, and reads its tap page and owner page in
French. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, backend_of
from tests.browser.test_tap_browser import (  # noqa: F401 - demo_server is a fixture
    DEMO_PRODUCT,
    DEMO_SERIAL,
    assert_fits_phone,
    demo_server,
    tap_demo_button,
)

pytestmark = pytest.mark.browser

DEMO_GTIN = "03760123450003"


def test_a_french_phone_reads_the_tap_and_owner_pages_in_french(
    app: Any, demo_server: str, browser: Any, artifacts: Path  # noqa: F811
) -> None:
    # The browser's own locale sends Accept-Language: fr-FR.
    context = browser.new_context(**{**PHONE, "locale": "fr-FR"})
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        assert tap_demo_button(page, demo_server, DEMO_SERIAL).status == 200
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.get_by_text("Vérifié par la puce de ce produit.")).to_be_visible()
        expect(page.get_by_role("link", name="Vos données")).to_be_visible()
        assert_fits_phone(page)
        page.screenshot(path=artifacts / f"fr-tap-{backend_of(app)}.png", full_page=True)

        page.goto(f"{demo_server}/items/{DEMO_GTIN}/{DEMO_SERIAL}/owner")
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Votre {DEMO_PRODUCT}")
        expect(page.get_by_text("Vous en êtes le propriétaire n°\u00a01 depuis le")).to_be_visible()
        expect(page.get_by_role("heading", name="Garantie")).to_be_visible()
        expect(page.get_by_role("button", name="Créer un lien de transfert")).to_be_visible()
        # The wallet: money, plurals and the catalogue's labels in French too.
        wallet = page.locator("#wallet")
        expect(wallet).to_contain_text("d’une valeur de 5,00\u00a0€")
        expect(wallet).to_contain_text("Trois échantillons format voyage")
        expect(wallet).to_contain_text("Il vous manque 50 points")
        expect(wallet).not_to_contain_text("EUR")
        expect(wallet).not_to_contain_text("You need")
        assert_fits_phone(page)
        page.screenshot(path=artifacts / f"fr-owner-{backend_of(app)}.png", full_page=True)
    finally:
        context.close()
