"""The preview tells the truth: the page the phone would get for a real item, viewer and moment,
reward and owner blocks included, why a limit keeps a reward back, and nothing written."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.catalog.models import Ownership
from app.core.clock import now
from app.rewards.models import RewardExposure, RewardGrant, RewardSlot
from app.verify.models import TapEvent
from tests.factories import age_ownership, tagged_item, tap
from tests.rewards.helpers import give
from tests.tap.test_dated_journeys import dated_app

AUTH = {"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}
REFILL = "/admin/preview{}?brand=maison-aurelia&item=SER-T1&moment=as-is&viewer=owner"


@pytest.fixture
def owned(app, db, keyring):  # type: ignore[no-untyped-def]
    """A serum its owner claimed 90 days ago by tapping it; the admin password is "pw"."""
    app.config["ADMIN_PASSWORD"] = "pw"
    tag = tagged_item(db, category="serum", serial="SER-T1")
    tap(app.test_client(), db, keyring, tag)
    age_ownership(db, tag, 90)
    return tag


def _rows(db) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return tuple(db.scalar(select(func.count()).select_from(m)) for m in
                 (TapEvent, Ownership, RewardGrant, RewardSlot, RewardExposure))


def test_the_owners_page_with_its_reward_and_owner_blocks(app, db, owned):
    client = app.test_client()
    before = _rows(db)
    card = client.get(REFILL.format(""), headers=AUTH).get_data(as_text=True)
    assert "Journey <strong>serum-refill</strong> shows <strong>refill</strong>" in card
    assert "The reward would be given." in card
    page = client.get(REFILL.format("/page"), headers=AUTH)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Running low on Test serum?" in html
    assert "Scratch to reveal" in html            # the reward block
    assert "You are owner #1 since" in html       # the owner block
    assert "Your owner page" in html
    assert _rows(db) == before  # no tap event, no grant, no exposure, no limit taken


def test_a_stranger_gets_neither_block(app, db, owned):
    html = app.test_client().get(
        REFILL.format("/page").replace("viewer=owner", "viewer=stranger"),
        headers=AUTH).get_data(as_text=True)
    assert "Scratch to reveal" not in html and "You are owner" not in html


def test_says_in_words_why_a_limit_kept_the_reward_back(app, db, owned):
    rules = app.extensions["aftertap.rules"].ruleset_for("maison-aurelia")
    holder = db.scalar(select(Ownership.owner_id).where(Ownership.item_id == owned.item_id))
    give(db, rules.doc, "refill-scratch", holder, owned.item_id, now() - timedelta(days=10))
    client = app.test_client()
    card = client.get(REFILL.format(""), headers=AUTH).get_data(as_text=True)
    assert "Journey <strong>serum-refill</strong>" not in card
    assert ("<strong>refill-scratch</strong>: The owner already got this reward once in the "
            "last 60 days (per_owner: 1 per 60 days).") in card
    # A moment before that grant: the reward was still there to give.
    earlier = REFILL.format("") + "&at=" + (now() - timedelta(days=11)).strftime("%Y-%m-%dT%H:%M")
    assert "Journey <strong>serum-refill</strong>" in client.get(earlier, headers=AUTH) \
        .get_data(as_text=True)
    html = client.get(REFILL.format("/page"), headers=AUTH).get_data(as_text=True)
    assert "Scratch to reveal" not in html and "You are owner #1" in html


def test_the_decided_reward_refused_is_said_and_not_shown(app, db, owned):
    # A journey that names the reward without testing it: the card says why it is not given.
    rules = app.extensions["aftertap.rules"].ruleset_for("maison-aurelia")
    holder = db.scalar(select(Ownership.owner_id).where(Ownership.item_id == owned.item_id))
    give(db, rules.doc, "refill-scratch", holder, owned.item_id, now() - timedelta(days=10))
    card = app.test_client().get(
        REFILL.format("") + "&facts=reward.refill-scratch.available%3Dtrue",
        headers=AUTH).get_data(as_text=True)
    assert "Journey <strong>serum-refill</strong>" in card
    assert ("The reward would not be given. The owner already got this reward once in the last "
            "60 days (per_owner: 1 per 60 days).") in card


def test_nobody_owned_it_then_is_said_plainly(app, db, owned):
    resp = app.test_client().get(REFILL.format("") + "&at=2020-01-01", headers=AUTH)
    assert resp.status_code == 200
    assert "nobody owned SER-T1 at 2019-12-31 23:00 UTC" in resp.get_data(as_text=True)
    assert app.test_client().get(REFILL.format("/page") + "&at=2020-01-01",
                                 headers=AUTH).status_code == 400


@pytest.mark.parametrize(("query", "words"), [
    ("&at=24/12/2026", "The moment &#39;24/12/2026&#39; is not a date"),
    ("&viewer=pirate", "Choose who taps: the owner, a stranger or a new owner."),
])
def test_bad_input_is_a_plain_answer(app, db, owned, query, words):
    resp = app.test_client().get(REFILL.format("").replace("&viewer=owner", "") + query,
                                 headers=AUTH)
    assert resp.status_code == 200
    assert words in resp.get_data(as_text=True)


def test_without_an_item_the_moment_still_counts(settings, tmp_path, monkeypatch):
    gen = dated_app({**settings, "ADMIN_PASSWORD": "pw"}, tmp_path, monkeypatch)
    app, _clock = next(gen)
    client = app.test_client()

    def journey(at: str) -> str:
        html = client.get(f"/admin/preview?brand=maison-aurelia&moment=as-is"
                          f"&facts=ownership.state%3Downed&at={at}", headers=AUTH)
        text = html.get_data(as_text=True)
        return text.split("Journey <strong>", 1)[1].split("</strong>", 1)[0]

    assert journey("2026-12-24") == "december"
    assert journey("2026-11-30T23:59") == "everyday"  # New York time
    next(gen, None)
