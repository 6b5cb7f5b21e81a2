"""A prize with ``min_plays`` stays out of the draw until the pool has had that many plays."""

from __future__ import annotations

import pytest

from app.rewards import grants
from app.rewards.terms import terms
from app.rules.service import RulesetError, parse_ruleset
from tests.factories import tagged_item
from tests.rewards.helpers import BRAND, T0, ruleset, tap_event


def test_big_prize_waits_for_its_minimum_plays(app, db):
    doc = ruleset("late:\n  mechanic: click_to_reveal\n  prizes:\n"
                  "    - {id: big, weight: 1000000, stock: 1, min_plays: 5}\n"
                  "    - {id: small, weight: 1}")
    item = tagged_item(db).item_id
    won = []
    for _ in range(6):
        grant = grants.grant(db, doc, BRAND, "late", tap_event_id=tap_event(db, item),
                             owner_id=None, item_id=item, journey="all", at=T0)
        won.append(grants.reveal(db, grant.id, None, T0).prize_id)
        db.commit()
    # Plays 1-4 cannot draw it; the 5th can (and at these weights does); its stock is then gone.
    assert won == ["small"] * 4 + ["big", "small"]
    assert terms(db, doc, BRAND, T0)[0].prizes[0].min_plays == 5


def test_min_plays_must_be_a_whole_number():
    text = ("brand: b\njourneys:\n  - {id: a, priority: 0, when: {}, experience: care}\n"
            "rewards:\n  r:\n    prizes: [{id: p, min_plays: soon}]\n")
    with pytest.raises(RulesetError) as err:
        parse_ruleset(text, "bad.yaml")
    assert "min_plays" in str(err.value.problems[0])
