"""Languages (issue 13, item 3): a page speaks the phone's language among its brand's, with
dates and numbers written that language's way; emails go in the brand's first language."""

from __future__ import annotations

from datetime import UTC, datetime
from html import unescape
from typing import Any

from sqlalchemy import select

from app.catalog.holdings import current_holding
from app.catalog.models import Brand, Ownership
from app.core import i18n
from app.core.wording import number
from app.messages import delivery
from tests.factories import item_path, post_form, tagged_item, tap, tap_url

FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
NB, NN = "\u00a0", "\u202f"


def text(resp: Any) -> str:
    return unescape(resp.get_data(as_text=True))


# The demo brand's live ruleset (rulesets/maison-aurelia.yaml) says ``locales: [en, fr]``;
# this brand has no ruleset, so it speaks its ``Brand.locale``: English unless a test says so.
ENGLISH_ONLY = "atelier-nord"


def test_the_demo_ruleset_is_bilingual(app):
    assert app.extensions[i18n.RESOLVER]("maison-aurelia") == ("en", "fr")
    assert app.extensions[i18n.RESOLVER](ENGLISH_ONLY) is None


def _french_owner(app: Any, db: Any, keyring: Any) -> tuple[Any, Any]:
    """Return ``(tag, phone)``: a French phone that tapped and owns a new item."""
    tag = tagged_item(db, attributes={"warranty_months": 24})
    brand = db.scalar(select(Brand).where(Brand.slug == "maison-aurelia"))
    brand.timezone = "Europe/Paris"
    db.commit()
    phone = app.test_client()
    page = phone.get(tap_url(db, keyring, tag), headers=FRENCH)
    assert page.status_code == 200
    # A known start and warranty end: 30 November 2026 and 2028, late evening in Paris.
    holding = current_holding(db, tag.item.id)
    assert holding is not None
    db.get(Ownership, holding.id).started_at = datetime(2026, 11, 30, 21, 30, tzinfo=UTC)
    tag.item.warranty_ends_at = datetime(2028, 11, 30, 12, 0, tzinfo=UTC)
    db.commit()
    return tag, phone


def test_a_bilingual_brands_tap_and_owner_pages_speak_french_to_a_french_phone(
    app, db, keyring
):
    tag = tagged_item(db)
    phone = app.test_client()
    page = text(phone.get(tap_url(db, keyring, tag), headers=FRENCH))
    assert '<html lang="fr">' in page
    assert "Vérifié par la puce de ce produit." in page
    assert "Sans application, sans compte." in page
    assert "Verified with the chip" not in page

    tag, phone = _french_owner(app, db, keyring)
    owner = text(phone.get(item_path(tag, "owner"), headers=FRENCH))
    name = tag.item.product.name
    assert f"<h1>Votre {name}</h1>" in owner
    assert f"Vous en êtes le propriétaire n°{NB}1 depuis le 30 novembre 2026." in owner
    assert "Active jusqu’au <strong>30 novembre 2028</strong>." in owner
    assert "Historique des propriétaires" in owner
    assert f"Propriétaire n°{NB}1{NB}: depuis nov. 2026" in owner
    assert "Le vendre ou le donner" in owner
    assert "Ownership history" not in owner and "Warranty" not in owner


def test_the_french_first_tap_page_has_no_english_sentence_left(app, db, keyring):
    tag = tagged_item(db)
    name = tag.item.product.name
    page = text(app.test_client().get(tap_url(db, keyring, tag), headers=FRENCH))
    assert f"<h1>Bienvenue dans l’univers de votre {name}</h1>" in page
    # The product's category is English data: the French sentence says "cet article" instead.
    assert "C’est la première fois que cet article est touché avec un téléphone." in page
    assert (f"<strong>Il est à vous.</strong> Vous êtes le propriétaire n°{NB}1 de cet article."
            in page)
    assert f"Touchez-le de nouveau quand vous le souhaitez{NB}: chaque passage" in page
    assert "Partager votre position approximative (facultatif)" in page
    for english in ("Welcome to your", "It's yours", "first time", "owner key",
                    "approximate place", "Tap it again", "for your bag"):
        assert english not in page, english


def test_the_same_brand_speaks_english_to_an_english_phone(app, db, keyring):
    tag = tagged_item(db)
    page = text(app.test_client().get(tap_url(db, keyring, tag),
                                      headers={"Accept-Language": "en-GB,fr;q=0.5"}))
    assert '<html lang="en">' in page and "Verified with the chip inside this product." in page


def _declare(app: Any, *locales: str) -> None:
    """Make the demo brand's live ruleset declare ``locales: [...]`` instead of [en, fr]."""
    app.extensions[i18n.RESOLVER] = lambda slug: locales


def test_an_english_only_brand_stays_english_for_a_french_phone(app, client, db, keyring):
    _declare(app, "en")
    tag = tagged_item(db)
    page = text(client.get(tap_url(db, keyring, tag), headers=FRENCH))
    assert '<html lang="en">' in page and "Verified with the chip inside this product." in page
    assert "Vérifié" not in page
    owner = text(client.get(item_path(tag, "owner"), headers=FRENCH))
    assert "Ownership history" in owner and "Historique" not in owner


def test_a_brand_without_a_live_ruleset_speaks_its_own_locale(app, client, db, keyring):
    tag = tagged_item(db, brand=ENGLISH_ONLY)
    brand = db.scalar(select(Brand).where(Brand.slug == ENGLISH_ONLY))
    brand.locale = "fr-FR"
    db.commit()
    # Even a phone asking for English: French is the only language the brand speaks.
    page = text(client.get(tap_url(db, keyring, tag), headers={"Accept-Language": "en"}))
    assert "Vérifié par la puce de ce produit." in page


def test_numbers_and_plurals_follow_the_language(app):
    with app.test_request_context(headers=FRENCH):
        i18n.use_brand(("fr",), "Europe/Paris")
        assert number(1250) == f"1{NN}250"
        assert number(20, signed=True) == "+20"
    with app.test_request_context():
        assert number(1250) == "1,250"


def test_a_brands_emails_go_in_its_first_language_whatever_the_phone_asked(
    app, db, keyring, mailbox
):
    # Locales [en, fr]: English first, so a French phone's confirmation email is in English.
    tag = tagged_item(db)
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    resp = post_form(phone, item_path(tag, "email"), {"email": "ana@example.com"})
    assert "Check your inbox" in text(resp)
    (message,) = mailbox.wait_for(1)
    assert message["Subject"].startswith("Confirm your email for your")
    assert "Please confirm this address" in message.get_content()

    # French first: the page answers the English phone in English, the email is French.
    _declare(app, "fr-FR", "en")
    tag2 = tagged_item(db)
    phone2 = app.test_client()
    phone2.get(tap_url(db, keyring, tag2), headers={"Accept-Language": "en"})
    resp = post_form(phone2, item_path(tag2, "email"), {"email": "bea@example.com"},
                     headers={"Accept-Language": "en"})
    assert resp.status_code == 200
    (_first, french) = mailbox.wait_for(2)
    assert french["Subject"] == f"Confirmez votre e-mail pour votre {tag2.item.product.name}"
    body = french.get_content()
    assert "Bonjour," in body
    assert f"Veuillez confirmer cette adresse pour votre {tag2.item.product.name}" in body


def test_scheduled_messages_are_written_in_the_brands_language(app, db, keyring):
    tag = tagged_item(db)
    tap(app.test_client(), db, keyring, tag)
    holding = current_holding(db, tag.item.id)
    assert holding is not None
    brand = db.scalar(select(Brand).where(Brand.slug == "maison-aurelia"))
    english = delivery.render(db, app.config, "refill_email", "maison-aurelia", holding.id, "k1")
    assert "It has been about eleven weeks" in english.html and '<html lang="en">' in english.html
    brand.locale = "fr-FR"
    db.commit()
    french = delivery.render(db, app.config, "refill_email", "maison-aurelia", holding.id, "k2")
    assert '<html lang="fr">' in french.html
    assert "Vous avez ouvert votre" in french.html and "Bonjour," in french.text
    assert french.subject.endswith(": Recharge")


def test_a_refusal_is_worded_in_the_brands_language(app, client, db, keyring):
    tag = tagged_item(db)
    refused = client.get(item_path(tag, "owner"), headers=FRENCH)
    assert refused.status_code == 403
    assert "Approchez de nouveau votre téléphone du produit pour faire cela." in text(refused)
    # The JSON answer's code, what programs match on, stays English; its message is French.
    api = client.get(item_path(tag, "owner"), headers={**FRENCH, "Accept": "application/json"})
    assert api.status_code == 403 and api.get_json()["error"] == "tap_required"
    assert api.get_json()["message"].startswith("Approchez de nouveau votre téléphone")

    _declare(app, "en")
    refused = client.get(item_path(tag, "owner"), headers=FRENCH)
    assert "Hold your phone to the product again" in text(refused)
