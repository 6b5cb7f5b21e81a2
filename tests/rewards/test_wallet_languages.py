"""The wallet and locked rewards in the page's language (issue 13, item 3): money written the
language's way, plural forms, the catalogue's labels per locale, the locked reward's instruction.
"""

from __future__ import annotations

from html import unescape
from typing import Any

from sqlalchemy import select

from app.catalog.models import Ownership
from app.rewards.actions import EMAIL_CONFIRMED, REVIEW, SERVICE_FEEDBACK, instruction
from app.rewards.ledger import EARN, post_entry
from app.rewards.words import prize_label
from tests.factories import item_path, post_form, tagged_item, tap_url
from tests.rewards.helpers import BRAND, T0
from tests.rewards.test_tap_rewards import _review_ready

FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
ENGLISH = {"Accept-Language": "en-GB,en;q=0.9"}
JSON = {"Accept": "application/json"}
NB, NN = "\u00a0", "\u202f"


def text(resp: Any) -> str:
    return unescape(resp.get_data(as_text=True))


def _owner_phone(app: Any, db: Any, keyring: Any) -> tuple[Any, Any, int]:
    """Return ``(tag, phone, owner_id)``: a new owner with the 100 welcome points."""
    tag = tagged_item(db)
    phone = app.test_client()
    assert phone.get(tap_url(db, keyring, tag), headers=FRENCH).status_code == 200
    owner_id = db.scalar(select(Ownership.owner_id).where(Ownership.item_id == tag.item.id))
    return tag, phone, owner_id


def _wallet(page: str) -> str:
    return page.split('id="wallet"', 1)[1].split("</section>", 1)[0]


def test_the_french_wallet_writes_money_plurals_and_labels_in_french(app, db, keyring):
    tag, phone, _ = _owner_phone(app, db, keyring)
    wallet = _wallet(text(phone.get(item_path(tag, "owner"), headers=FRENCH)))
    # The demo ruleset: 100 points = 5 EUR; 150 for the samples, 200 for the voucher.
    assert f"<strong>100{NN}points</strong>" in wallet or "<strong>100 points</strong>" in wallet
    assert f"d’une valeur de 5,00{NB}€" in wallet
    assert "Trois échantillons format voyage" in wallet
    assert "Un bon d’achat de 10 €" in wallet
    assert "Il vous manque 50 points" in wallet and "Il vous manque 100 points" in wallet
    assert "10 € de remise sur une commande" in wallet  # the voucher's description
    for english in ("EUR", "You need", "more point", "Three travel samples", "10 EUR voucher",
                    "worth", "Sold out"):
        assert english not in wallet, english


def test_the_english_wallet_writes_euros_the_english_way(app, db, keyring):
    tag, phone, _ = _owner_phone(app, db, keyring)
    wallet = _wallet(text(phone.get(item_path(tag, "owner"), headers=ENGLISH)))
    assert "worth €5.00" in wallet and "5.00 EUR" not in wallet
    assert "Three travel samples" in wallet and "A €10 voucher" in wallet
    assert "You need 50 more points" in wallet


def test_one_point_short_is_singular_in_both_languages(app, db, keyring):
    tag, phone, owner_id = _owner_phone(app, db, keyring)
    post_entry(db, owner_id, EARN, 49, "admin", "gift", T0, brand=BRAND)  # 149 of 150
    db.commit()
    french = _wallet(text(phone.get(item_path(tag, "owner"), headers=FRENCH)))
    english = _wallet(text(phone.get(item_path(tag, "owner"), headers=ENGLISH)))
    assert "Il vous manque 1 point<" in french or "Il vous manque 1 point " in french
    assert "You need 1 more point<" in english or "You need 1 more point " in english
    assert "You need 1 more points" not in english
    assert f"d’une valeur de 7,45{NB}€" in french and "worth €7.45" in english


def test_a_spend_refused_for_want_of_points_says_so_in_french(app, db, keyring):
    tag, phone, _ = _owner_phone(app, db, keyring)
    short = post_form(phone, item_path(tag, "points/sample-trio"), headers={**FRENCH, **JSON})
    assert short.status_code == 409
    assert short.get_json() == {"error": "insufficient_points",
                                "message": "Vous n’avez pas assez de points pour cela."}


def test_the_locked_reward_says_what_to_do_in_french(app, db, keyring):
    _tag, phone, body = _review_ready(app, db, keyring)
    link = body["reward"]["reveal"]
    page = text(phone.get(link, headers=FRENCH))
    assert "Rédigez votre avis pour révéler votre récompense." in page
    assert "Write your review" not in page
    refused = post_form(phone, link + "/reveal", headers={**FRENCH, **JSON})
    assert refused.status_code == 409 and refused.get_json() == {
        "error": "action_required", "message": "Rédigez votre avis pour révéler votre récompense."}
    assert post_form(phone, link + "/reveal", headers=JSON).get_json()["message"] == (
        "Write your review to reveal your reward.")


def test_several_steps_are_listed_the_languages_way(app):
    steps = (REVIEW, EMAIL_CONFIRMED, SERVICE_FEEDBACK)
    with app.test_request_context(headers=FRENCH):
        assert instruction(steps) == (
            "Rédigez votre avis, confirmez votre adresse e-mail depuis votre page de "
            "propriétaire et dites-nous comment s’est passé votre dernier entretien pour "
            "révéler votre récompense.")
        assert instruction(()) == "Votre récompense est prête à être révélée."
    with app.test_request_context(headers=ENGLISH):
        assert instruction(steps[:2]) == (
            "Write your review and confirm your email address from your owner page to reveal "
            "your reward.")


def test_a_prize_without_a_label_is_counted_in_points_in_both_languages(app):
    with app.test_request_context(headers=FRENCH):
        assert prize_label(BRAND, "no-such-reward", None, 1) == "1 point"
        assert prize_label(BRAND, "no-such-reward", None, 1250) == f"1{NN}250 points"
    with app.test_request_context(headers=ENGLISH):
        assert prize_label(BRAND, "no-such-reward", None, 1) == "1 point"
        assert prize_label(BRAND, "no-such-reward", None, 1250) == "1,250 points"


def test_a_won_code_follows_its_label_with_the_languages_colon(app, db, keyring):
    """French puts a no-break space before a colon: "… recharge : CODE", not "recharge: CODE"."""
    from tests.factories import age_ownership, tap

    tag = tagged_item(db, category="serum")
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    age_ownership(db, tag, 80)
    link = tap(phone, db, keyring, tag, as_json=True).get_json()["reward"]["reveal"]
    won = post_form(phone, link + "/reveal", headers=JSON).get_json()
    french = _wallet(text(phone.get(item_path(tag, "owner"), headers=FRENCH)))
    english = _wallet(text(phone.get(item_path(tag, "owner"), headers=ENGLISH)))
    assert f"{NB}: <code>{won['code']}</code>" in french
    assert f"{NB}: <code>" not in english and f": <code>{won['code']}</code>" in english
