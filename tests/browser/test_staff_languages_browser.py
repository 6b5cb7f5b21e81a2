"""A French-speaking staff member on a phone (390x844, locale fr-FR): the sign-in form and an
item's file read in French, with dates in the brand's time zone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from playwright.sync_api import expect

from app.catalog.models import Brand
from app.core import staff
from tests.admin.helpers import BRAND_A, PASSWORD, seed_brand, staff_member
from tests.browser.conftest import PHONE, backend_of
from tests.browser.test_tap_browser import assert_fits_phone

pytestmark = pytest.mark.browser


def test_a_french_staff_member_signs_in_and_reads_an_item_in_french(
    app: Any, db: Any, live_server: str, browser: Any, artifacts: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(staff, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    seeded = seed_brand(app, db, BRAND_A, "WAT-0043")
    db.get_one(Brand, seeded.brand_id).timezone = "Europe/Paris"
    db.commit()
    staff_member(db, seeded.brand_id, "service", "lea@brand.example")
    # The browser's own locale sends Accept-Language: fr-FR.
    context = browser.new_context(**{**PHONE, "locale": "fr-FR"})
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.goto(f"{live_server}/admin/items?q={seeded.serial}")
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.get_by_role("heading", level=1)).to_have_text("Se connecter")
        page.get_by_label("E-mail").fill("lea@brand.example")
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("Trouver un article")
        expect(page.get_by_text("Propriétaire n° 1")).to_be_visible()
        expect(page.get_by_role("heading", name="Historique")).to_be_visible()
        expect(page.get_by_text("(heure de Paris)").first).to_be_visible()
        expect(page.get_by_role("link", name="Demandes d’entretien")).to_be_visible()
        assert_fits_phone(page)
        page.screenshot(path=str(artifacts / f"staff-item-fr-{backend_of(app)}.png"),
                        full_page=True)
    finally:
        context.close()
