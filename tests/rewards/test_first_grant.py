"""A first tap's grant of instant points: the statements it costs, and what it gives, exactly,
alone and under concurrency."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from app.rewards import grants, ledger
from app.rewards.limits import RewardUnavailable
from app.rewards.pools import sync_ruleset
from tests.factories import statements_sent, tagged_item
from tests.rewards.helpers import BRAND, T0, owner, ruleset, tap_event
from tests.rewards.test_concurrency import in_own_session

WELCOME = "welcome: {points: 100, limit: {per_item: 1}}"
GUARD = "rewards_per_owner: {max: 3, per: 30d}"


def test_a_first_taps_welcome_points_cost_11_statements(db):
    doc = ruleset(WELCOME, GUARD)
    sync_ruleset(db, doc, BRAND)  # as the tap's path has done before it grants
    me = owner(db)
    views = []
    for at in (T0, T0 + timedelta(minutes=1)):
        item = tagged_item(db).item_id
        tap = tap_event(db, item, at)
        view, sent = statements_sent(db, lambda item=item, tap=tap, at=at: grants.grant(
            db, doc, BRAND, "welcome", tap_event_id=tap, owner_id=me, item_id=item,
            journey="all", at=at))
        db.commit()
        # The pool, the exposure, the savepoint around the grant and its budget and two slots
        # (the item's, the owner's guardrail), the outcome, the account, the ledger line.
        assert len(sent) == 11, "\n".join(sent)
        views.append(view)
    # What the grant returned is what it stored.
    assert [grants.get_grant(db, v.token) for v in views] == views
    assert all(v.created and v.outcome == "points" and v.points == 100 for v in views)
    # The first grant opened the account, the second added to it.
    assert [(e.points, e.balance_after, e.cause_id) for e in ledger.ledger(db, me, BRAND)] == [
        (100, 100, str(views[0].id)), (100, 200, str(views[1].id))]
    assert ledger.balance(db, me, BRAND) == 200


def test_a_retry_refused_before_its_grant_still_gets_its_grant(db):
    me, item = owner(db), tagged_item(db).item_id
    tap = tap_event(db, item)
    first = grants.grant(db, ruleset("pts: {points: 10}"), BRAND, "pts", tap_event_id=tap,
                         owner_id=me, item_id=item, journey="all", at=T0)
    db.commit()
    # The same tap again, now that everyone is held out, and without its owner: the grant
    # already given comes back, as it does for any retry.
    held_out = ruleset("pts: {points: 10, holdout: 100%}")
    for who in (me, None):
        again = grants.grant(db, held_out, BRAND, "pts", tap_event_id=tap, owner_id=who,
                             item_id=item, journey="all", at=T0 + timedelta(seconds=1))
        assert again == first and not again.created
    # A new tap is refused as before.
    for who, reason in ((me, "holdout"), (None, "owner_required")):
        try:
            grants.grant(db, held_out, BRAND, "pts", tap_event_id=tap_event(db, item),
                         owner_id=who, item_id=item, journey="all", at=T0)
        except RewardUnavailable as exc:
            assert exc.reason == reason
        else:
            raise AssertionError("granted")
    assert ledger.balance(db, me, BRAND) == 10


def test_an_instant_prize_counts_this_grant_among_the_plays(db):
    doc = ruleset("late:\n  prizes:\n    - {id: big, weight: 1000000, stock: 1, min_plays: 5}\n"
                  "    - {id: small, weight: 1}")
    item = tagged_item(db).item_id
    won = []
    for _ in range(6):
        won.append(grants.grant(db, doc, BRAND, "late", tap_event_id=tap_event(db, item),
                                owner_id=None, item_id=item, journey="all", at=T0).prize_id)
        db.commit()
    assert won == ["small"] * 4 + ["big", "small"]


def _race(app, db, doc, rewards: list[str], me: int, at) -> Counter[str]:  # type: ignore[no-untyped-def]
    """Grant each of ``rewards`` to ``me`` at once, from as many phones (each its own tap and
    transaction); return how many were granted and each refusal's reason."""
    taps = [(tap_event(db, tagged_item(db).item_id), rid) for rid in rewards]
    barrier = threading.Barrier(len(taps))

    def phone(tap: tuple[int, str]) -> str:
        from app.verify.models import TapEvent

        def work(session):  # type: ignore[no-untyped-def]
            item_id = session.get(TapEvent, tap[0]).item_id
            try:
                grants.grant(session, doc, BRAND, tap[1], tap_event_id=tap[0], owner_id=me,
                             item_id=item_id, journey="all", at=at)
                return "granted"
            except RewardUnavailable as exc:
                return exc.reason

        barrier.wait()
        return in_own_session(app, work)

    with ThreadPoolExecutor(len(taps)) as pool:
        return Counter(pool.map(phone, taps))


def _points_rewards(db, count: int, points: int, *guard: str):  # type: ignore[no-untyped-def]
    """``count`` rewards of ``points`` each (and the ruleset's ``guard``), synced; return their
    ids, the ruleset and a new owner."""
    rewards = [f"r{n}" for n in range(count)]
    doc = ruleset("\n".join(f"{rid}: {{points: {points}}}" for rid in rewards), *guard)
    sync_ruleset(db, doc, BRAND)
    db.commit()
    return rewards, doc, owner(db)


def test_six_rewards_race_for_an_owners_two_a_month(app, db):
    # Six rewards (six pools, whose grants do not queue on one pool's row) race for the
    # owner's guardrail: its slots are where concurrent grants meet.
    rewards, doc, me = _points_rewards(db, 6, 5, "rewards_per_owner: {max: 2, per: 30d}")
    month = T0 + timedelta(days=31)
    # New slots, then both reused once the month has passed, then none left.
    for at in (T0, month, month + timedelta(hours=1)):
        results = _race(app, db, doc, rewards, me, at)
        granted = 0 if at > month else 2
        assert results == Counter({"granted": granted, "rewards_per_owner": 6 - granted})
    db.expire_all()
    assert sorted(e.balance_after for e in ledger.ledger(db, me, BRAND)) == [5, 10, 15, 20]


def test_concurrent_earns_open_one_account_and_add_up(app, db):
    rewards, doc, me = _points_rewards(db, 8, 7)
    assert _race(app, db, doc, rewards, me, T0) == Counter({"granted": 8})
    db.expire_all()
    assert ledger.balance(db, me, BRAND) == 56
    assert sorted(e.balance_after for e in ledger.ledger(db, me, BRAND)) == list(range(7, 57, 7))


def test_a_cap_above_the_one_statement_take_is_held_as_exactly(db):
    # A cap of 20 is beyond the slots the one-statement take lists (limits._FIRST_SLOT_MOST):
    # it takes the read-and-try loop, and holds the same.
    rewards, doc, me = _points_rewards(db, 22, 1, "rewards_per_owner: {max: 20, per: 30d}")

    def grant(rid: str, at: object) -> str:
        item = tagged_item(db).item_id
        try:
            grants.grant(db, doc, BRAND, rid, tap_event_id=tap_event(db, item, at), owner_id=me,
                         item_id=item, journey="all", at=at)
        except RewardUnavailable as exc:
            db.rollback()
            return exc.reason
        db.commit()
        return "granted"

    first = [grant(rid, T0 + timedelta(minutes=n)) for n, rid in enumerate(rewards[:21])]
    assert first == ["granted"] * 20 + ["rewards_per_owner"]
    # A month after the first grant, its slot is free again, and only that one.
    later = T0 + timedelta(days=30, seconds=30)
    assert [grant("r21", later), grant("r20", later)] == ["granted", "rewards_per_owner"]
    assert ledger.balance(db, me, BRAND) == 21
