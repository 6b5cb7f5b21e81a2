"""The reward card and the wallet say what an owner needs (issue 13): a locked reward names the
reward before saying what to do first; a won code's end date is in the brand's time zone, as a
date like the rest of the owner page, never a UTC clock time."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape
from typing import Any

from sqlalchemy import select, update

from app.catalog.models import Brand
from app.rewards.models import RewardGrant
from tests.factories import age_ownership, item_path, post_form, tagged_item, tap, tap_url
from tests.rewards.test_tap_rewards import _review_ready

FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9"}
ENGLISH = {"Accept-Language": "en-GB,en;q=0.9"}
JSON = {"Accept": "application/json"}


def _reward_card(html: str) -> str:
    found = re.search(r'<section class="card" aria-label="(?:Your reward|Votre récompense)">'
                      r'(.*?)</section>', html, re.S)
    assert found, html
    return unescape(found.group(1))


def _page(phone: Any, db: Any, keyring: Any, tag: Any, headers: dict[str, str]) -> str:
    response = phone.get(tap_url(db, keyring, tag), headers=headers)
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def test_a_locked_reward_names_the_reward_and_what_to_do_first(app, db, keyring):
    tag, phone, _ = _review_ready(app, db, keyring)
    english = _reward_card(_page(phone, db, keyring, tag, ENGLISH))
    # The demo ruleset's label for the review reward (rulesets/maison-aurelia.yaml).
    assert "<strong>A gift for your review</strong>" in english
    assert "Write your review to reveal your reward." in english
    french = _reward_card(_page(phone, db, keyring, tag, FRENCH))
    assert "<strong>Un cadeau pour votre avis</strong>" in french
    assert "Rédigez votre avis pour révéler votre récompense." in french


def test_a_won_codes_end_is_a_date_in_the_brands_zone(app, db, keyring):
    tag = tagged_item(db, category="serum")
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    db.execute(update(Brand).where(Brand.id == tag.item.product.brand_id)
               .values(timezone="Europe/Paris"))
    db.commit()
    age_ownership(db, tag, 80)
    link = tap(phone, db, keyring, tag, as_json=True).get_json()["reward"]["reveal"]
    won = post_form(phone, link + "/reveal", headers=JSON).get_json()
    assert won["code"]
    # 23:30 UTC on 30 December is already 31 December in Paris.
    db.execute(update(RewardGrant).where(RewardGrant.code == won["code"])
               .values(expires_at=datetime(2099, 12, 30, 23, 30, tzinfo=UTC)))
    db.commit()
    assert db.scalar(select(RewardGrant.id).where(RewardGrant.code == won["code"]))
    for headers, words in ((ENGLISH, "use by 31 December 2099<"),
                           (FRENCH, "à utiliser avant le 31 décembre 2099<")):
        page = unescape(phone.get(item_path(tag, "owner"), headers=headers)
                        .get_data(as_text=True))
        wallet = page.split('id="wallet"', 1)[1].split("</section>", 1)[0]
        assert won["code"] in wallet
        assert words in wallet, wallet
        assert "(UTC)" not in wallet and "23:30" not in wallet and "00:30" not in wallet
