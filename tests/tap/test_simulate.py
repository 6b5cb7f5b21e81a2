"""A simulated tap: every fact from the item's real state at the moment asked about, agreeing
with what a real tap then records, and nothing written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from app.catalog.models import Owner, Ownership
from app.core.clock import now
from app.rewards import ledger
from app.rewards.models import LoyaltyEntry, RewardExposure, RewardGrant, RewardSlot
from app.tap.simulate import SimulationRefused, simulate_tap
from app.verify.models import TapEvent
from tests.factories import tagged_item, tap
from tests.rewards.helpers import give

T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


def _rules(app):  # type: ignore[no-untyped-def]
    return app.extensions["aftertap.rules"].ruleset_for("maison-aurelia")


def _owner(db, email_verified_at=None, opt_in=False):  # type: ignore[no-untyped-def]
    person = Owner(public_id=f"p{db.scalar(select(func.count()).select_from(Owner))}x" * 3,
                   email="o@example.com" if email_verified_at else None,
                   email_verified_at=email_verified_at, email_opt_in=opt_in)
    db.add(person)
    db.flush()
    return person.id


@pytest.fixture
def resold(db):  # type: ignore[no-untyped-def]
    """A serum owned by A from T0 for 100 days (email confirmed on day 60, messages agreed),
    then resold to B; A earned 40 points on day 5 and 60 more on day 20."""
    tag = tagged_item(db, category="serum", serial="SIM-1")
    first = _owner(db, T0 + timedelta(days=60), opt_in=True)
    second = _owner(db)
    db.add_all([
        Ownership(item_id=tag.item_id, owner_id=first, ordinal=1, began_by="confirmed",
                  started_at=T0, ended_at=T0 + timedelta(days=100), ended_by="transfer",
                  confirmed_at=T0),
        Ownership(item_id=tag.item_id, owner_id=second, ordinal=2, began_by="transfer",
                  started_at=T0 + timedelta(days=100), confirmed_at=T0 + timedelta(days=100)),
    ])
    db.commit()
    ledger.post_entry(db, first, ledger.EARN, 40, "tap", 1, T0 + timedelta(days=5),
                      brand="maison-aurelia")
    ledger.post_entry(db, first, ledger.EARN, 60, "tap", 2, T0 + timedelta(days=20),
                      brand="maison-aurelia")
    db.commit()
    return tag, first, second


def test_the_owner_is_whoever_owned_it_then(app, db, resold):
    tag, first, second = resold
    then = simulate_tap(db, _rules(app), tag, T0 + timedelta(days=50), "owner")
    assert then.owner_id == first
    fact = then.fact
    assert (fact["ownership.ordinal"], fact["ownership.days"], fact["owner.is_current"]) \
        == (1, 50, True)
    assert fact["owner.points"] == 100
    assert fact["owner.email_opt_in"] is False  # the address was not confirmed yet
    assert simulate_tap(db, _rules(app), tag, T0 + timedelta(days=70), "owner") \
        .fact["owner.email_opt_in"] is True
    assert simulate_tap(db, _rules(app), tag, T0 + timedelta(days=10), "owner") \
        .fact["owner.points"] == 40

    later = simulate_tap(db, _rules(app), tag, T0 + timedelta(days=150), "owner")
    assert later.owner_id == second
    assert (later.fact["ownership.ordinal"], later.fact["ownership.days"]) == (2, 50)
    assert later.fact["owner.points"] == 0 and later.fact["owner.email_opt_in"] is False


def test_a_stranger_and_a_new_owner(app, db, resold):
    tag, _first, _second = resold
    stranger = simulate_tap(db, _rules(app), tag, T0 + timedelta(days=150), "stranger").fact
    assert stranger["owner.is_current"] is False and stranger["ownership.ordinal"] == 2
    assert stranger["ownership.state"] == "owned"
    new = simulate_tap(db, _rules(app), tag, T0 + timedelta(days=150), "new-owner").fact
    assert (new["ownership.ordinal"], new["ownership.days"], new["ownership.owner_taps"]) \
        == (3, 0, 1)
    assert new["owner.is_current"] is True and new["owner.points"] == 0
    first = simulate_tap(db, _rules(app), tag, T0 - timedelta(days=1), "new-owner").fact
    assert (first["ownership.ordinal"], first["ownership.days"]) == (1, 0)
    # Before the first owner, a stranger's tap finds the item unclaimed.
    before = simulate_tap(db, _rules(app), tag, T0 - timedelta(days=1), "stranger").fact
    assert before["ownership.state"] == "unclaimed" and before["owner.is_current"] is False


def test_simulating_the_owner_when_nobody_owned_it_is_refused(app, db, resold):
    tag, _first, _second = resold
    with pytest.raises(SimulationRefused, match="nobody owned SIM-1 at 2026-01-09 09:00 UTC"):
        simulate_tap(db, _rules(app), tag, T0 - timedelta(days=1), "owner")
    with pytest.raises(SimulationRefused, match="who taps"):
        simulate_tap(db, _rules(app), tag, T0, "visitor")


def test_rewards_are_dry_run_for_that_owner_then(app, db, resold):
    tag, first, _second = resold
    rules = _rules(app)  # refill-scratch: per_owner 1 per 60 days
    give(db, rules.doc, "refill-scratch", first, tag.item_id, T0 + timedelta(days=80))

    def available(days: int) -> bool:
        return simulate_tap(db, rules, tag, T0 + timedelta(days=days), "owner") \
            .fact["reward.refill-scratch.available"]  # type: ignore[no-any-return]

    assert available(79) is True   # before the grant
    assert available(90) is False  # within 60 days of it
    assert available(150) is True  # another owner by then


def test_simulating_writes_nothing(app, db, resold):
    tag, _first, _second = resold

    def rows() -> tuple[int, ...]:
        return tuple(db.scalar(select(func.count()).select_from(m)) for m in
                     (TapEvent, Ownership, RewardGrant, RewardSlot, RewardExposure,
                      LoyaltyEntry))

    before = rows()
    for who in ("owner", "stranger", "new-owner"):
        simulate_tap(db, _rules(app), tag, T0 + timedelta(days=120), who)
    db.rollback()
    assert rows() == before


def test_agrees_with_what_the_next_real_tap_records(app, db, keyring):
    tag = tagged_item(db, category="serum", serial="SIM-2")
    phone = app.test_client()
    tap(phone, db, keyring, tag)  # claims it (a first tap)
    tap(phone, db, keyring, tag)  # the owner again
    db.execute(update(Ownership).where(Ownership.item_id == tag.item_id)
               .values(started_at=now() - timedelta(days=80)))
    db.commit()
    simulated = simulate_tap(db, _rules(app), tag, now(), "owner").fact
    db.rollback()
    tap(phone, db, keyring, tag)
    recorded = json.loads(db.scalar(select(TapEvent.facts).where(TapEvent.item_id == tag.item_id)
                                    .order_by(TapEvent.id.desc()).limit(1)))
    shared = [k for k in recorded if k.split(".")[0] in
              ("ownership", "owner", "warranty", "service", "reward")
              or k in ("tap.number", "tap.days_since_last")]
    assert {"ownership.owner_taps", "ownership.days", "owner.points"} <= set(shared)
    assert {k: simulated.get(k) for k in shared} == {k: recorded[k] for k in shared}
    assert recorded["ownership.owner_taps"] == 3


def test_the_command_refuses_plainly(app, db, resold):
    tagged_item(db, brand="other-brand", serial="OTHER-1")
    runner = app.test_cli_runner()
    nobody = runner.invoke(args=["journeys", "simulate", "maison-aurelia", "--item", "SIM-1",
                                 "--as", "owner", "--at", "2026-01-01T12:00+00:00"])
    assert nobody.exit_code == 1
    assert ("Error: nobody owned SIM-1 at 2026-01-01 12:00 UTC; simulate a stranger or a new "
            "owner, or a later moment") in nobody.output
    other = runner.invoke(args=["journeys", "simulate", "maison-aurelia", "--item", "OTHER-1"])
    assert other.exit_code == 1
    assert ("Error: OTHER-1 is an item of other-brand; this ruleset decides maison-aurelia's "
            "taps") in other.output
    owner = runner.invoke(args=["journeys", "simulate", "maison-aurelia", "--item", "SIM-1",
                                "--as", "owner", "--at", "2026-03-01", "--json"])
    assert owner.exit_code == 0, owner.output
    # Midnight in Paris on 1 March is 49 days and 14 hours after 10 January, 09:00 UTC.
    assert json.loads(owner.output)["fact"]["ownership.days"] == 49


def test_an_ownership_that_ended_is_nobodys_after(app, db, resold):
    tag, _first, _second = resold
    db.execute(update(Ownership).where(Ownership.ordinal == 2,
                                       Ownership.item_id == tag.item_id)
               .values(ended_at=T0 + timedelta(days=120), ended_by="brand"))
    db.commit()
    assert simulate_tap(db, _rules(app), tag, T0 + timedelta(days=110), "owner").fact[
        "ownership.ordinal"] == 2
    with pytest.raises(SimulationRefused, match="nobody owned SIM-1"):
        simulate_tap(db, _rules(app), tag, T0 + timedelta(days=130), "owner")


def test_owner_taps_and_streak_count_the_owners_taps_before_the_moment(app, db, resold):
    tag, _first, _second = resold
    for days, by_owner in ((110, True), (115, False), (120, True)):  # 30 April .. 10 May
        db.add(TapEvent(at=T0 + timedelta(days=days), verdict="genuine", tag_id=tag.id,
                        item_id=tag.item_id,
                        facts=json.dumps({"owner.is_current": by_owner})))
    db.commit()

    def counted(days: int) -> tuple[int, int]:
        fact = simulate_tap(db, _rules(app), tag, T0 + timedelta(days=days), "owner").fact
        return fact["ownership.owner_taps"], fact["ownership.month_streak"]

    assert counted(105) == (1, 1)   # 25 April: this tap only
    assert counted(118) == (2, 2)   # 8 May: 30 April's, then this one
    assert counted(130) == (3, 2)   # 20 May: both, and May again
    assert simulate_tap(db, _rules(app), tag, T0 + timedelta(days=118), "owner") \
        .fact["tap.days_since_last"] == 3
