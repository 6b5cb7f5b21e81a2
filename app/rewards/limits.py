"""Limits: holdouts and exposure, whether a reward can be given now, and taking its limits.

Every limit is held by the database:

- per_owner / per_item / the ruleset's ``rewards_per_owner``: numbered slots per scope, taken by
  an INSERT (primary key) or, once ``per`` days have passed since their last use, by a conditional
  UPDATE: N slots used at least ``per`` days apart give exactly "at most N in any ``per`` days";
- per_day and budget: counters advanced by ``UPDATE ... WHERE count < max``;
- stock is taken at the reveal (``app.rewards.grants``); here it is only checked.

``availability`` is a read for the tap's facts; ``take_limits`` re-checks every limit atomically
when a grant is made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import RowMapping, or_, select, update
from sqlalchemy.orm import Session

from app.core.clock import utc
from app.core.db import insert_ignore
from app.core.errors import N_, Conflict
from app.journeys.language import RewardDoc, RulesetDoc
from app.rewards import draws
from app.rewards.codes import LIST, free_codes
from app.rewards.models import (
    RewardDayCount,
    RewardExposure,
    RewardPool,
    RewardPrize,
    RewardSlot,
)
from app.rewards.pools import find_reward, pool_id_for

TREATMENT, HOLDOUT = "treatment", "holdout"


class RewardUnavailable(Conflict):
    """The reward cannot be given to this tap; ``reason`` says which limit said no."""

    code = "reward_unavailable"

    def __init__(self, reason: str, message: str | None = None) -> None:
        # The reason is an identifier (``holdout``): kept on the error, never in its words.
        super().__init__(message or N_("This reward cannot be given now."))
        self.reason = reason


# --- holdouts and exposure ------------------------------------------------------------------------


def holdout_bucket(brand: str, reward_id: str, owner_id: int | None, item_id: int) -> float:
    """Return the stable position in [0, 100) of this owner (or, anonymous, item) for a reward."""
    subject = f"owner:{owner_id}" if owner_id is not None else f"item:{item_id}"
    digest = hashlib.sha256(f"{brand}/{reward_id}/{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") * 100 / (1 << 64)


def in_holdout(reward: RewardDoc, brand: str, owner_id: int | None, item_id: int) -> bool:
    """Return True when this owner belongs to the reward's ``holdout`` share."""
    return bool(reward.holdout) and holdout_bucket(brand, reward.id, owner_id, item_id) < float(
        reward.holdout
    )


def record_exposure(
    session: Session, ruleset_doc: RulesetDoc, brand: str, reward_id: str, *,
    tap_event_id: int | None, owner_id: int | None, item_id: int, at: datetime,
    message_key: str | None = None,
) -> str:
    """Record that this tap's journey (or scheduled message ``message_key``, with no tap) offered
    the reward (once per tap or message); return the cohort.

    ``grants.grant`` calls it; call it yourself when a journey offering the reward won but no
    grant was attempted. Returns ``"holdout"`` or ``"treatment"``.

    Raises:
        NotFound: the ruleset has no such reward.
    """
    reward = find_reward(ruleset_doc, reward_id)
    cohort = HOLDOUT if in_holdout(reward, brand, owner_id, item_id) else TREATMENT
    insert_ignore(session, RewardExposure.__table__,
                  {"pool_id": pool_id_for(session, brand, reward), "tap_event_id": tap_event_id,
                   "message_key": message_key, "owner_id": owner_id, "item_id": item_id,
                   "cohort": cohort, "at": utc(at)})
    return cohort


# --- availability ---------------------------------------------------------------------------------


def _scopes(brand: str, pool_id: int, owner_id: int | None, item_id: int) -> dict[str, str]:
    scopes = {"item": f"item:{pool_id}:{item_id}"}
    if owner_id is not None:
        scopes["owner"] = f"owner:{pool_id}:{owner_id}"
        scopes["guard"] = f"guard:{brand}:{owner_id}"
    return scopes


def needs_owner(reward: RewardDoc) -> bool:
    """Return whether the reward can only be given to a known owner.

    Points go to an owner's ledger, a per-owner limit needs someone to count, and what a
    reward ``requires`` is something an owner does.
    """
    return bool(
        reward.requires
        or reward.points
        or reward.limit.per_owner is not None
        or any(p.points for p in reward.prizes)
        or (reward.consolation is not None and reward.consolation.points)
    )


def _fresh(used: Iterable[datetime], per: int | None, at: datetime) -> int:
    if per is None:
        return sum(1 for _ in used)
    cutoff = at - timedelta(days=per)
    return sum(1 for u in used if u > cutoff)


def in_stock(prize: RowMapping, free: Mapping[str, int]) -> bool:
    """Return whether a ``reward_prizes`` row has a unit left (and, for a list, a free code)."""
    if prize["stock"] is not None and prize["given"] >= prize["stock"]:
        return False
    return not (prize["code"] == LIST and free.get(prize["code_list"], 0) <= 0)


def availability(
    session: Session, ruleset_doc: RulesetDoc, brand: str, owner_id: int | None, item_id: int,
    at: datetime,
) -> dict[str, bool]:
    """Return, for each reward of the ruleset, whether it can be granted now to this owner/item.

    Checks per_owner, per_item (within ``per``), per_day, budget, the ruleset's
    ``rewards_per_owner``, and that something is left to give (a prize in stock, a consolation, or
    points). Rewards that give points or have ``per_owner`` need a known owner. A read: a grant
    re-checks every limit atomically.

    Not the holdout: a held-out owner is chosen for the journey exactly as an exposed one, and
    ``grants.grant`` records the exposure (cohort ``holdout``) and gives nothing, so the page
    shows the journey without the reward. Were the holdout checked here, a journey testing
    ``reward.<id>.available`` would fall through for held-out owners only, with no exposure:
    the two groups would differ by more than the reward, and lift could not be measured.
    """
    rewards = ruleset_doc.rewards
    if not rewards:
        return {}
    at = utc(at)
    conn = session.connection()
    pools = {row.reward_id: row for row in conn.execute(
        select(RewardPool.id, RewardPool.reward_id, RewardPool.budget, RewardPool.given)
        .where(RewardPool.brand == brand, RewardPool.reward_id.in_(list(rewards)))
    )}
    pool_ids = [p.id for p in pools.values()]
    prizes: dict[int, list[RowMapping]] = {}
    day_counts: dict[int, int] = {}
    if pool_ids:
        for prize in conn.execute(select(RewardPrize).where(
                RewardPrize.pool_id.in_(pool_ids), RewardPrize.retired.is_(False))).mappings():
            prizes.setdefault(prize["pool_id"], []).append(prize)
        day_counts = {row.pool_id: row.grants for row in conn.execute(
            select(RewardDayCount.pool_id, RewardDayCount.count.label("grants")).where(
                RewardDayCount.pool_id.in_(pool_ids), RewardDayCount.day == draws.utc_day(at)))}
    scopes: set[str] = set()
    for pool_id in pool_ids:
        scopes.update(_scopes(brand, pool_id, owner_id, item_id).values())
    scopes.update(_scopes(brand, 0, owner_id, item_id).values())
    used: dict[str, list[datetime]] = {}
    for slot in conn.execute(
            select(RewardSlot.scope, RewardSlot.used_at).where(RewardSlot.scope.in_(scopes))):
        used.setdefault(slot.scope, []).append(slot.used_at)
    free = free_codes(session, brand)

    guard = ruleset_doc.guardrails.rewards_per_owner
    guard_ok = True
    if guard is not None and owner_id is not None:
        guard_ok = _fresh(used.get(f"guard:{brand}:{owner_id}", []), guard.per, at) < guard.max

    out: dict[str, bool] = {}
    for rid, reward in rewards.items():
        pool = pools.get(rid)
        pool_id = pool.id if pool is not None else 0
        sc = _scopes(brand, pool_id, owner_id, item_id)
        limit = reward.limit
        ok = guard_ok or owner_id is None
        if owner_id is None and needs_owner(reward):
            ok = False
        if ok and limit.per_owner is not None and owner_id is not None:
            ok = _fresh(used.get(sc["owner"], []), limit.per, at) < limit.per_owner
        if ok and limit.per_item is not None:
            ok = _fresh(used.get(sc["item"], []), limit.per, at) < limit.per_item
        if ok and limit.per_day is not None:
            ok = day_counts.get(pool_id, 0) < limit.per_day
        if ok and reward.budget is not None and pool is not None:
            ok = pool.given < (pool.budget if pool.budget is not None else reward.budget)
        if ok and not reward.points and reward.prizes:
            rows = prizes.get(pool_id)
            # Not synced yet: nothing was given, so everything is in stock.
            ok = rows is None or any(in_stock(r, free) for r in rows)
        out[rid] = ok
    return out


# --- taking the limits of a grant -----------------------------------------------------------------


def take_limits(
    session: Session, ruleset_doc: RulesetDoc, reward: RewardDoc, brand: str, pool_id: int,
    grant_id: int, owner_id: int | None, item_id: int, at: datetime,
) -> str | None:
    """Take every limit's unit for grant ``grant_id``; return the first refusal's reason, or None.

    Run it in a savepoint: after a refusal, what was taken before it must be rolled back.
    """
    conn = session.connection()
    limit = reward.limit
    scopes = _scopes(brand, pool_id, owner_id, item_id)
    if not reward.points and reward.prizes and not _something_left(session, brand, pool_id):
        return "out_of_stock"
    if conn.execute(
        update(RewardPool)
        .where(RewardPool.id == pool_id,
               or_(RewardPool.budget.is_(None), RewardPool.given < RewardPool.budget))
        .values(given=RewardPool.given + 1)
    ).rowcount != 1:
        return "budget"
    if limit.per_day is not None:
        day = draws.utc_day(at)
        insert_ignore(session, RewardDayCount.__table__,
                      {"pool_id": pool_id, "day": day, "count": 0})
        if conn.execute(
            update(RewardDayCount)
            .where(RewardDayCount.pool_id == pool_id, RewardDayCount.day == day,
                   RewardDayCount.count < limit.per_day)
            .values(count=RewardDayCount.count + 1)
        ).rowcount != 1:
            return "per_day"
    if limit.per_item is not None and not _take_slot(
            session, scopes["item"], limit.per_item, limit.per, at, grant_id):
        return "per_item"
    if owner_id is not None:
        if limit.per_owner is not None and not _take_slot(
                session, scopes["owner"], limit.per_owner, limit.per, at, grant_id):
            return "per_owner"
        guard = ruleset_doc.guardrails.rewards_per_owner
        if guard is not None and not _take_slot(
                session, scopes["guard"], guard.max, guard.per, at, grant_id):
            return "rewards_per_owner"
    return None


def _take_slot(
    session: Session, scope: str, most: int, per: int | None, at: datetime, grant_id: int
) -> bool:
    """Take one of ``most`` slots of ``scope``: a new one, or one last used ``per`` days ago."""
    conn = session.connection()
    used = {row.slot: row.used_at for row in conn.execute(
        select(RewardSlot.slot, RewardSlot.used_at).where(RewardSlot.scope == scope))}
    cutoff = None if per is None else at - timedelta(days=per)
    for slot in range(most):
        if slot not in used:
            if insert_ignore(session, RewardSlot.__table__,
                             {"scope": scope, "slot": slot, "used_at": at,
                              "grant_id": grant_id}) == 1:
                return True
        elif cutoff is None or used[slot] > cutoff:
            continue  # in use within the period: uses only move forward, so it stays taken
        if cutoff is not None and conn.execute(
            update(RewardSlot)
            .where(RewardSlot.scope == scope, RewardSlot.slot == slot,
                   RewardSlot.used_at <= cutoff)
            .values(used_at=at, grant_id=grant_id)
        ).rowcount == 1:
            return True
    return False


def _something_left(session: Session, brand: str, pool_id: int) -> bool:
    rows = session.connection().execute(select(RewardPrize).where(
        RewardPrize.pool_id == pool_id, RewardPrize.retired.is_(False))).mappings().all()
    free = free_codes(session, brand, {r["code_list"] for r in rows if r["code"] == LIST})
    return any(in_stock(r, free) for r in rows)
