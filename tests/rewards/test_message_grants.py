"""Grants for a scheduled message: keyed on the message, never on both a tap and a message."""

from __future__ import annotations

import pytest

from app.rewards import grants
from tests.factories import tagged_item
from tests.rewards.helpers import BRAND, T0, owner, ruleset, tap_event

REWARDS = """card:
  mechanic: scratch_off
  prizes: [{id: p, weight: 1}]"""


def test_a_grant_is_for_a_tap_or_a_message_exactly_one(db):
    doc = ruleset(REWARDS)
    item = tagged_item(db).item_id
    me = owner(db)
    tap = tap_event(db, item)
    with pytest.raises(ValueError, match="exactly one"):
        grants.grant(db, doc, BRAND, "card", tap_event_id=None, owner_id=me, item_id=item,
                     journey="s", at=T0)
    with pytest.raises(ValueError, match="exactly one"):
        grants.grant(db, doc, BRAND, "card", tap_event_id=tap, owner_id=me, item_id=item,
                     journey="s", at=T0, message_key="m-1")


def test_a_message_grant_is_made_once_per_message(db):
    doc = ruleset(REWARDS)
    item = tagged_item(db).item_id
    me = owner(db)
    first = grants.grant(db, doc, BRAND, "card", tap_event_id=None, owner_id=me, item_id=item,
                         journey="s", at=T0, message_key="m-1")
    again = grants.grant(db, doc, BRAND, "card", tap_event_id=None, owner_id=me, item_id=item,
                         journey="s", at=T0, message_key="m-1")
    other = grants.grant(db, doc, BRAND, "card", tap_event_id=None, owner_id=me, item_id=item,
                         journey="s", at=T0, message_key="m-2")
    assert first.created and not again.created and again.token == first.token
    assert other.token != first.token and other.message_key == "m-2"
