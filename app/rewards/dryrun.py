"""Rewards without giving anything: would a reward be refused at a moment, and why, in words;
an owner's points and review as they stood then. For the journey preview and ``journeys
simulate``; every function only reads.

The checks are those of ``app.rewards.limits.take_limits`` (and ``grants.grant``'s owner and
holdout checks), made as reads, with only what had happened by ``at`` counted: a preview of a
past moment does not see the grants made after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from app.core.clock import utc
from app.journeys.language import RewardDoc, RulesetDoc
from app.rewards import draws
from app.rewards.codes import free_codes
from app.rewards.grants import INSTANT, PENDING, POINTS, GrantView
from app.rewards.limits import in_holdout, in_stock, needs_owner
from app.rewards.models import (
    LoyaltyEntry,
    ProductReview,
    RewardDayCount,
    RewardPool,
    RewardPrize,
    RewardSlot,
)
from app.rewards.pools import find_reward

# The reasons ``take_limits`` and ``grant`` give, plus the two ``grant`` checks before them.
OWNER_REQUIRED, HOLDOUT, OUT_OF_STOCK = "owner_required", "holdout", "out_of_stock"
BUDGET, PER_DAY, PER_ITEM, PER_OWNER = "budget", "per_day", "per_item", "per_owner"
REWARDS_PER_OWNER = "rewards_per_owner"


@dataclass(frozen=True)
class Refusal:
    """Why a reward would not be given: the limit's name and a sentence saying it."""

    reason: str
    words: str


def _times(n: int) -> str:
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"


def _period(per: int | None) -> str:
    if per is None:
        return "ever"
    return "in the last day" if per == 1 else f"in the last {per} days"


def _rate(name: str, most: int, per: int | None) -> str:
    return f"({name}: {most} per {per} days)" if per is not None else f"({name}: {most} in all)"


def _used(session: Session, scope: str, per: int | None, at: datetime) -> int:
    """Slots of ``scope`` in use at ``at``: used by then, and within ``per`` days of it."""
    query = select(func.count()).select_from(RewardSlot).where(
        RewardSlot.scope == scope, RewardSlot.used_at <= at)
    if per is not None:
        query = query.where(RewardSlot.used_at > at - timedelta(days=per))
    return int(session.connection().execute(query).scalar() or 0)


def refusal(
    session: Session, ruleset_doc: RulesetDoc, brand: str, reward_id: str,
    owner_id: int | None, item_id: int, at: datetime,
) -> Refusal | None:
    """Return why ``reward_id`` would be refused to this owner (None: anonymous) and item at
    ``at``, or None when it would be given. Reads only: nothing is taken or recorded.

    Raises:
        NotFound: the ruleset has no such reward.
    """
    reward = find_reward(ruleset_doc, reward_id)
    at = utc(at)
    if owner_id is None and needs_owner(reward):
        return Refusal(OWNER_REQUIRED, "Nobody known is tapping: this reward gives points, "
                       "counts per owner or asks the owner to do something, so only an "
                       "owner's tap can get it.")
    if in_holdout(reward, brand, owner_id, item_id):
        return Refusal(HOLDOUT, f"This {'owner' if owner_id is not None else 'item'} is in the "
                       f"holdout: {reward.holdout:g}% see the journey without the reward, so "
                       f"its effect can be measured (holdout: {reward.holdout:g}%).")
    conn = session.connection()
    pool = conn.execute(select(RewardPool.id, RewardPool.given, RewardPool.budget).where(
        RewardPool.brand == brand, RewardPool.reward_id == reward_id)).first()
    # A pool not synced yet has given nothing: every limit and every prize is untouched.
    pool_id = pool.id if pool is not None else 0
    if pool is not None and not reward.points and reward.prizes and not _stocked(
            session, brand, pool.id):
        return Refusal(OUT_OF_STOCK, "Every prize of this reward is out of stock.")
    budget = pool.budget if pool is not None and pool.budget is not None else reward.budget
    if pool is not None and budget is not None and pool.given >= budget:
        return Refusal(BUDGET, f"This reward's budget is spent: it was given {pool.given} "
                       f"of {budget} times (budget: {budget}).")
    return _rate_refusal(session, ruleset_doc, reward, brand, pool_id, owner_id, item_id, at)


def _stocked(session: Session, brand: str, pool_id: int) -> bool:
    rows = session.connection().execute(select(RewardPrize).where(
        RewardPrize.pool_id == pool_id, RewardPrize.retired.is_(False))).mappings().all()
    return any(in_stock(r, free_codes(session, brand)) for r in rows)


def _rate_refusal(
    session: Session, ruleset_doc: RulesetDoc, reward: RewardDoc, brand: str, pool_id: int,
    owner_id: int | None, item_id: int, at: datetime,
) -> Refusal | None:
    limit = reward.limit
    if limit.per_day is not None and pool_id:
        today = session.connection().execute(select(RewardDayCount.count).where(
            RewardDayCount.pool_id == pool_id,
            RewardDayCount.day == draws.utc_day(at))).scalar() or 0
        if today >= limit.per_day:
            return Refusal(PER_DAY, f"This reward was already given {_times(today)} today, "
                           f"the most for one day (per_day: {limit.per_day}).")
    if limit.per_item is not None and _used(
            session, f"item:{pool_id}:{item_id}", limit.per, at) >= limit.per_item:
        return Refusal(PER_ITEM, f"This item already got this reward "
                       f"{_times(limit.per_item)} {_period(limit.per)} "
                       f"{_rate('per_item', limit.per_item, limit.per)}.")
    if owner_id is None:
        return None
    if limit.per_owner is not None and _used(
            session, f"owner:{pool_id}:{owner_id}", limit.per, at) >= limit.per_owner:
        return Refusal(PER_OWNER, f"The owner already got this reward "
                       f"{_times(limit.per_owner)} {_period(limit.per)} "
                       f"{_rate('per_owner', limit.per_owner, limit.per)}.")
    guard = ruleset_doc.guardrails.rewards_per_owner
    if guard is not None and _used(
            session, f"guard:{brand}:{owner_id}", guard.per, at) >= guard.max:
        return Refusal(REWARDS_PER_OWNER, f"The owner already got {guard.max} "
                       f"{'reward' if guard.max == 1 else 'rewards'} from this brand "
                       f"{_period(guard.per)}, the most the brand allows "
                       f"{_rate('rewards_per_owner', guard.max, guard.per)}.")
    return None


def preview_grant(
    ruleset_doc: RulesetDoc, brand: str, reward_id: str, *, owner_id: int | None, item_id: int,
    journey: str, at: datetime, missing: tuple[str, ...] = (),
) -> GrantView:
    """Return the grant a tap would show for a reward that would be given, made of the ruleset
    alone (id 0, token ``preview``): instant points are shown as given, anything with a prize
    as waiting to be revealed (the draw happens at the reveal). ``missing``: what the owner has
    still to do (``app.rewards.actions.missing``)."""
    reward = find_reward(ruleset_doc, reward_id)
    settled = reward.mechanic == INSTANT and bool(reward.points) and not reward.prizes
    return GrantView(
        id=0, brand=brand, reward_id=reward_id, mechanic=reward.mechanic, journey=journey,
        token="preview",  # noqa: S106 - no grant row: the link it makes leads nowhere
        owner_id=owner_id, item_id=item_id, created_at=utc(at),
        outcome=POINTS if settled else PENDING, prize_id=None,
        points=(reward.points or 0) if settled else 0, code=None, expires_at=None,
        revealed_at=utc(at) if settled else None, redeemed_at=None,
        requires=reward.requires, missing=missing if not settled else (),
    )


def balance_at(session: Session, owner_id: int, brand: str, at: datetime) -> int:
    """Return the owner's points balance with ``brand`` as it stood at ``at`` (0 before any
    ledger line)."""
    value = session.connection().execute(
        select(LoyaltyEntry.balance_after)
        .where(LoyaltyEntry.owner_id == owner_id, LoyaltyEntry.brand == brand,
               LoyaltyEntry.at <= utc(at))
        .order_by(LoyaltyEntry.at.desc(), LoyaltyEntry.id.desc()).limit(1)
    ).scalar()
    return int(value or 0)


def reviewed_by(session: Session, owner_id: int, product_id: int, at: datetime) -> bool:
    """Return whether ``owner_id`` had reviewed ``product_id`` by ``at``."""
    return bool(session.connection().execute(select(exists().where(
        ProductReview.owner_id == owner_id, ProductReview.product_id == product_id,
        ProductReview.created_at <= utc(at)))).scalar())
