"""Money is written one way, in the page's language: "€5.00" in English, "5,00 €" in French."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask

from app.core import i18n
from app.core.wording import money

NB = "\u00a0"


def test_money_is_written_the_pages_way() -> None:
    app = Flask(__name__)
    i18n.init_app(app)
    with app.test_request_context(headers={"Accept-Language": "fr-FR"}):
        assert money(Decimal("5.00"), "EUR") == f"5,00{NB}€"
        assert money(Decimal("1250.5"), "EUR") == f"1{chr(0x202f)}250,50{NB}€"
    with app.test_request_context(headers={"Accept-Language": "en-GB"}):
        assert money(Decimal("5"), "EUR") == "€5.00"
        assert money(Decimal("12.5"), "CHF") == "CHF12.50"  # CLDR's en: no space
    # Outside a request: English.
    assert money(Decimal("0.05"), "EUR") == "€0.05"
