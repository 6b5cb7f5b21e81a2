"""Staff pages speak the staff member's browser language (English or French), whatever their
brand's customers speak; they name rewards and prizes by the ruleset's labels, never by an
identifier dressed up as words; times are in the brand's time zone."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask_babel import get_locale

from app.catalog.models import Brand
from app.core import i18n, staff
from app.core.clock import now
from app.core.staff import MARKETER, SERVICE
from app.rewards.models import RewardPool, RewardPrize
from tests.admin.helpers import BRAND_A, Seeded, seed_brand, sign_in_as, staff_member
from tests.factories import post_form

FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")

# Words of the staff pages' interface, in English and in French, page by page. Data (product
# names, serials, identifiers shown as code) is the same in both languages and is not checked.
PAGES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "/admin/": (("Find an item", "Service queue", "Stolen items", "Sign out", "After-sales",
                 "You are signed in as after-sales service.", "with its history"),
                ("Trouver un article", "Demandes d’entretien", "Articles volés",
                 "Se déconnecter", "Après-vente",
                 "Vous êtes connecté en tant que service après-vente.")),
    "/admin/items?q={serial}": (("Serial number or chip", "Owner no. 1", "Owners",
                                 "History", "Registered as owner", "The owner", "Warranty",
                                 "From ", "(Paris time)", "No service recorded."),
                                ("Numéro de série ou puce", "Propriétaire n° 1",
                                 "Propriétaires", "Historique",
                                 "Enregistré comme propriétaire", "Le propriétaire",
                                 "Garantie", "Du ", "(heure de Paris)",
                                 "Aucun entretien enregistré.")),
    "/admin/service": (("open request, oldest first", "Reference", "Asks for", "Repair",
                        "Out of warranty", "Contact"),
                       ("demande ouverte, la plus ancienne d’abord", "Référence", "Demande",
                        "Hors garantie", "Contact")),
    "/admin/stolen": (("Stolen items", "No item is reported stolen."),
                      ("Articles volés", "Aucun article n’est déclaré volé.")),
}
MARKETER_PAGES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "/admin/rewards": (("Rewards", "Given 0 times.", "Prize", "No limit", "Left"),
                       ("Récompenses", "Donnée 0 fois.", "Lot", "Sans limite", "Restants")),
    "/admin/rulesets": (("Every ruleset version is live",),
                        ("Toutes les versions de jeu de règles sont en service",)),
    "/admin/messages": (("No message has been scheduled yet.",),
                        ("Aucun message n’a encore été programmé.",)),
    "/admin/preview": (("Preview a journey", "Who taps (with an item)", "Moment",
                        "The item as it is (nothing assumed)", "A stranger (no owner cookie)",
                        "Published rulesets", "Try or publish a draft", "Check and replay",
                        "Replay the taps of the last"),
                       ("Prévisualiser un parcours", "Qui touche l’article", "Moment",
                        "L’article tel qu’il est (rien de supposé)",
                        "Une personne inconnue (sans cookie de propriétaire)",
                        "Jeux de règles publiés", "Essayer ou publier un brouillon",
                        "Vérifier et rejouer", "Rejouer les contacts des")),
}


def _visible(html: str) -> str:
    """Return the words a person reads: no markup, no code, no form values."""
    html = re.sub(r"<(style|code|pre)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


@pytest.fixture
def seeded(app, db) -> Seeded:  # type: ignore[no-untyped-def]
    own = seed_brand(app, db, BRAND_A, "AAA-0001")
    brand = db.get_one(Brand, own.brand_id)
    brand.timezone = "Europe/Paris"
    # Pools of the live ruleset (labelled there) and one the ruleset no longer has.
    pool = RewardPool(brand=BRAND_A, reward_id="refill-scratch", mechanic="scratch_off")
    db.add(pool)
    db.flush()
    db.add_all([RewardPrize(pool_id=pool.id, prize_id="refill-free", weight=10, stock=50,
                            position=1),
                RewardPrize(pool_id=pool.id, prize_id="refill-15", weight=90, position=0)])
    db.commit()
    return own


def _check(client, pages, seeded: Seeded) -> None:  # type: ignore[no-untyped-def]
    for path, (english, french) in pages.items():
        url = path.format(serial=seeded.serial)
        plain = client.get(url)
        assert plain.status_code == 200, url
        text = _visible(plain.get_data(as_text=True))
        for words in english:
            assert words in text, (url, words)
        page = client.get(url, headers=FRENCH)
        assert page.status_code == 200, url
        html = page.get_data(as_text=True)
        assert '<html lang="fr">' in html, url
        text = _visible(html)
        for words in french:
            assert words in text, (url, words)
        for words in (*english, *MONTHS):
            # Words both languages share ("Moment", "Contact") are not English-only.
            if words not in french and words.strip() not in {"Contact", "Moment"}:
                assert words not in text, (url, words)


def test_staff_pages_speak_french_to_a_french_browser_and_english_by_default(app, db, seeded):
    service = app.test_client()
    sign_in_as(service, staff_member(db, seeded.brand_id, SERVICE, password=None))
    _check(service, PAGES, seeded)
    marketer = app.test_client()
    sign_in_as(marketer, staff_member(db, seeded.brand_id, MARKETER, password=None))
    _check(marketer, MARKETER_PAGES, seeded)


def test_rewards_are_named_by_their_labels_and_unknown_ids_are_shown_as_code(app, db, seeded):
    client = app.test_client()
    sign_in_as(client, staff_member(db, seeded.brand_id, MARKETER, password=None))
    english = client.get("/admin/rewards").get_data(as_text=True)
    french = client.get("/admin/rewards", headers=FRENCH).get_data(as_text=True)
    assert "Your refill scratch card" in english and "15% off your refill" in english
    assert "Your refill, on us" in english
    assert "Votre carte à gratter recharge" in french and "Votre recharge offerte" in french
    # The seeded "gift" pool is not in the live ruleset: its ids as they are, as code.
    for html in (english, french):
        assert "<code>gift</code>" in html and "<code>tote-bag</code>" in html
        for title in ("Refill free", "Refill Free", "Refill scratch", "Refill 15", "Tote bag",
                      "Gift<"):
            assert title not in html, title


def test_sign_in_and_password_errors_are_in_the_staff_members_language(app, db, seeded):
    user = staff_member(db, seeded.brand_id, SERVICE, "lea@brand.example")
    client = app.test_client()
    client.get("/admin/login", headers=FRENCH)
    wrong = post_form(client, "/admin/login", {"email": user.email, "password": "not it at all"},
                      headers=FRENCH)
    assert wrong.status_code == 401
    html = wrong.get_data(as_text=True)
    assert "Cet e-mail et ce mot de passe ne correspondent à aucun compte." in html
    assert "do not match" not in html and "Mot de passe oublié ?" in html
    token, _ = staff.issue_link(db, {"STAFF_RESET_LINK_MINUTES": 30}, user,
                                staff.RESET_PASSWORD, now())
    db.commit()
    differ = post_form(client, f"/admin/password/{token}",
                       {"password": "a long enough new one", "confirm": "another long one"},
                       headers=FRENCH)
    assert differ.status_code == 400
    assert "Les deux mots de passe ne sont pas identiques." in differ.get_data(as_text=True)
    english = post_form(client, f"/admin/password/{token}",
                        {"password": "a long enough new one", "confirm": "another long one"})
    assert "The two passwords are not the same." in english.get_data(as_text=True)


def test_a_preview_problem_is_in_the_staff_members_language(app, db, seeded):
    client = app.test_client()
    sign_in_as(client, staff_member(db, seeded.brand_id, MARKETER, password=None))
    html = client.get("/admin/preview?moment=nope", headers=FRENCH).get_data(as_text=True)
    assert "Moment inconnu : &#39;nope&#39;." in html and "Unknown moment" not in html


def test_staff_words_follow_the_browser_not_the_brands_consumer_locales():
    """A brand whose customers read English only still has French-speaking staff."""
    app = Flask(__name__)
    i18n.init_app(app)
    with app.test_request_context(headers=FRENCH):
        i18n.use_brand(("en-GB",), "Europe/Paris")
        assert str(get_locale()) == "en"
        i18n.for_staff()
        assert str(get_locale()) == "fr"
    with app.test_request_context(headers={"Accept-Language": "de-DE"}):
        i18n.for_staff()
        assert str(get_locale()) == "en"
