"""Care guidance and owner-only content per category or product, from the ruleset's
``products:`` and from the catalogue import, on real taps: which words win (the ruleset's GTIN
entry, then the catalogue's product text, then the ruleset's category entry), each in the
page's language; item-card labels in the page's language; a journey written as blocks only shows
the same parts of the page as the named experience."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.factories import tagged_item, tap, tap_url

REPO = Path(__file__).resolve().parents[2]
GTIN = "03760123450041"
RULESET = """brand: maison-aurelia
locales: [en, fr]
journeys:
  - id: unboxing
    priority: 40
    when: {ownership.state: unclaimed}
    do: [claim_ownership]
    experience: authenticity
  - id: belt-as-blocks
    priority: 20
    when: {owner.is_current: true, product.category: belt}
    experience: page
    content:
      blocks: [hero, media, body, care, owner_content, cta, item, reward, owner]
  - id: care
    priority: 10
    when: {owner.is_current: true}
    experience: care
  - id: rest
    priority: 0
    experience: page
    content:
      # Anyone else's page lists the owner-only block too: it must stay empty for them.
      blocks: [hero, care, owner_content, item, owner]
products:
  bag:
    care:
      heading: {en: Caring for leather, fr: Prendre soin du cuir}
      body: {en: Keep it **dry**., fr: Gardez-le **au sec**.}
    owner_content:
      heading: {en: The tannery, fr: La tannerie}
      body: {en: A visit to our tannery., fr: Une visite de notre tannerie.}
  belt:
    care:
      body: {en: Belt care from the ruleset., fr: Entretien de ceinture.}
    owner_content:
      body: {en: How the buckle is cast., fr: La fonte de la boucle.}
  watch:
    care:
      body: {en: Watch care for the category., fr: Entretien des montres.}
  "GTIN":
    owner_content:
      heading: {en: The making of your watch, fr: La naissance de votre montre}
      media:
        video: movement-documentary.mp4
        poster: movement-poster.jpg
        alt: {en: Watchmakers at the bench, fr: Des horlogers à l'établi}
""".replace("GTIN", GTIN)


@pytest.fixture
def settings(settings, tmp_path):  # type: ignore[no-untyped-def]
    rules = tmp_path / "product-rulesets"
    rules.mkdir()
    (rules / "maison-aurelia.yaml").write_text(RULESET, encoding="utf-8")
    assets = tmp_path / "product-assets"
    shutil.copytree(REPO / "brand-assets", assets)
    return {**settings, "RULESETS_DIR": str(rules), "BRAND_ASSETS_DIR": str(assets)}


def _owned(client, db, keyring, **product):  # type: ignore[no-untyped-def]
    """A tag whose item ``client`` claimed (first tap) and came back to."""
    tag = tagged_item(db, **product)
    assert tap(client, db, keyring, tag).status_code == 200
    assert tap(client, db, keyring, tag).status_code == 200
    return tag


def _page(client, db, keyring, tag, language: str) -> str:  # type: ignore[no-untyped-def]
    response = client.get(tap_url(db, keyring, tag), headers={"Accept-Language": language})
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def _care(html: str) -> str:
    found = re.search(r'<section class="card" aria-label="(?:Care|Entretien)">(.*?)</section>',
                      html, re.S)
    assert found, html
    return found.group(1)


def test_a_category_entry_speaks_each_language(client, db, keyring):
    tag = _owned(client, db, keyring, category="bag")
    english = _care(_page(client, db, keyring, tag, "en"))
    assert "<h2>Caring for leather</h2>" in english
    assert "Keep it <strong>dry</strong>." in english
    french = _care(_page(client, db, keyring, tag, "fr-FR"))
    assert "<h2>Prendre soin du cuir</h2>" in french
    assert "Gardez-le <strong>au sec</strong>." in french
    assert "Keep it" not in french


def test_the_catalogues_text_for_the_product_wins_over_the_category(client, db, keyring):
    tag = _owned(client, db, keyring, category="bag", care_text="This bag's own care.")
    english = _care(_page(client, db, keyring, tag, "en"))
    assert "This bag&#39;s own care." in english or "This bag's own care." in english
    assert "Keep it" not in english
    # The catalogue wrote no French: a French page gets the category's French, not English.
    french = _care(_page(client, db, keyring, tag, "fr"))
    assert "Gardez-le <strong>au sec</strong>." in french
    assert "own care" not in french


def test_the_catalogues_french_is_shown_on_a_french_page(client, db, keyring):
    tag = tagged_item(db, category="bag", care_text="This bag's own care.")
    tag.item.product.texts = {"care": {"fr": "L'entretien de **ce** sac."}}
    db.commit()
    assert tap(client, db, keyring, tag).status_code == 200
    french = _care(_page(client, db, keyring, tag, "fr"))
    assert "L’entretien de <strong>ce</strong> sac." in french \
        or "L&#39;entretien de <strong>ce</strong> sac." in french \
        or "L'entretien de <strong>ce</strong> sac." in french
    assert "Gardez-le" not in french


def test_the_rulesets_entry_for_the_gtin_wins_over_everything(client, db, keyring):
    tag = _owned(client, db, keyring, category="watch", product_gtin=GTIN,
                 owner_content="The catalogue's owner text.")
    html = _page(client, db, keyring, tag, "fr")
    owner_only = html[html.index('aria-label="Réservé aux propriétaires"'):]
    assert "<h2>La naissance de votre montre</h2>" in owner_only
    assert "/owner-media/movement-documentary.mp4" in owner_only or \
        "movement-documentary.mp4" in owner_only
    assert "owner text" not in html
    # No care entry for this GTIN and no catalogue care: the category's.
    assert "Entretien des montres." in _care(html)


def test_owner_only_content_is_shown_to_the_owner_only(app, client, db, keyring):
    tag = _owned(client, db, keyring, category="bag")
    assert "<h2>The tannery</h2>" in _page(client, db, keyring, tag, "en")
    stranger = app.test_client()
    html = _page(stranger, db, keyring, tag, "en")
    assert "Keep it <strong>dry</strong>." in html  # the same page's care, for anyone
    assert "tannery" not in html and "For owners only" not in html


def test_no_words_anywhere_keeps_the_neutral_line(client, db, keyring):
    tag = _owned(client, db, keyring, category="scarf")
    care = _care(_page(client, db, keyring, tag, "en"))
    assert "Follow the care instructions that came with your Test scarf." in care


def test_item_card_labels_speak_french_on_a_french_page(client, db, keyring):
    tag = tagged_item(db, category="bag", attributes={
        "made_in": "Florence, Italie", "material": "veau pleine fleur",
        "stitching": "sellier"})
    tag.item.product.provenance_attributes = ["made_in", "material", "stitching"]
    tag.item.product.texts = {"labels": {"stitching": {"en": "Stitching", "fr": "Couture"}}}
    db.commit()
    french = _page(client, db, keyring, tag, "fr")
    assert "<dt>Fabriqué à</dt><dd>Florence, Italie</dd>" in french
    assert "<dt>Matière</dt>" in french
    assert "<dt>Couture</dt><dd>sellier</dd>" in french
    assert "Made in" not in french and "Material" not in french
    english = _page(client, db, keyring, tag, "en")
    assert "<dt>Made in</dt>" in english and "<dt>Stitching</dt>" in english


def _parts(html: str) -> list[str]:
    """The page's parts in order: its heading and each card, by its label."""
    main = html[html.index("<main"):]
    return [label or "h1" for label in
            re.findall(r'<h1>|<(?:section|details) class="card"(?: aria-label="([^"]*)")?', main)]


def test_a_journey_of_blocks_shows_what_the_named_experience_shows(client, db, keyring):
    named = _owned(client, db, keyring, category="bag")
    blocks = _owned(client, db, keyring, category="belt")
    named_html = _page(client, db, keyring, named, "en")
    blocks_html = _page(client, db, keyring, blocks, "en")
    assert "Caring for your Test bag" in named_html
    # The same blocks in the same order; only the words differ (no built-in heading).
    assert _parts(named_html).count("Care") == _parts(blocks_html).count("Care") == 1
    assert _parts(named_html) == _parts(blocks_html)
    assert _parts(named_html)[:4] == ["h1", "Care", "For owners only", "This item"]
    assert "Belt care from the ruleset." in blocks_html
    assert "How the buckle is cast." in blocks_html


def test_the_owner_page_names_the_product_never_its_category(client, db, keyring):
    tag = _owned(client, db, keyring, category="bag")
    product = tag.item.product
    owner = client.get(f"/items/{product.gtin}/{tag.item.serial}/owner",
                       headers={"Accept-Language": "fr"})
    assert owner.status_code == 200
    html = owner.get_data(as_text=True)
    assert f"Donnez votre avis sur votre {product.name}" in html
    assert "(bag)" not in html
    # The owner-only words come from the ruleset here (the catalogue has none), in French.
    assert "La tannerie" in html
    content = client.get(f"/items/{product.gtin}/{tag.item.serial}/content",
                         headers={"Accept-Language": "fr"})
    assert content.status_code == 200
    page = content.get_data(as_text=True)
    assert "<h1>La tannerie</h1>" in page and "Une visite de notre tannerie." in page
