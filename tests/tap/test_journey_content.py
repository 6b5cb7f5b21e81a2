"""A journey written only in the ruleset (blocks and the brand's words, no template of its own)
on a real tap, in the phone's language with a fallback; prizes named by their labels."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.factories import tagged_item, tap, tap_url

REPO = Path(__file__).resolve().parents[2]
RULESET = """brand: maison-aurelia
locales: [en, fr]
journeys:
  - id: unboxing
    priority: 40
    when: {ownership.state: unclaimed}
    do: [claim_ownership]
    experience: page
    content:
      heading: {en: Welcome to your bag, fr: Bienvenue dans votre sac}
      body:
        en: Made **by hand** in our Florence atelier.
        fr: Fait **à la main** dans notre atelier de Florence.
      cta:
        label: {en: Open your owner page, fr: Ouvrir votre espace propriétaire}
        to: owner
      media:
        image: atelier.jpg
        alt: {en: The Florence atelier, fr: L'atelier de Florence}
      blocks: [hero, media, body, cta, item]
  - id: everyday
    priority: 0
    experience: page
    reward: refill-gift
    content:
      heading: Only written in English
      media: {video: movement-documentary.mp4, alt: {en: The film, fr: Le film}}
      blocks: [hero, media, reward, item]
rewards:
  refill-gift:
    prizes:
      - id: refill-free
        code: generated
        label: {en: A free refill, fr: Une recharge offerte}
"""


@pytest.fixture
def settings(settings, tmp_path):  # type: ignore[no-untyped-def]
    """The suite's settings, serving RULESET and a copy of the brand's assets with a public
    image in media/."""
    rules = tmp_path / "content-rulesets"
    rules.mkdir()
    (rules / "maison-aurelia.yaml").write_text(RULESET, encoding="utf-8")
    assets = tmp_path / "content-assets"
    shutil.copytree(REPO / "brand-assets", assets)
    (assets / "maison-aurelia" / "media").mkdir(exist_ok=True)
    shutil.copy(assets / "maison-aurelia" / "owner" / "movement-poster.jpg",
                assets / "maison-aurelia" / "media" / "atelier.jpg")
    return {**settings, "RULESETS_DIR": str(rules), "BRAND_ASSETS_DIR": str(assets)}


def _page(client, db, keyring, tag, language: str | None = None) -> str:  # type: ignore[no-untyped-def]
    headers = {"Accept-Language": language} if language else {}
    response = client.get(tap_url(db, keyring, tag), headers=headers)
    assert response.status_code == 200
    assert len(response.data) < 60 * 1024
    return str(response.get_data(as_text=True))


def test_a_yaml_only_journey_renders_its_words_media_and_call_to_action(client, db, keyring):
    tag = tagged_item(db)
    html = _page(client, db, keyring, tag, "en-GB,en;q=0.9")
    assert "<h1>Welcome to your bag</h1>" in html
    assert "<title>Welcome to your bag</title>" in html
    assert "Made <strong>by hand</strong> in our Florence atelier." in html
    assert 'src="/brand/maison-aurelia/media/atelier.jpg"' in html
    assert 'alt="The Florence atelier"' in html
    owner = f"/items/{tag.item.product.gtin}/{tag.item.serial}/owner"
    assert f'<a class="button" href="{owner}">Open your owner page</a>' in html
    # Blocks in the order the content lists: the heading, then the image, then the text.
    assert html.index("<h1>") < html.index("atelier.jpg") < html.index("by hand")
    # The public image is served to anyone, as a file that runs nothing.
    image = client.get("/brand/maison-aurelia/media/atelier.jpg")
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    assert client.get("/brand/maison-aurelia/media/theme.yaml").status_code == 404
    assert client.get("/brand/maison-aurelia/media/movement-poster.jpg").status_code == 404


def test_the_page_speaks_the_phones_language(client, db, keyring):
    html = _page(client, db, keyring, tagged_item(db), "fr-FR,fr;q=0.9")
    assert "<h1>Bienvenue dans votre sac</h1>" in html
    assert "Fait <strong>à la main</strong>" in html
    assert "Ouvrir votre espace propriétaire" in html and 'alt="L&#39;atelier de Florence"' in html
    assert "Welcome to your bag" not in html


def test_a_language_the_brand_did_not_write_falls_back_to_its_first(client, db, keyring):
    tag = tagged_item(db)
    german = _page(client, db, keyring, tag, "de-DE")
    assert "<h1>Welcome to your bag</h1>" in german
    # Text written once (a plain string) is the first locale's, shown in French too.
    french = _page(client, db, keyring, tag, "fr")
    assert "<h1>Only written in English</h1>" in french


@pytest.mark.parametrize(("language", "label"), [
    ("en", "A free refill"), ("fr", "Une recharge offerte"),
])
def test_a_prize_is_named_by_its_label_never_its_identifier(app, db, keyring, language, label):
    client = app.test_client()
    tag = tagged_item(db)
    assert tap(client, db, keyring, tag).status_code == 200  # claimed: the unboxing journey
    html = _page(client, db, keyring, tag, language)
    assert label in html
    assert "Refill free" not in html and "refill-free" not in html
    body = client.get(tap_url(db, keyring, tag),
                      headers={"Accept": "application/json", "Accept-Language": language})
    assert body.get_json()["reward"]["label"] == label


def test_the_terms_page_names_prizes_by_their_labels(client):
    html = client.get("/rewards/terms/maison-aurelia",
                      headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Une recharge offerte" in html and "Refill free" not in html


def test_owner_only_media_is_offered_to_the_owner_alone(app, db, keyring):
    owner, stranger = app.test_client(), app.test_client()
    tag = tagged_item(db)
    assert tap(owner, db, keyring, tag).status_code == 200  # claimed by ``owner``
    mine = _page(owner, db, keyring, tag, "en")
    film = f"/items/{tag.item.product.gtin}/{tag.item.serial}/media/movement-documentary.mp4"
    assert f'src="{film}"' in mine and "For owners only" in mine
    theirs = _page(stranger, db, keyring, tag, "en")
    assert "<h1>Only written in English</h1>" in theirs  # the same journey
    assert "<video" not in theirs and "movement-documentary" not in theirs
