"""Published terms: each reward's odds, stock left, limits, expiry and draw commitments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.clock import now, utc
from app.journeys.language import PrizeDoc, RulesetDoc
from app.rewards import draws
from app.rewards.models import RewardPool, RewardPrize


@dataclass(frozen=True)
class PrizeTerms:
    id: str
    odds_percent: float | None  # of each draw, at full stock; None for the consolation
    stock: int | None  # total; None: unlimited
    left: int | None
    points: int | None
    code: str | None
    min_plays: int | None = None


@dataclass(frozen=True)
class RewardTerms:
    reward_id: str
    mechanic: str
    points: int | None
    prizes: list[PrizeTerms]
    consolation: PrizeTerms | None
    per_owner: int | None
    per_item: int | None
    per_day: int | None
    per_days: int | None
    budget: int | None
    budget_left: int | None
    expires_days: int | None
    holdout_percent: float
    commitments: list[draws.Commitment]


def terms(
    session: Session, ruleset_doc: RulesetDoc, brand: str, at: datetime | None = None
) -> list[RewardTerms]:
    """Return the public terms of every reward: odds, stock left, limits, expiry, commitments."""
    at = utc(at) if at is not None else now()
    conn = session.connection()
    given: dict[tuple[str, str], int] = {
        (row.reward_id, row.prize_id): row.given for row in conn.execute(
            select(RewardPool.reward_id, RewardPrize.prize_id, RewardPrize.given)
            .join(RewardPool, RewardPool.id == RewardPrize.pool_id)
            .where(RewardPool.brand == brand))
    }
    pools_given: dict[str, int] = {row.reward_id: row.given for row in conn.execute(
        select(RewardPool.reward_id, RewardPool.given).where(RewardPool.brand == brand))}
    out: list[RewardTerms] = []
    for rid, reward in ruleset_doc.rewards.items():
        total = sum(p.weight for p in reward.prizes) or 1

        def prize_terms(p: PrizeDoc, odds: float | None, rid: str = rid) -> PrizeTerms:
            left = None if p.stock is None else max(0, p.stock - given.get((rid, p.id), 0))
            return PrizeTerms(p.id, odds, p.stock, left, p.points, p.code, p.min_plays)

        out.append(RewardTerms(
            reward_id=rid, mechanic=reward.mechanic, points=reward.points,
            prizes=[prize_terms(p, round(100 * p.weight / total, 2)) for p in reward.prizes],
            consolation=(prize_terms(reward.consolation, None)
                         if reward.consolation is not None else None),
            per_owner=reward.limit.per_owner, per_item=reward.limit.per_item,
            per_day=reward.limit.per_day, per_days=reward.limit.per, budget=reward.budget,
            budget_left=(None if reward.budget is None
                         else max(0, reward.budget - pools_given.get(rid, 0))),
            expires_days=reward.expires, holdout_percent=float(reward.holdout),
            commitments=draws.commitments(session, brand, rid, at)[:7],
        ))
    return out
