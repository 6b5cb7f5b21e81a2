"""The dry run: why a reward would be refused, in words, agreeing with the real grant, counting
only what had happened by the moment asked about, and never writing anything."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.rewards import ledger
from app.rewards.dryrun import balance_at, preview_grant, refusal, reviewed_by
from app.rewards.models import (
    ProductReview,
    RewardDayCount,
    RewardExposure,
    RewardGrant,
    RewardSlot,
)
from tests.factories import tagged_item
from tests.rewards.helpers import BRAND, T0, give, owner, refused, ruleset


def _why(db, doc, rid, who, item, at=T0):  # type: ignore[no-untyped-def]
    found = refusal(db, doc, BRAND, rid, who, item, at)
    return None if found is None else (found.reason, found.words)


def _rows(db) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    return tuple(db.scalar(select(func.count()).select_from(model)) for model in
                 (RewardGrant, RewardSlot, RewardExposure, RewardDayCount))


def test_per_owner_in_words_and_as_the_grant_says(db):
    doc = ruleset("refill: {points: 5, limit: {per_owner: 1, per: 60d}}")
    me, item = owner(db), tagged_item(db).item_id
    assert _why(db, doc, "refill", me, item) is None
    give(db, doc, "refill", me, item, T0)
    before = _rows(db)
    later = T0 + timedelta(days=59)
    assert _why(db, doc, "refill", me, item, later) == (
        "per_owner", "The owner already got this reward once in the last 60 days "
        "(per_owner: 1 per 60 days).")
    assert _rows(db) == before  # a read: nothing taken, nothing recorded
    assert refused(db, doc, "refill", me, item, later) == "per_owner"
    # Day 61: the window has passed, and the grant agrees.
    assert _why(db, doc, "refill", me, item, T0 + timedelta(days=61)) is None
    assert give(db, doc, "refill", me, item, T0 + timedelta(days=61)).points == 5


def test_a_moment_before_a_grant_does_not_see_it(db):
    doc = ruleset("once: {points: 5, limit: {per_owner: 1}}")
    me, item = owner(db), tagged_item(db).item_id
    give(db, doc, "once", me, item, T0)
    assert _why(db, doc, "once", me, item, T0 - timedelta(days=1)) is None
    assert _why(db, doc, "once", me, item, T0 + timedelta(days=900)) == (
        "per_owner", "The owner already got this reward once ever (per_owner: 1 in all).")


def test_the_brands_guardrail_in_words(db):
    doc = ruleset("a: {points: 1}\nb: {points: 2}", "rewards_per_owner: {max: 2, per: 30d}")
    me, item = owner(db), tagged_item(db).item_id
    give(db, doc, "a", me, item)
    give(db, doc, "a", me, item)
    assert _why(db, doc, "b", me, item) == (
        "rewards_per_owner", "The owner already got 2 rewards from this brand in the last 30 "
        "days, the most the brand allows (rewards_per_owner: 2 per 30 days).")
    assert refused(db, doc, "b", me, item) == "rewards_per_owner"


def test_per_item_per_day_and_budget(db):
    doc = ruleset("welcome: {points: 100, limit: {per_item: 1}}\n"
                  "daily: {prizes: [{id: p}], limit: {per_day: 1}}\n"
                  "small: {points: 1, budget: 1}")
    item = tagged_item(db).item_id
    give(db, doc, "welcome", owner(db), item)
    assert _why(db, doc, "welcome", owner(db), item) == (
        "per_item", "This item already got this reward once ever (per_item: 1 in all).")
    give(db, doc, "daily", None, item)
    assert _why(db, doc, "daily", None, item) == (
        "per_day", "This reward was already given once today, the most for one day "
        "(per_day: 1).")
    assert _why(db, doc, "daily", None, item, T0 + timedelta(days=1)) is None
    give(db, doc, "small", owner(db), item)
    assert _why(db, doc, "small", owner(db), item) == (
        "budget", "This reward's budget is spent: it was given 1 of 1 times (budget: 1).")
    assert refused(db, doc, "small", owner(db), item) == "budget"


def test_out_of_stock_and_owner_required(db):
    doc = ruleset("rare: {prizes: [{id: p, stock: 1}]}\npts: {points: 3}")
    item = tagged_item(db).item_id
    assert _why(db, doc, "pts", None, item) == (
        "owner_required", "Nobody known is tapping: this reward gives points, counts per owner "
        "or asks the owner to do something, so only an owner's tap can get it.")
    given = give(db, doc, "rare", None, item)
    assert given.pending is False  # instant: settled, the only unit taken
    assert _why(db, doc, "rare", None, item) == (
        "out_of_stock", "Every prize of this reward is out of stock.")
    assert refused(db, doc, "rare", None, item) == "out_of_stock"


def test_holdout_in_words(db):
    doc = ruleset("r: {points: 1, holdout: 50%}")
    item = tagged_item(db).item_id
    for _ in range(100):  # bounded: a broken holdout fails here instead of looping forever
        who = owner(db)
        found = refusal(db, doc, BRAND, "r", who, item, T0)
        if found is not None:
            break
    else:
        pytest.fail("100 owners and none in a 50% holdout")
    assert found.words == ("This owner is in the holdout: 50% see the journey without the "
                           "reward, so its effect can be measured (holdout: 50%).")
    assert refused(db, doc, "r", who, item) == "holdout"


def test_points_and_review_as_they_stood(db):
    me, tag = owner(db), tagged_item(db)
    ledger.post_entry(db, me, ledger.EARN, 40, "tap", 1, T0, brand=BRAND)
    ledger.post_entry(db, me, ledger.EARN, 60, "tap", 2, T0 + timedelta(days=10), brand=BRAND)
    db.add(ProductReview(owner_id=me, product_id=tag.item.product_id, item_id=tag.item_id,
                         rating=5, text="Lovely", created_at=T0 + timedelta(days=5)))
    db.commit()
    assert balance_at(db, me, BRAND, T0 - timedelta(seconds=1)) == 0
    assert balance_at(db, me, BRAND, T0 + timedelta(days=9)) == 40
    assert balance_at(db, me, BRAND, T0 + timedelta(days=10)) == 100
    assert not reviewed_by(db, me, tag.item.product_id, T0 + timedelta(days=4))
    assert reviewed_by(db, me, tag.item.product_id, T0 + timedelta(days=5))


def test_the_preview_grant_shows_points_given_and_games_to_reveal():
    doc = ruleset("pts: {points: 7}\ngame: {mechanic: scratch_off, prizes: [{id: p}]}\n"
                  "rev: {mechanic: click_to_reveal, prizes: [{id: p}], requires: review}")
    pts = preview_grant(doc, BRAND, "pts", owner_id=1, item_id=1, journey="j", at=T0)
    assert (pts.outcome, pts.points, pts.pending) == ("points", 7, False)
    game = preview_grant(doc, BRAND, "game", owner_id=1, item_id=1, journey="j", at=T0)
    assert (game.pending, game.locked, game.mechanic) == (True, False, "scratch_off")
    rev = preview_grant(doc, BRAND, "rev", owner_id=1, item_id=1, journey="j", at=T0,
                        missing=("review",))
    assert rev.locked and "review" in rev.instruction.lower()
