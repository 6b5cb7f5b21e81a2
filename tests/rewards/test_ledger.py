"""The loyalty ledger: append-only, balance never negative, reversals once."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from app.core.errors import Conflict, DomainError
from app.rewards import ledger
from app.rewards.models import LoyaltyAccount
from tests.rewards.helpers import T0, owner


def test_earn_spend_and_the_running_balance(db):
    me = owner(db)
    ledger.post_entry(db, me, "earn", 100, "tap", 1, T0, brand="maison-aurelia")
    entry = ledger.post_entry(db, me, "spend", 30, "admin", "till-4", T0, brand="maison-aurelia")
    db.commit()
    assert entry.points == -30 and entry.balance_after == 70
    assert ledger.balance(db, me, "maison-aurelia") == 70
    assert [(e.kind, e.points, e.cause_type, e.cause_id) for e in ledger.ledger(db, me)] == [
        ("earn", 100, "tap", "1"), ("spend", -30, "admin", "till-4")]


def test_a_spend_above_the_balance_is_refused_and_writes_nothing(db):
    me = owner(db)
    ledger.post_entry(db, me, "earn", 10, "tap", 1, T0, brand="maison-aurelia")
    with pytest.raises(ledger.InsufficientPoints):
        ledger.post_entry(db, me, "spend", 11, "admin", "x", T0, brand="maison-aurelia")
    db.commit()
    assert ledger.balance(db, me, "maison-aurelia") == 10 and len(ledger.ledger(db, me)) == 1


def test_the_database_itself_refuses_a_negative_balance(db):
    me = owner(db)
    ledger.post_entry(db, me, "earn", 5, "tap", 1, T0, brand="maison-aurelia")
    db.commit()
    with pytest.raises(Exception, match=r"(?i)check|constraint"):
        db.execute(update(LoyaltyAccount).where(LoyaltyAccount.owner_id == me).values(balance=-1))
    db.rollback()


def test_reverse_once_and_not_below_zero(db):
    me = owner(db)
    earn = ledger.post_entry(db, me, "earn", 50, "reward", 7, T0, brand="maison-aurelia")
    rev = ledger.reverse_entry(db, earn.id, T0, cause_id="mistake")
    db.commit()
    assert rev.kind == "reverse" and rev.points == -50 and rev.reverses_id == earn.id
    assert ledger.balance(db, me, "maison-aurelia") == 0
    with pytest.raises(Conflict, match="already reversed"):
        ledger.reverse_entry(db, earn.id, T0)
    with pytest.raises(Conflict, match="cannot be reversed"):
        ledger.reverse_entry(db, rev.id, T0)
    spent = ledger.post_entry(db, me, "earn", 20, "tap", 2, T0, brand="maison-aurelia")
    ledger.post_entry(db, me, "spend", 15, "admin", "x", T0, brand="maison-aurelia")
    with pytest.raises(ledger.InsufficientPoints):
        ledger.reverse_entry(db, spent.id, T0)
    db.commit()
    assert ledger.balance(db, me, "maison-aurelia") == 5


def test_expiry_never_takes_more_than_the_balance(db):
    me = owner(db)
    ledger.post_entry(db, me, "earn", 40, "tap", 1, T0, brand="maison-aurelia")
    entry = ledger.expire_points(db, me, 100, T0, brand="maison-aurelia")
    db.commit()
    assert entry is not None and entry.points == -40
    assert ledger.balance(db, me, "maison-aurelia") == 0
    assert ledger.expire_points(db, me, 10, T0, brand="maison-aurelia") is None


def test_bad_input_is_refused(db):
    me = owner(db)
    for kind, points, cause in (("gift", 1, "tap"), ("earn", 0, "tap"), ("earn", 1, "whim"),
                                ("reverse", 1, "tap")):
        with pytest.raises(DomainError):
            ledger.post_entry(db, me, kind, points, cause, 1, T0, brand="maison-aurelia")
