"""Reveal once and show it again; codes and redemption; commit-reveal audits; terms."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from app.core.errors import Conflict, Forbidden, Gone, NotFound
from app.rewards import draws, ledger
from app.rewards import service as rewards
from app.rewards.models import RewardDraw
from tests.factories import tagged_item
from tests.rewards.helpers import BRAND, T0, owner, ruleset, tap_event

GAME = """game:
  mechanic: scratch_off
  prizes:
    - {id: big, weight: 1, stock: 2, code: generated}
    - {id: listed, weight: 3, code: {list: shop-codes}}
  consolation: {id: thanks, points: 5}
  expires: 30d"""


def pending(db, doc, owner_id, item_id, at=T0):
    view = rewards.grant(db, doc, BRAND, "game", tap_event_id=tap_event(db, item_id, at),
                         owner_id=owner_id, item_id=item_id, journey="all", at=at)
    db.commit()
    return view


def test_the_outcome_is_decided_at_reveal_and_shown_again(db):
    doc = ruleset(GAME)
    rewards.import_codes(db, BRAND, "shop-codes", ["L-1", "L-2"], T0)
    me, item = owner(db), tagged_item(db).item_id
    view = pending(db, doc, me, item)
    assert view.pending and view.token and view.code is None
    with pytest.raises(Forbidden):
        rewards.reveal(db, view.token, owner(db), T0)
    first = rewards.reveal(db, view.token, me, T0 + timedelta(minutes=1))
    db.commit()
    again = rewards.reveal(db, view.token, me, T0 + timedelta(hours=5))
    assert first == again and first.outcome in ("prize", "consolation")
    assert rewards.reveal(db, view.id, me, T0) == first
    if first.outcome == "prize":
        assert first.code and first.expires_at == T0 + timedelta(minutes=1, days=30)
    with pytest.raises(NotFound):
        rewards.reveal(db, "no-such-token", me, T0)


def test_stock_runs_out_into_the_consolation_and_codes_are_single_use(db):
    doc = ruleset(GAME)
    rewards.import_codes(db, BRAND, "shop-codes", ["L-1", "L-2", "L-2", " "], T0)
    item = tagged_item(db).item_id
    me = owner(db)
    outcomes = [rewards.reveal(db, pending(db, doc, me, item).id, me, T0) for _ in range(8)]
    db.commit()
    won = [o for o in outcomes if o.outcome == "prize"]
    assert len([o for o in won if o.prize_id == "big"]) <= 2
    assert sorted(o.code for o in won if o.prize_id == "listed") == \
        ["L-1", "L-2"][:len([o for o in won if o.prize_id == "listed"])]
    assert len({o.code for o in won}) == len(won)
    consolations = [o for o in outcomes if o.outcome == "consolation"]
    assert len(won) <= 4 and len(won) + len(consolations) == 8
    assert ledger.balance(db, me) == 5 * len(consolations)
    assert rewards.import_codes(db, BRAND, "other", ["L-1", won[0].code], T0).added == 0


def test_redeem_once_unknown_and_expired(db):
    doc = ruleset("gift: {prizes: [{id: p, code: generated}], expires: 10d}")
    item = tagged_item(db).item_id
    view = rewards.grant(db, doc, BRAND, "gift", tap_event_id=tap_event(db, item),
                         owner_id=None, item_id=item, journey="all", at=T0)
    late = rewards.grant(db, doc, BRAND, "gift", tap_event_id=tap_event(db, item),
                         owner_id=None, item_id=item, journey="all", at=T0)
    db.commit()
    assert rewards.check_code(db, view.code, T0).status == "valid"
    done = rewards.redeem(db, view.code, T0 + timedelta(days=1), shop="paris-1")
    db.commit()
    assert done.status == "redeemed" and done.shop == "paris-1" and done.prize_id == "p"
    with pytest.raises(Conflict):
        rewards.redeem(db, view.code, T0 + timedelta(days=2), shop="paris-2")
    with pytest.raises(NotFound):
        rewards.redeem(db, "AT-NOPE", T0, shop="x")
    with pytest.raises(Gone):
        rewards.redeem(db, late.code, T0 + timedelta(days=10, seconds=1), shop="x")


def test_commit_reveal_audit_recomputes_and_catches_tampering(db):
    doc = ruleset(GAME)
    item = tagged_item(db).item_id
    rewards.sync_ruleset(db, doc, BRAND)
    published = draws.publish_commitments(db, T0 - timedelta(hours=13))
    db.commit()
    assert {c.day for c in published} == {T0.date() - timedelta(days=1), T0.date()}
    assert all(c.seed is None for c in published)
    me = owner(db)
    for _ in range(12):
        rewards.reveal(db, pending(db, doc, me, item).id, me, T0)
    db.commit()
    # Not revealed while the day runs, whatever is asked.
    assert [c.day for c in draws.reveal_seeds(db, T0)] == [T0.date() - timedelta(days=1)]
    assert all(c.seed is None for c in draws.commitments(db, BRAND, "game", T0)
               if c.day >= T0.date())
    revealed = draws.reveal_seeds(db, T0 + timedelta(days=1))
    db.commit()
    today = next(c for c in revealed if c.day == T0.date())
    assert draws.commitment_of(today.seed) == today.commitment
    report = draws.audit_day(db, "game", T0.date())
    assert report.ok and report.draws == 12 and report.seed_revealed
    victim = db.query(RewardDraw).order_by(RewardDraw.id).first()
    other = "big" if victim.picked != "big" else "listed"
    db.execute(update(RewardDraw).where(RewardDraw.id == victim.id).values(picked=other))
    db.commit()
    report = draws.audit_day(db, f"{BRAND}/game", T0.date())
    assert [m.draw_id for m in report.mismatches] == [victim.id]


def test_the_pick_follows_the_weights():
    # 1000 evenly spaced values (rounded up, so each lies inside its thousandth of [0, 1)).
    values = [f"{-(-i * (1 << 64) // 1000):016x}" + "0" * 48 for i in range(1000)]
    picks = [draws.pick(v, [["a", 70], ["b", 25], ["c", 5]]) for v in values]
    assert (picks.count("a"), picks.count("b"), picks.count("c")) == (700, 250, 50)
    assert draws.pick(values[0], []) is None


def test_terms_show_odds_stock_and_limits(db):
    doc = ruleset(GAME + "\n  limit: {per_owner: 1, per_day: 500}")
    rewards.sync_ruleset(db, doc, BRAND)
    (t,) = rewards.terms(db, doc, BRAND, T0)
    assert [(p.id, p.odds_percent, p.stock, p.left) for p in t.prizes] == [
        ("big", 25.0, 2, 2), ("listed", 75.0, None, None)]
    assert t.consolation.id == "thanks" and t.per_owner == 1 and t.per_day == 500
    assert t.expires_days == 30 and t.mechanic == "scratch_off"
