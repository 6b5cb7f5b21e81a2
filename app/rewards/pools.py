"""Pools: a ruleset's rewards and prizes, live in the database.

The ruleset declares rewards and prizes; a pool (one per brand and reward) and its prize rows hold
what the YAML cannot: how many were given. Syncing is idempotent and never forgets what was given.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from app.core.db import insert_ignore
from app.core.errors import NotFound
from app.journeys.language import PrizeDoc, RewardDoc, RulesetDoc
from app.rewards.models import RewardPool, RewardPrize


def find_reward(ruleset_doc: RulesetDoc, reward_id: str) -> RewardDoc:
    """Return the ruleset's reward ``reward_id``.

    Raises:
        NotFound: the ruleset has no such reward.
    """
    reward = ruleset_doc.rewards.get(reward_id)
    if reward is None:
        raise NotFound(f"The ruleset has no reward {reward_id!r}.")
    return reward


def sync_ruleset(session: Session, ruleset_doc: RulesetDoc, brand_slug: str) -> dict[str, int]:
    """Create or update the pool and prize rows of every reward of the ruleset (idempotent).

    What was already given is kept: a prize's YAML ``stock`` is its total ever, so lowering it
    below what was given leaves it sold out. Prizes no longer in the ruleset are retired (never
    drawn again, kept for history and audits).

    Returns:
        ``{reward id: pool id}``.
    """
    return {rid: _sync_reward(session, brand_slug, reward)
            for rid, reward in ruleset_doc.rewards.items()}


def _sync_reward(session: Session, brand: str, reward: RewardDoc) -> int:
    """Create or update one reward's pool and prizes (see ``sync_ruleset``); return the pool id."""
    conn = session.connection()
    insert_ignore(session, RewardPool.__table__,
                  {"brand": brand, "reward_id": reward.id, "mechanic": reward.mechanic,
                   "budget": reward.budget, "given": 0, "points": reward.points,
                   "expires_days": reward.expires, "requires": _requires(reward)})
    pool = conn.execute(
        select(RewardPool.id, RewardPool.given)
        .where(RewardPool.brand == brand, RewardPool.reward_id == reward.id)
    ).one()
    budget = None if reward.budget is None else max(reward.budget, pool.given)
    conn.execute(
        update(RewardPool).where(RewardPool.id == pool.id)
        .values(mechanic=reward.mechanic, budget=budget, points=reward.points,
                expires_days=reward.expires, requires=_requires(reward))
    )
    declared = [(p, False) for p in reward.prizes]
    if reward.consolation is not None and reward.consolation.id not in {
        p.id for p in reward.prizes
    }:
        declared.append((reward.consolation, True))
    for position, (prize, consolation) in enumerate(declared):
        _sync_prize(session, pool.id, prize, consolation, position)
    conn.execute(
        update(RewardPrize)
        .where(RewardPrize.pool_id == pool.id,
               RewardPrize.prize_id.not_in([p.id for p, _ in declared] or [""]))
        .values(retired=True)
    )
    return int(pool.id)


def _requires(reward: RewardDoc) -> str | None:
    """What the pool stores of ``requires``: space-separated names, None for nothing."""
    return " ".join(reward.requires) or None


def _sync_prize(
    session: Session, pool_id: int, prize: PrizeDoc, consolation: bool, position: int
) -> None:
    values: dict[str, object] = {
        "consolation": consolation, "position": position,
        "weight": 0.0 if consolation else float(prize.weight), "code": prize.code,
        "code_list": prize.code_list, "points": prize.points,
        "min_plays": None if consolation else prize.min_plays, "retired": False,
    }
    insert_ignore(session, RewardPrize.__table__,
                  {"pool_id": pool_id, "prize_id": prize.id, "stock": prize.stock, "given": 0,
                   **values})
    stock: ColumnElement[int] | None = None
    if prize.stock is not None:
        # Never below what was given: the CHECK given <= stock must keep holding.
        pair = (RewardPrize.given, prize.stock)
        sqlite_db = session.connection().dialect.name == "sqlite"
        stock = func.max(*pair) if sqlite_db else func.greatest(*pair)
    session.connection().execute(
        update(RewardPrize)
        .where(RewardPrize.pool_id == pool_id, RewardPrize.prize_id == prize.id)
        .values(stock=stock, **values)
    )


def pool_id_for(session: Session, brand: str, reward: RewardDoc) -> int:
    """Return the id of the brand's pool of ``reward``, syncing the reward when it has none."""
    pool_id = session.connection().execute(
        select(RewardPool.id).where(RewardPool.brand == brand, RewardPool.reward_id == reward.id)
    ).scalar()
    return pool_id if pool_id is not None else _sync_reward(session, brand, reward)
