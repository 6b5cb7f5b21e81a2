"""The tap's reward reads in one statement: exactly what the per-table reads they replaced
returned, whatever the pools, prizes, code lists, slots and counts hold, in one round trip."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import RowMapping, bindparam, delete, exists, insert, select
from sqlalchemy.orm import Session

from app.catalog.views import ItemView, item_view
from app.core.clock import utc
from app.journeys.language import RulesetDoc
from app.rewards import draws, tapflow
from app.rewards.codes import LIST, free_codes
from app.rewards.limits import RewardState, availability, in_stock, needs_owner, read_state
from app.rewards.models import (
    LoyaltyAccount,
    ProductReview,
    RewardCode,
    RewardDayCount,
    RewardGrant,
    RewardPool,
    RewardPrize,
    RewardSlot,
)
from app.rewards.pools import sync_ruleset
from app.rewards.tapflow import ensure_synced, reward_facts
from app.rules.service import Ruleset, parse_ruleset
from tests.factories import statements_sent, tagged_item
from tests.rewards.helpers import BRAND, T0, owner

OTHER = "other-brand"
# Every kind of limit and stock check: points per owner in a rolling window, a prize in stock
# with an item limit and a budget, two code lists with a daily limit, limits for ever, a game
# whose consolation gives points (it needs an owner), and a prize with no limit at all.
REWARDS = {
    "pts": "{points: 5, limit: {per_owner: 2, per: 30d}}",
    "stocked": "{prizes: [{id: p, stock: 2, code: generated}], limit: {per_item: 1, per: 7d},"
               " budget: 3}",
    "listed": "{prizes: [{id: a, code: {list: a}}, {id: b, code: {list: b}}],"
              " limit: {per_day: 2}}",
    "forever": "{prizes: [{id: f}], limit: {per_owner: 1, per_item: 2}}",
    "game": "{mechanic: scratch_off, prizes: [{id: big, weight: 1, stock: 1}],"
            " consolation: {id: thanks, points: 5}}",
    "open": "{prizes: [{id: o}]}",
}
# The rewards some journey tests (the tap reads only those); "forever" and "open" are not.
TESTED = ("pts", "stocked", "listed", "game")
IDS = tuple(REWARDS)


def _ruleset(guard: bool, tested: Iterable[str] = TESTED, version: str = "") -> Ruleset:
    text = f"brand: {BRAND}\n"
    if guard:
        text += "guardrails:\n  rewards_per_owner: {max: 2, per: 30d}\n"
    text += "journeys:\n"
    for n, rid in enumerate(tested):
        text += (f"  - {{id: j-{rid}, priority: {n + 1}, when: {{reward.{rid}.available: true}},"
                 f" experience: care, reward: {rid}}}\n")
    text += "  - {id: all, priority: 0, when: {}, experience: care}\nrewards:\n"
    text += "".join(f"  {rid}: {body}\n" for rid, body in REWARDS.items())
    doc = parse_ruleset(text, "test.yaml").doc
    return Ruleset(doc=doc, version=version or f"reads-{guard}-{'-'.join(tested)}")


# --- the reads the one statement replaced, kept here as the reference ----------------------------

_P, _Z, _D, _SL = (RewardPool.__table__, RewardPrize.__table__, RewardDayCount.__table__,
                   RewardSlot.__table__)
_OLD_POOLS = select(_P.c.id, _P.c.reward_id, _P.c.budget, _P.c.given).where(
    _P.c.brand == bindparam("b_brand"), _P.c.reward_id.in_(bindparam("b_rewards", expanding=True)))
_OLD_PRIZES = select(_Z.c.pool_id, _Z.c.stock, _Z.c.given, _Z.c.code, _Z.c.code_list).where(
    _Z.c.pool_id.in_(bindparam("b_pools", expanding=True)), _Z.c.retired.is_(False))
_OLD_DAY_COUNTS = select(_D.c.pool_id, _D.c.count.label("grants")).where(
    _D.c.pool_id.in_(bindparam("b_pools", expanding=True)), _D.c.day == bindparam("b_day"))
_OLD_SLOTS_IN = select(_SL.c.scope, _SL.c.used_at).where(
    _SL.c.scope.in_(bindparam("b_scopes", expanding=True)))
_OLD_OWNER_FACTS = select(
    select(LoyaltyAccount.balance)
    .where(LoyaltyAccount.owner_id == bindparam("owner_id"),
           LoyaltyAccount.brand == bindparam("brand"))
    .scalar_subquery().label("points"),
    exists().where(ProductReview.owner_id == bindparam("owner_id"),
                   ProductReview.product_id == bindparam("product_id")).label("reviewed"),
)


def _old_scopes(brand: str, pool_id: int, owner_id: int | None, item_id: int) -> dict[str, str]:
    scopes = {"item": f"item:{pool_id}:{item_id}"}
    if owner_id is not None:
        scopes["owner"] = f"owner:{pool_id}:{owner_id}"
        scopes["guard"] = f"guard:{brand}:{owner_id}"
    return scopes


def _old_fresh(used: Iterable[datetime], per: int | None, at: datetime) -> int:
    if per is None:
        return sum(1 for _ in used)
    cutoff = at - timedelta(days=per)
    return sum(1 for u in used if u > cutoff)


def _old_availability(
    session: Session, ruleset_doc: RulesetDoc, brand: str, owner_id: int | None, item_id: int,
    at: datetime, only: Collection[str] | None = None,
) -> dict[str, bool]:
    """``app.rewards.limits.availability`` as it was: four reads, and the code lists'."""
    rewards = ruleset_doc.rewards if only is None else {
        rid: ruleset_doc.rewards[rid] for rid in only if rid in ruleset_doc.rewards}
    if not rewards:
        return {}
    at = utc(at)
    conn = session.connection()
    pools = {row.reward_id: row for row in conn.execute(
        _OLD_POOLS, {"b_brand": brand, "b_rewards": list(rewards)})}
    pool_ids = [p.id for p in pools.values()]
    prizes: dict[int, list[RowMapping]] = {}
    day_counts: dict[int, int] = {}
    if pool_ids and any(not r.points and r.prizes for r in rewards.values()):
        for prize in conn.execute(_OLD_PRIZES, {"b_pools": pool_ids}).mappings():
            prizes.setdefault(prize["pool_id"], []).append(prize)
    if pool_ids and any(r.limit.per_day is not None for r in rewards.values()):
        day_counts = {row.pool_id: row.grants for row in conn.execute(
            _OLD_DAY_COUNTS, {"b_pools": pool_ids, "b_day": draws.utc_day(at)})}
    scopes: set[str] = set()
    for pool_id in pool_ids:
        scopes.update(_old_scopes(brand, pool_id, owner_id, item_id).values())
    scopes.update(_old_scopes(brand, 0, owner_id, item_id).values())
    used: dict[str, list[datetime]] = {}
    for slot in conn.execute(_OLD_SLOTS_IN, {"b_scopes": sorted(scopes)}):
        used.setdefault(slot.scope, []).append(slot.used_at)
    lists = {r["code_list"] for rows in prizes.values() for r in rows if r["code"] == LIST}
    free = free_codes(session, brand, lists)

    guard = ruleset_doc.guardrails.rewards_per_owner
    guard_ok = True
    if guard is not None and owner_id is not None:
        guard_ok = _old_fresh(used.get(f"guard:{brand}:{owner_id}", []), guard.per, at) < guard.max

    out: dict[str, bool] = {}
    for rid, reward in rewards.items():
        pool = pools.get(rid)
        pool_id = pool.id if pool is not None else 0
        sc = _old_scopes(brand, pool_id, owner_id, item_id)
        limit = reward.limit
        ok = guard_ok or owner_id is None
        if owner_id is None and needs_owner(reward):
            ok = False
        if ok and limit.per_owner is not None and owner_id is not None:
            ok = _old_fresh(used.get(sc["owner"], []), limit.per, at) < limit.per_owner
        if ok and limit.per_item is not None:
            ok = _old_fresh(used.get(sc["item"], []), limit.per, at) < limit.per_item
        if ok and limit.per_day is not None:
            ok = day_counts.get(pool_id, 0) < limit.per_day
        if ok and reward.budget is not None and pool is not None:
            ok = pool.given < (pool.budget if pool.budget is not None else reward.budget)
        if ok and not reward.points and reward.prizes:
            rows = prizes.get(pool_id)
            ok = rows is None or any(in_stock(r, free) for r in rows)
        out[rid] = ok
    return out


def _old_reward_facts(
    session: Session, ruleset: Ruleset, owner_id: int | None, item: ItemView, at: datetime
) -> dict[str, object]:
    """``app.rewards.tapflow.reward_facts`` as it was: the owner's facts, then availability."""
    facts: dict[str, object] = {}
    if owner_id is not None:
        mine = session.connection().execute(_OLD_OWNER_FACTS, {
            "owner_id": owner_id, "brand": ruleset.brand, "product_id": item.product.id,
        }).one()
        facts["owner.points"] = int(mine.points or 0)
        facts["owner.has_reviewed"] = bool(mine.reviewed)
    # (Imported from the module: pytest would collect a ``test*`` name as a test.)
    tested = tapflow.tested_rewards(ruleset)
    if not tested:
        return facts
    if owner_id is None and all(needs_owner(ruleset.doc.rewards[rid]) for rid in tested):
        facts.update({f"reward.{rid}.available": False for rid in tested})
        return facts
    available = _old_availability(session, ruleset.doc, ruleset.brand, owner_id, item.id, at,
                                  only=tested)
    facts.update({f"reward.{rid}.available": ok for rid, ok in available.items()})
    return facts


def _old_state(
    session: Session, owner_id: int | None, item_id: int, rewards: Collection[str], at: datetime
) -> tuple[Any, ...]:
    """What the old reads read (every table, whatever the rewards), as ``_normal`` puts it."""
    conn = session.connection()
    pools = {row.reward_id: (row.id, row.budget, row.given) for row in conn.execute(
        _OLD_POOLS, {"b_brand": BRAND, "b_rewards": list(rewards)})}
    ids = [p[0] for p in pools.values()]
    prizes = [dict(r) for r in conn.execute(_OLD_PRIZES, {"b_pools": ids}).mappings()]
    days = {r.pool_id: r.grants for r in conn.execute(
        _OLD_DAY_COUNTS, {"b_pools": ids, "b_day": draws.utc_day(at)})}
    scopes = {s for pid in [*ids, 0] for s in _old_scopes(BRAND, pid, owner_id, item_id).values()}
    used: dict[str, list[datetime]] = {}
    for slot in conn.execute(_OLD_SLOTS_IN, {"b_scopes": sorted(scopes)}):
        used.setdefault(slot.scope, []).append(slot.used_at)
    lists = {p["code_list"] for p in prizes if p["code"] == LIST}
    free = {name for name, n in free_codes(session, BRAND, lists).items() if n > 0}
    return _normal(pools, [(p["pool_id"], p) for p in prizes], days, used, free)


def _normal(
    pools: dict[str, tuple[int, int | None, int]], prizes: Iterable[tuple[int, Any]],
    days: dict[int, int], used: dict[str, list[datetime]], free: Collection[str],
) -> tuple[Any, ...]:
    return (pools,
            sorted([(pid, p["stock"], p["given"], p["code"], p["code_list"]) for pid, p in prizes],
                   key=repr),
            days, {scope: sorted(times) for scope, times in used.items()}, set(free))


def _new_state(state: RewardState) -> tuple[Any, ...]:
    return _normal(state.pools, [(pid, p) for pid, rows in state.prizes.items() for p in rows],
                   state.day_counts, state.used,
                   {name for name, n in state.free.items() if n > 0})


# --- what the database holds, drawn -------------------------------------------------------------

MINUTES = 24 * 60
# Times of slots relative to the tap: around the 7- and 30-day windows' edges, and anywhere.
OFFSETS = st.one_of(
    st.sampled_from([0, -1, -7 * MINUTES, -7 * MINUTES + 1, -30 * MINUTES, -30 * MINUTES + 1]),
    st.integers(-40 * MINUTES, 60))
PRIZE = st.fixed_dictionaries({
    "stock": st.none() | st.integers(0, 2), "given": st.integers(0, 3),
    "code": st.sampled_from([None, "generated", LIST]), "code_list": st.sampled_from(["a", "b"]),
    "retired": st.booleans(),
})
POOL = st.fixed_dictionaries({
    "budget": st.none() | st.integers(0, 3), "given": st.integers(0, 3),
    "prizes": st.lists(PRIZE, max_size=3),
    "day": st.none() | st.tuples(st.sampled_from([0, -1]), st.integers(0, 3)),
})
# Whose slot: the tapped item's or owner's (of a reward's pool), the owner's guard, those of
# a reward not synced (pool 0), and others' (another item, owner or brand) that must not count.
SLOT = st.tuples(
    st.sampled_from(["item", "owner", "guard", "item0", "owner0", "other-item", "other-owner",
                     "other-guard"]),
    st.sampled_from(IDS), OFFSETS)
STATE = st.fixed_dictionaries({
    "guard": st.booleans(), "known": st.booleans(),
    "only": st.none() | st.sets(st.sampled_from(IDS)).map(sorted),
    "at": st.integers(0, 2 * MINUTES),
    "pools": st.dictionaries(st.sampled_from(IDS), POOL),
    "slots": st.lists(SLOT, max_size=12),
    "free": st.tuples(st.integers(0, 2), st.integers(0, 2)),
    "points": st.none() | st.integers(0, 100),
    "review": st.sampled_from([None, "this", "other"]),
})


@dataclass
class World:
    me: int
    other_owner: int
    item: Any  # the tapped tag
    other_item: Any
    held_pool: int  # another brand's pool, with the grant that holds list "a"'s given code


def _world(db: Session) -> World:
    tag, other = tagged_item(db), tagged_item(db)
    me, them = owner(db), owner(db)
    conn = db.connection()
    held = conn.execute(insert(_P).returning(_P.c.id), {
        "brand": OTHER, "reward_id": "held", "mechanic": "instant", "given": 1}).scalar_one()
    grant = conn.execute(insert(RewardGrant.__table__).returning(RewardGrant.id), {
        "pool_id": held, "message_key": "m", "item_id": tag.item_id, "journey": "all",
        "token": "t" * 43, "created_at": T0}).scalar_one()
    # List "a" has a code already given: it is not free.
    conn.execute(insert(RewardCode.__table__), {
        "brand": BRAND, "list_name": "a", "code": "GIVEN", "imported_at": T0, "grant_id": grant})
    db.commit()
    return World(me, them, tag, other, held)


def _fill(db: Session, w: World, s: dict[str, Any], at: datetime) -> None:
    """Replace what the reads read with the drawn state ``s``."""
    conn = db.connection()
    conn.execute(delete(_SL))
    conn.execute(delete(_D))
    conn.execute(delete(RewardCode.__table__).where(RewardCode.grant_id.is_(None)))
    conn.execute(delete(_Z))
    conn.execute(delete(_P).where(_P.c.id != w.held_pool))
    conn.execute(delete(LoyaltyAccount.__table__))
    conn.execute(delete(ProductReview.__table__))
    pools: dict[str, int] = {}
    for rid, pool in s["pools"].items():
        budget = pool["budget"]
        pools[rid] = conn.execute(insert(_P).returning(_P.c.id), {
            "brand": BRAND, "reward_id": rid, "mechanic": "instant", "budget": budget,
            "given": pool["given"] if budget is None else min(pool["given"], budget),
        }).scalar_one()
        for n, prize in enumerate(pool["prizes"]):
            stock = prize["stock"]
            conn.execute(insert(_Z), {
                "pool_id": pools[rid], "prize_id": f"p{n}", "weight": 1.0, "stock": stock,
                "given": prize["given"] if stock is None else min(prize["given"], stock),
                "code": prize["code"],
                "code_list": prize["code_list"] if prize["code"] == LIST else None,
                "retired": prize["retired"]})
        if pool["day"] is not None:
            conn.execute(insert(_D), {"pool_id": pools[rid], "count": pool["day"][1],
                                      "day": draws.utc_day(at) + timedelta(days=pool["day"][0])})
    # Another brand's pool of the same reward, with stock, counts and slots of its own.
    decoy = conn.execute(insert(_P).returning(_P.c.id), {
        "brand": OTHER, "reward_id": "stocked", "mechanic": "instant", "given": 0}).scalar_one()
    conn.execute(insert(_Z), {"pool_id": decoy, "prize_id": "d", "weight": 1.0, "given": 0})
    conn.execute(insert(_D), {"pool_id": decoy, "day": draws.utc_day(at), "count": 9})
    scopes = {
        "item": lambda pid: f"item:{pid}:{w.item.item_id}",
        "owner": lambda pid: f"owner:{pid}:{w.me}",
        "guard": lambda pid: f"guard:{BRAND}:{w.me}",
        "item0": lambda pid: f"item:0:{w.item.item_id}",
        "owner0": lambda pid: f"owner:0:{w.me}",
        "other-item": lambda pid: f"item:{pid}:{w.other_item.item_id}",
        "other-owner": lambda pid: f"owner:{pid}:{w.other_owner}",
        "other-guard": lambda pid: f"guard:{OTHER}:{w.me}",
    }
    taken: dict[str, int] = {}
    for whose, rid, minutes in s["slots"]:
        scope = scopes[whose](pools.get(rid, decoy))
        taken[scope] = taken.get(scope, -1) + 1
        conn.execute(insert(_SL), {"scope": scope, "slot": taken[scope],
                                   "used_at": at + timedelta(minutes=minutes)})
    for name, n in zip(("a", "b"), s["free"], strict=True):
        for k in range(n):
            conn.execute(insert(RewardCode.__table__), {
                "brand": BRAND, "list_name": name, "code": f"{name}{k}", "imported_at": T0})
    # Another brand's free code of list "b": never this brand's.
    conn.execute(insert(RewardCode.__table__), {
        "brand": OTHER, "list_name": "b", "code": "theirs", "imported_at": T0})
    if s["points"] is not None:
        conn.execute(insert(LoyaltyAccount.__table__), {
            "owner_id": w.me, "brand": BRAND, "balance": s["points"], "updated_at": T0})
    conn.execute(insert(LoyaltyAccount.__table__), {
        "owner_id": w.me, "brand": OTHER, "balance": 900, "updated_at": T0})
    if s["review"] is not None:
        reviewed = w.item if s["review"] == "this" else w.other_item
        conn.execute(insert(ProductReview.__table__), {
            "owner_id": w.me, "product_id": reviewed.item.product_id, "item_id": reviewed.item_id,
            "rating": 4, "text": "", "created_at": T0})
    db.commit()


def test_one_statement_reads_what_the_per_table_reads_did(db):  # type: ignore[no-untyped-def]
    """Whatever the database holds (pools or none, retired prizes, code lists given or free,
    slots in and out of their windows, today's and yesterday's counts, spent budgets and stock,
    another brand's rows), the one statement reads the same rows as the old per-table reads,
    and availability and the tap's reward facts are the same."""
    w = _world(db)
    rulesets = {guard: _ruleset(guard) for guard in (False, True)}
    for ruleset in rulesets.values():
        ensure_synced(db, ruleset)  # once per process; the drawn pools replace these
    db.commit()
    view = item_view(w.item.item)

    @settings(max_examples=75, deadline=None, suppress_health_check=list(HealthCheck))
    @given(STATE)
    def check(s: dict[str, Any]) -> None:
        at = T0 + timedelta(minutes=s["at"])
        _fill(db, w, s, at)
        ruleset = rulesets[s["guard"]]
        me = w.me if s["known"] else None
        item = w.item.item_id
        asked = IDS if s["only"] is None else s["only"]
        assert _new_state(read_state(db, BRAND, me, item, asked, at)) == _old_state(
            db, me, item, asked, at)
        assert availability(db, ruleset.doc, BRAND, me, item, at, only=s["only"]) == (
            _old_availability(db, ruleset.doc, BRAND, me, item, at, only=s["only"]))
        assert reward_facts(db, ruleset, me, view, at) == _old_reward_facts(
            db, ruleset, me, view, at)
        db.rollback()

    check()


# --- round trips ----------------------------------------------------------------------------------


def test_a_repeat_taps_reward_reads_are_one_statement(db):  # type: ignore[no-untyped-def]
    """The owner's points and review and the tested rewards' pools, prizes, codes, counts and
    slots: one round trip, with the answers the data gives."""
    tag = tagged_item(db)
    me = owner(db)
    ruleset = _ruleset(guard=True, version="one-statement")
    # Synced in this database (the process remembers a sync, whatever the database).
    sync_ruleset(db, ruleset.doc, BRAND)
    ensure_synced(db, ruleset)
    db.commit()
    view = item_view(tag.item)
    facts, sent = statements_sent(db, lambda: reward_facts(db, ruleset, me, view, T0))
    assert len(sent) == 1
    for table in ("loyalty_accounts", "product_reviews", "reward_pools", "reward_prizes",
                  "reward_day_counts", "reward_slots", "reward_codes"):
        assert table in sent[0]
    # Synced, nothing given: the prizes are in stock, but list "a" and "b" have no codes.
    assert facts == {"owner.points": 0, "owner.has_reviewed": False,
                     "reward.pts.available": True, "reward.stocked.available": True,
                     "reward.listed.available": False, "reward.game.available": True}
    # A stranger's tap (no owner): the same one statement, without the owner's facts.
    facts, sent = statements_sent(db, lambda: reward_facts(db, ruleset, None, view, T0))
    assert len(sent) == 1 and "loyalty_accounts" not in sent[0]
    assert facts == {"reward.pts.available": False, "reward.stocked.available": True,
                     "reward.listed.available": False, "reward.game.available": False}


def test_without_a_tested_reward_the_pools_are_not_read(db):  # type: ignore[no-untyped-def]
    """When no journey tests a reward's availability, the tap reads the owner's facts only."""
    tag = tagged_item(db)
    me = owner(db)
    ruleset = _ruleset(guard=False, tested=(), version="nothing-tested")
    view = item_view(tag.item)
    facts, sent = statements_sent(db, lambda: reward_facts(db, ruleset, me, view, T0))
    assert facts == {"owner.points": 0, "owner.has_reviewed": False}
    assert len(sent) == 1 and "reward_" not in sent[0]
    assert statements_sent(db, lambda: reward_facts(db, ruleset, None, view, T0)) == ({}, [])
