"""Fair draws: commit-reveal seeds, an audit that recomputes every draw, picks by weight."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from app.core.errors import DomainError
from app.rewards import draws, grants
from app.rewards.models import RewardDraw, RewardGrant, RewardSeed
from app.rewards.pools import sync_ruleset
from tests.factories import tagged_item
from tests.rewards.helpers import BRAND, GAME, T0, owner, pending, ruleset


def test_commit_reveal_audit_recomputes_and_catches_tampering(db):
    doc = ruleset(GAME)
    item = tagged_item(db).item_id
    sync_ruleset(db, doc, BRAND)
    published = draws.publish_commitments(db, T0 - timedelta(hours=13))
    db.commit()
    assert {c.day for c in published} == {T0.date() - timedelta(days=1), T0.date()}
    assert all(c.seed is None for c in published)
    me = owner(db)
    for _ in range(12):
        grants.reveal(db, pending(db, doc, me, item).id, me, T0)
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


def _tamper(db, table, where, **values):  # type: ignore[no-untyped-def]
    db.execute(update(table).where(where).values(**values))
    db.commit()


# Each forgery is consistent everywhere but one place, so exactly one check can see it.
FORGERIES = {
    "commitment": "the seed does not match its commitment",
    "message": "message 'draw:999999' is not 'draw:{grant}'",
    "value": "random value differs from HMAC(seed, message)",
    "picked": "value picks 'big', logged 'listed'",
    "outcome": "outcome 'thanks', expected 'big'",
    "lost-outcome": "outcome 'big', expected 'thanks'",
    "grant": "grant holds 'thanks', draw gave 'big'",
}


@pytest.mark.parametrize("forgery", FORGERIES)
def test_the_audit_names_each_tampered_field(db, forgery):
    doc = ruleset(GAME)  # no shop codes: "big" (stock 2) is the only prize in the draw
    item, me = tagged_item(db).item_id, owner(db)
    for _ in range(3):
        grants.reveal(db, pending(db, doc, me, item).id, me, T0)
    db.commit()
    assert draws.audit_day(db, "game", T0.date()).ok
    won, _, lost = db.query(RewardDraw).order_by(RewardDraw.id).all()
    assert (won.picked, won.stock_taken, won.outcome_prize) == ("big", True, "big")
    assert (lost.picked, lost.outcome_prize) == (None, "thanks")
    seed = db.scalar(select(RewardSeed.seed).where(RewardSeed.pool_id == won.pool_id))
    victim = lost if forgery == "lost-outcome" else won

    if forgery == "commitment":
        _tamper(db, RewardSeed, RewardSeed.pool_id == won.pool_id,
                commitment=draws.commitment_of("00" * 32))
    elif forgery == "message":
        _tamper(db, RewardDraw, RewardDraw.id == won.id, message="draw:999999",
                value_hex=draws.draw_value(seed, "draw:999999"))
    elif forgery == "value":
        _tamper(db, RewardDraw, RewardDraw.id == won.id,
                value_hex=draws.draw_value(seed, "draw:999999"))
    elif forgery == "picked":
        _tamper(db, RewardDraw, RewardDraw.id == won.id, picked="listed")
    elif forgery in ("outcome", "lost-outcome"):
        given = "thanks" if forgery == "outcome" else "big"
        _tamper(db, RewardDraw, RewardDraw.id == victim.id, outcome_prize=given)
        _tamper(db, RewardGrant, RewardGrant.id == victim.grant_id, prize_id=given)
    else:
        _tamper(db, RewardGrant, RewardGrant.id == won.grant_id, prize_id="thanks")

    report = draws.audit_day(db, "game", T0.date())
    reason = FORGERIES[forgery].format(grant=won.grant_id)
    assert not report.ok
    if forgery == "commitment":
        assert [(m.draw_id, m.reason) for m in report.mismatches] == [(None, reason)]
    else:
        assert [(m.draw_id, m.grant_id, m.reason) for m in report.mismatches] == [
            (victim.id, victim.grant_id, reason)]


def test_a_seed_stays_hidden_after_its_day_until_it_is_revealed(db):
    # Days pass without `rewards seeds reveal`: the terms page keeps showing commitments only.
    # Publishing a seed nobody revealed would let anyone recompute draws still to be audited.
    sync_ruleset(db, ruleset(GAME), BRAND)
    published = draws.publish_commitments(db, T0 - timedelta(hours=13))
    db.commit()
    later = T0 + timedelta(days=3)

    listed = draws.commitments(db, BRAND, "game", later)

    expected = sorted(((BRAND, "game", c.day, c.commitment) for c in published), reverse=True,
                      key=lambda row: row[2])
    assert [(c.brand, c.reward_id, c.day, c.commitment) for c in listed] == expected
    assert [c.seed for c in listed] == [None, None]
    draws.reveal_seeds(db, later)
    db.commit()
    revealed = draws.commitments(db, BRAND, "game", later)
    assert all(draws.commitment_of(c.seed) == c.commitment for c in revealed)
    report = draws.audit_day(db, f"{BRAND}/game", T0.date())
    assert (report.brand, report.reward_id, report.commitment) == (
        BRAND, "game", next(c.commitment for c in published if c.day == T0.date()))


def test_draws_without_their_days_seed_fail_the_audit(db):
    # A deleted seed row must not let a day's draws pass as unauditable-but-fine.
    doc = ruleset(GAME)
    item, me = tagged_item(db).item_id, owner(db)
    grants.reveal(db, pending(db, doc, me, item).id, me, T0)
    db.commit()
    db.execute(delete(RewardSeed))
    db.commit()

    report = draws.audit_day(db, "game", T0.date())

    assert not report.ok and report.draws == 1
    assert [(m.draw_id, m.reason) for m in report.mismatches] == [
        (None, "draws exist but the day has no seed")]


def test_the_audit_of_a_reward_id_two_brands_share_needs_the_brand(db):
    doc = ruleset(GAME)
    sync_ruleset(db, doc, "other-brand")  # another brand also calls a reward "game"
    item, me = tagged_item(db).item_id, owner(db)
    grants.reveal(db, pending(db, doc, me, item).id, me, T0)
    db.commit()

    with pytest.raises(DomainError, match="Several brands have a reward 'game'"):
        draws.audit_day(db, "game", T0.date())
    ours = draws.audit_day(db, "game", T0.date(), brand=BRAND)
    theirs = draws.audit_day(db, "game", T0.date(), brand="other-brand")
    assert (ours.brand, ours.draws, theirs.brand, theirs.draws) == (BRAND, 1, "other-brand", 0)
