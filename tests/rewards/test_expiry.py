"""Points expiry by the granting brand's policy: old points only, first in first out, once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app.rewards import ledger
from app.rewards.expiry import expire_points
from app.rewards.models import LoyaltyEntry
from tests.rewards.helpers import T0, owner

YEAR = timedelta(days=365)
POLICY = {"aurelia": YEAR}


def _adds_up(db, me: int) -> None:  # type: ignore[no-untyped-def]
    # Each account (owner and brand) adds up on its own.
    total = db.scalar(select(func.sum(LoyaltyEntry.points)).where(
        LoyaltyEntry.owner_id == me, LoyaltyEntry.brand == "aurelia"))
    assert ledger.balance(db, me, "aurelia") == total


def _earn(db, me: int, points: int, days: int, brand: str = "aurelia") -> None:  # type: ignore[no-untyped-def]
    ledger.post_entry(db, me, "earn", points, "reward", f"g{days}", T0 + timedelta(days=days),
                      brand=brand)


def test_only_points_older_than_the_policy_expire_once(db):
    me, other = owner(db), owner(db)
    _earn(db, me, 100, 0)
    _earn(db, me, 40, 200)
    _earn(db, other, 70, 300)
    db.commit()
    at = T0 + YEAR + timedelta(days=1)
    assert expire_points(db, POLICY, at) == 100
    db.commit()
    assert ledger.balance(db, me, "aurelia") == 40 and ledger.balance(db, other, "aurelia") == 70
    [expiry] = [e for e in ledger.ledger(db, me) if e.kind == "expire"]
    assert expiry.points == -100 and expiry.at == at
    # Idempotent: the same run again, or a later one before the next points are old, does nothing.
    assert expire_points(db, POLICY, at) == 0
    assert expire_points(db, POLICY, at + timedelta(days=100)) == 0
    db.commit()
    assert len(ledger.ledger(db, me)) == 3
    # The second earn's turn comes a year after it.
    assert expire_points(db, POLICY, T0 + timedelta(days=200) + YEAR) == 40
    db.commit()
    assert ledger.balance(db, me, "aurelia") == 0
    _adds_up(db, me)
    _adds_up(db, other)


def test_spending_uses_the_oldest_points_first(db):
    me = owner(db)
    _earn(db, me, 100, 0)
    ledger.post_entry(db, me, "spend", 30, "admin", "till", T0 + timedelta(days=10),
                      brand="aurelia")
    _earn(db, me, 50, 20)
    ledger.post_entry(db, me, "spend", 80, "admin", "till", T0 + timedelta(days=30),
                      brand="aurelia")
    _earn(db, me, 25, 40)
    db.commit()
    # The second spend takes the first earn's last 70, then 10 of the second earn: nothing of
    # the first is left to expire, 40 of the second are.
    assert expire_points(db, POLICY, T0 + YEAR + timedelta(days=1)) == 0
    assert expire_points(db, POLICY, T0 + timedelta(days=20) + YEAR) == 40
    db.commit()
    assert ledger.balance(db, me, "aurelia") == 25
    assert expire_points(db, POLICY, T0 + timedelta(days=20) + YEAR) == 0
    _adds_up(db, me)


def test_reversing_an_earn_takes_back_its_own_points_first(db):
    me = owner(db)
    _earn(db, me, 100, 0)
    late = ledger.post_entry(db, me, "earn", 50, "reward", "late", T0 + timedelta(days=100),
                             brand="aurelia")
    ledger.reverse_entry(db, late.id, T0 + timedelta(days=101))
    db.commit()
    assert expire_points(db, POLICY, T0 + YEAR) == 100
    db.commit()
    assert ledger.balance(db, me, "aurelia") == 0
    _adds_up(db, me)


def test_a_brand_without_a_policy_and_behaviour_points_never_expire(db):
    me = owner(db)
    _earn(db, me, 10, 0, brand="other-brand")
    # Points for a review, with the brand's account: no ruleset granted them, they stay.
    ledger.post_entry(db, me, "earn", 20, "review", "r1", T0, brand="aurelia")
    _earn(db, me, 30, 0)
    db.commit()
    much_later = T0 + 10 * YEAR
    assert expire_points(db, {}, much_later) == 0
    assert expire_points(db, POLICY, much_later) == 30
    db.commit()
    assert ledger.balance(db, me, "aurelia") == 20
    assert ledger.balance(db, me, "other-brand") == 10
    assert expire_points(db, POLICY, much_later + YEAR) == 0
    _adds_up(db, me)


def test_points_a_ruleset_grants_record_its_brand(db):
    from app.rewards import grants
    from tests.factories import tagged_item
    from tests.rewards.helpers import BRAND, ruleset, tap_event

    doc = ruleset("pts: {points: 100}")
    item, me = tagged_item(db).item_id, owner(db)
    grants.grant(db, doc, BRAND, "pts", tap_event_id=tap_event(db, item), owner_id=me,
                 item_id=item, journey="all", at=T0)
    db.commit()
    assert db.scalars(select(LoyaltyEntry.brand).where(LoyaltyEntry.owner_id == me)).all() == [
        BRAND]
    assert expire_points(db, {BRAND: YEAR}, T0 + YEAR) == 100
