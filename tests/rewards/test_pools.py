"""Pools: syncing a ruleset's rewards keeps what was given and retires removed prizes."""

from __future__ import annotations

from app.rewards.pools import sync_ruleset
from app.rewards.terms import terms
from tests.factories import tagged_item
from tests.rewards.helpers import BRAND, give, refused, ruleset


def test_sync_keeps_what_was_given_and_retires_removed_prizes(db):
    doc = ruleset("r: {prizes: [{id: a, stock: 3}, {id: b}]}")
    item = tagged_item(db).item_id
    for _ in range(2):
        give(db, doc, "r", None, item)
    given_a = sum(t.left is not None and 3 - t.left for t in terms(db, doc, BRAND)[0].prizes)
    smaller = ruleset("r: {prizes: [{id: a, stock: 1}]}")
    sync_ruleset(db, smaller, BRAND)
    sync_ruleset(db, smaller, BRAND)
    db.commit()
    view = give(db, smaller, "r", None, item) if given_a < 1 else None
    if view is None:  # a was already given at least once: now sold out, b retired
        assert refused(db, smaller, "r", None, item) == "out_of_stock"
