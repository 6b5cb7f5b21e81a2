"""Grants: idempotent per tap; a reveal decides the outcome once and shows it again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.core.errors import Forbidden, NotFound
from app.rewards import draws, grants, ledger
from app.rewards.codes import import_codes
from app.rewards.models import RewardDraw, RewardPrize
from tests.factories import tagged_item
from tests.rewards.helpers import BRAND, GAME, T0, give, owner, pending, ruleset, tap_event


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
    assert ledger.balance(db, me, BRAND) == 100
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
    assert ledger.balance(db, me, BRAND) == 5 * len(consolations)
    assert import_codes(db, BRAND, "other", ["L-1", won[0].code], T0).added == 0


STOCK_OF_3 = "card: {prizes: [{id: top, stock: 3}], consolation: {id: thanks}}"


def _top(db) -> RewardPrize:  # type: ignore[no-untyped-def]
    db.expire_all()
    return db.scalar(select(RewardPrize).where(RewardPrize.prize_id == "top"))


def test_a_prize_with_stock_3_is_given_exactly_3_times(db):
    doc = ruleset(STOCK_OF_3)
    item, me = tagged_item(db).item_id, owner(db)
    outcomes = [grants.reveal(db, give(db, doc, "card", me, item).id, me, T0).prize_id
                for _ in range(6)]
    db.commit()
    assert outcomes == ["top"] * 3 + ["thanks"] * 3
    assert (_top(db).given, _top(db).stock) == (3, 3)
    # Once gone, the prize is no longer in the draw at all (the published draws show it).
    picks = db.scalars(select(RewardDraw.picked).order_by(RewardDraw.id)).all()
    assert picks == ["top"] * 3 + [None] * 3


def test_the_last_unit_taken_during_a_reveal_is_not_given_twice(db, monkeypatch):
    """The race on the last unit, played in order: the reveal read the prize in stock, then,
    before it takes the unit, another reveal takes it. The stock UPDATE's own guard must refuse:
    the consolation, never a unit past the stock."""
    doc = ruleset(STOCK_OF_3)
    item, me = tagged_item(db).item_id, owner(db)
    for _ in range(2):
        assert grants.reveal(db, give(db, doc, "card", me, item).id, me, T0).prize_id == "top"
    db.commit()
    seed_for = draws.seed_for

    def racer_takes_the_last_unit(session, *args):  # type: ignore[no-untyped-def]
        session.execute(update(RewardPrize).where(RewardPrize.prize_id == "top")
                        .values(given=RewardPrize.given + 1))
        return seed_for(session, *args)

    monkeypatch.setattr(draws, "seed_for", racer_takes_the_last_unit)
    late = grants.reveal(db, give(db, doc, "card", me, item).id, me, T0)
    db.commit()
    assert (late.outcome, late.prize_id) == ("consolation", "thanks")
    assert _top(db).given == 3
    last = db.scalars(select(RewardDraw).order_by(RewardDraw.id.desc())).first()
    assert (last.picked, last.stock_taken, last.outcome_prize) == ("top", False, "thanks")
    assert draws.audit_day(db, "card", T0.date()).ok  # the draw log says what happened

