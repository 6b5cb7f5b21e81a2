"""What rewards holds about an owner, for the owner's export and erasure (``app.core.privacy``).

Exported: the points balance with each brand, the ledger (each line with its brand), the
rewards they were given (and codes they won), the times a journey offered them a reward
(exposures), their product reviews and the actions a reward waited for (``reward_actions``: what
they did, and when).

Erased: the reviews' texts, the owner's own words. Everything else is kept: points, ledger
lines, grants and exposures are amounts, outcomes and moments tied to an owner id that erasure
leaves anonymous, and they are what budgets, stock, limits, draw audits and lift are counted
from. A won code is kept too: it is the prize itself, a bearer voucher the till still honours.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.catalog.models import Product
from app.core import privacy
from app.core.clock import iso
from app.core.db import update_rows
from app.rewards.ledger import balances, ledger
from app.rewards.models import (
    LoyaltyAccount,
    LoyaltyEntry,
    ProductReview,
    RewardAction,
    RewardExposure,
    RewardGrant,
    RewardPool,
)

NAME = "rewards"
# Every rewards table with a foreign key to owners (tests/rewards/test_privacy.py checks it).
TABLES = (
    LoyaltyAccount.__tablename__,
    LoyaltyEntry.__tablename__,
    RewardGrant.__tablename__,
    RewardExposure.__tablename__,
    ProductReview.__tablename__,
    RewardAction.__tablename__,
)
# What an erased review's text becomes (the column is NOT NULL).
ERASED_TEXT = "(erased)"



def export(session: Session, owner_id: int) -> dict[str, Any]:
    """Return the owner's rewards data as JSON-ready sections: ``points`` (brand -> balance),
    ``ledger``, ``rewards``, ``exposures``, ``reviews`` and ``actions``."""
    conn = session.connection()
    grants = conn.execute(
        select(RewardPool.brand, RewardPool.reward_id, RewardGrant.journey,
               RewardGrant.created_at, RewardGrant.revealed_at, RewardGrant.outcome,
               RewardGrant.prize_id, RewardGrant.points, RewardGrant.code,
               RewardGrant.expires_at, RewardGrant.redeemed_at, RewardGrant.redeemed_shop)
        .join(RewardPool, RewardPool.id == RewardGrant.pool_id)
        .where(RewardGrant.owner_id == owner_id)
        .order_by(RewardGrant.id)
    )
    exposures = conn.execute(
        select(RewardPool.brand, RewardPool.reward_id, RewardExposure.cohort, RewardExposure.at)
        .join(RewardPool, RewardPool.id == RewardExposure.pool_id)
        .where(RewardExposure.owner_id == owner_id)
        .order_by(RewardExposure.id)
    )
    reviews = conn.execute(
        select(Product.gtin, Product.name, ProductReview.rating, ProductReview.text,
               ProductReview.created_at)
        .join(Product, Product.id == ProductReview.product_id)
        .where(ProductReview.owner_id == owner_id)
        .order_by(ProductReview.id)
    )
    actions = conn.execute(
        select(RewardAction.action, RewardAction.at)
        .where(RewardAction.owner_id == owner_id).order_by(RewardAction.id)
    )
    return {
        "points": balances(session, owner_id),
        "ledger": [
            {"at": iso(e.at), "brand": e.brand, "kind": e.kind, "points": e.points,
             "balance_after": e.balance_after, "cause": e.cause_type, "cause_id": e.cause_id}
            for e in ledger(session, owner_id)
        ],
        "rewards": [
            {"brand": g.brand, "reward": g.reward_id, "journey": g.journey,
             "created_at": iso(g.created_at), "revealed_at": iso(g.revealed_at),
             "outcome": g.outcome, "prize": g.prize_id, "points": g.points, "code": g.code,
             "expires_at": iso(g.expires_at), "redeemed_at": iso(g.redeemed_at),
             "redeemed_shop": g.redeemed_shop}
            for g in grants
        ],
        "exposures": [
            {"brand": x.brand, "reward": x.reward_id, "cohort": x.cohort, "at": iso(x.at)}
            for x in exposures
        ],
        "reviews": [
            {"gtin": r.gtin, "product": r.name, "rating": r.rating, "text": r.text,
             "at": iso(r.created_at)}
            for r in reviews
        ],
        "actions": [{"action": a.action, "at": iso(a.at)} for a in actions],
    }


def erase(session: Session, owner_id: int, at: datetime) -> None:
    """Replace the texts of the owner's reviews; ratings, points, grants and exposures stay."""
    update_rows(session, update(ProductReview).where(ProductReview.owner_id == owner_id)
                .values(text=ERASED_TEXT))


CONTRIBUTOR = privacy.Contributor(name=NAME, tables=TABLES, export=export, erase=erase)


def register() -> None:
    """Add rewards to the privacy registry (``app.rewards.init_app`` calls it)."""
    privacy.register(CONTRIBUTOR)
