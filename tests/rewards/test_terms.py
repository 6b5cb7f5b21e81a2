"""Published terms: odds, stock left, limits and expiry of every reward."""

from __future__ import annotations

from app.rewards.pools import sync_ruleset
from app.rewards.terms import terms
from tests.rewards.helpers import BRAND, GAME, T0, ruleset


def test_terms_show_odds_stock_and_limits(db):
    doc = ruleset(GAME + "\n  limit: {per_owner: 1, per_day: 500}")
    sync_ruleset(db, doc, BRAND)
    (t,) = terms(db, doc, BRAND, T0)
    assert [(p.id, p.odds_percent, p.stock, p.left) for p in t.prizes] == [
        ("big", 25.0, 2, 2), ("listed", 75.0, None, None)]
    assert t.consolation.id == "thanks" and t.per_owner == 1 and t.per_day == 500
    assert t.expires_days == 30 and t.mechanic == "scratch_off"
