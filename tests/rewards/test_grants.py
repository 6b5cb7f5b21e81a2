"""Grants: idempotent per tap; a reveal decides the outcome once and shows it again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.core.errors import Forbidden, NotFound
from app.rewards import grants, ledger
from app.rewards.codes import import_codes
from tests.factories import tagged_item
from tests.rewards.helpers import BRAND, GAME, T0, owner, pending, ruleset, tap_event


def test_instant_points_are_posted_once_per_tap(db):
    doc = ruleset("pts: {points: 100}")
    item, me = tagged_item(db).item_id, owner(db)
    tap = tap_event(db, item)
    first = grants.grant(db, doc, BRAND, "pts", tap_event_id=tap, owner_id=me, item_id=item,
                         journey="all", at=T0)
    again = grants.grant(db, doc, BRAND, "pts", tap_event_id=tap, owner_id=me, item_id=item,
                         journey="all", at=T0 + timedelta(seconds=1))
    db.commit()
    assert first.created and not again.created and again.id == first.id
    assert first.outcome == "points" and first.points == 100
    assert ledger.balance(db, me) == 100
    assert [(e.cause_type, e.cause_id) for e in ledger.ledger(db, me)] == [("reward",
                                                                             str(first.id))]


def test_the_outcome_is_decided_at_reveal_and_shown_again(db):
    doc = ruleset(GAME)
    import_codes(db, BRAND, "shop-codes", ["L-1", "L-2"], T0)
    me, item = owner(db), tagged_item(db).item_id
    view = pending(db, doc, me, item)
    assert view.pending and view.token and view.code is None
    assert grants.get_grant(db, view.token) == view
    with pytest.raises(NotFound):
        grants.get_grant(db, "no-such-token")
    with pytest.raises(Forbidden):
        grants.reveal(db, view.token, owner(db), T0)
    first = grants.reveal(db, view.token, me, T0 + timedelta(minutes=1))
    db.commit()
    again = grants.reveal(db, view.token, me, T0 + timedelta(hours=5))
    assert first == again and first.outcome in ("prize", "consolation")
    assert grants.reveal(db, view.id, me, T0) == first
    if first.outcome == "prize":
        assert first.code and first.expires_at == T0 + timedelta(minutes=1, days=30)
    with pytest.raises(NotFound):
        grants.reveal(db, "no-such-token", me, T0)


def test_stock_runs_out_into_the_consolation_and_codes_are_single_use(db):
    doc = ruleset(GAME)
    import_codes(db, BRAND, "shop-codes", ["L-1", "L-2", "L-2", " "], T0)
    item = tagged_item(db).item_id
    me = owner(db)
    outcomes = [grants.reveal(db, pending(db, doc, me, item).id, me, T0) for _ in range(8)]
    db.commit()
    won = [o for o in outcomes if o.outcome == "prize"]
    assert len([o for o in won if o.prize_id == "big"]) <= 2
    assert sorted(o.code for o in won if o.prize_id == "listed") == \
        ["L-1", "L-2"][:len([o for o in won if o.prize_id == "listed"])]
    assert len({o.code for o in won}) == len(won)
    consolations = [o for o in outcomes if o.outcome == "consolation"]
    assert len(won) <= 4 and len(won) + len(consolations) == 8
    assert ledger.balance(db, me) == 5 * len(consolations)
    assert import_codes(db, BRAND, "other", ["L-1", won[0].code], T0).added == 0
