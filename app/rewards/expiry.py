"""Points expiry: points a brand's ruleset granted expire by that brand's ``points_expire_after``.

Points belong to the owner, so one balance holds points of several brands (and behaviour points
from no brand). Which points are left is decided first in, first out: replaying the owner's
ledger, each spend (and each reversal of an earn beyond that earn) uses the oldest points left,
and each ``expire`` entry uses the points that had expired when it was written. What is left of
an earn older than its brand's policy, and not yet spent, reversed or expired, expires now, in one
``expire`` entry per owner. A second run at the same moment finds nothing more to expire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.core.clock import utc
from app.core.db import insert_ignore
from app.rewards.ledger import EARN, EXPIRE
from app.rewards.ledger import expire_points as post_expiry
from app.rewards.models import LoyaltyAccount, LoyaltyEntry


@dataclass
class _Lot:
    """Points one positive entry added, and how many of them are left."""

    entry_id: int
    brand: str | None
    at: datetime
    left: int


def _expired(lot: _Lot, policies: Mapping[str, timedelta], at: datetime) -> bool:
    policy = policies.get(lot.brand) if lot.brand is not None else None
    return policy is not None and lot.at + policy <= at


def _use(lots: list[_Lot], points: int) -> None:
    """Take ``points`` from the oldest lots with points left."""
    for lot in lots:
        if points <= 0:
            return
        taken = min(lot.left, points)
        lot.left -= taken
        points -= taken


def expirable(session: Session, owner_id: int, policies: Mapping[str, timedelta],
              at: datetime) -> int:
    """Return how many of the owner's points have expired by ``at`` and are still held."""
    rows = session.connection().execute(
        select(LoyaltyEntry.id, LoyaltyEntry.kind, LoyaltyEntry.points, LoyaltyEntry.at,
               LoyaltyEntry.brand, LoyaltyEntry.reverses_id)
        .where(LoyaltyEntry.owner_id == owner_id).order_by(LoyaltyEntry.id)).all()
    lots: list[_Lot] = []
    for row in rows:
        if row.points > 0:
            # A reversed spend or expiry gives points back with no brand: they never expire.
            lots.append(_Lot(row.id, row.brand if row.kind == EARN else None, utc(row.at),
                             row.points))
            continue
        owed = -row.points
        if row.kind == EXPIRE:
            # An expiry took the points that had expired when it ran (the same rule as now).
            gone = [lot for lot in lots if _expired(lot, policies, utc(row.at))]
            before = sum(lot.left for lot in gone)
            _use(gone, owed)
            owed -= before - sum(lot.left for lot in gone)
        elif row.reverses_id is not None:
            # Reversing an earn takes back that earn's own points first.
            own = [lot for lot in lots if lot.entry_id == row.reverses_id]
            before = sum(lot.left for lot in own)
            _use(own, owed)
            owed -= before - sum(lot.left for lot in own)
        _use(lots, owed)
    return sum(lot.left for lot in lots if _expired(lot, policies, at))


def expire_points(session: Session, policies: Mapping[str, timedelta], now: datetime) -> int:
    """Expire, first in first out, the points each brand's policy says have expired at ``now``.

    ``policies``: each brand's ``points_expire_after``; a brand not in it expires nothing, nor do
    points from no brand. Writes one ``expire`` entry per owner with points to expire, in the
    caller's transaction (the caller commits). Running it again at ``now`` changes nothing.

    Returns:
        The number of points expired.
    """
    now = utc(now)
    if not policies:
        return 0
    old_earns = or_(*(
        (LoyaltyEntry.brand == brand) & (LoyaltyEntry.at <= now - after)
        for brand, after in sorted(policies.items())))
    owners = session.connection().execute(
        select(LoyaltyEntry.owner_id).where(LoyaltyEntry.kind == EARN, old_earns)
        .distinct().order_by(LoyaltyEntry.owner_id)).scalars().all()
    total = 0
    for owner_id in owners:
        insert_ignore(session, LoyaltyAccount.__table__,
                      {"owner_id": owner_id, "balance": 0, "updated_at": now})
        # Hold the account while replaying: a spend committed meanwhile would change the answer.
        session.connection().execute(
            select(LoyaltyAccount.owner_id).where(LoyaltyAccount.owner_id == owner_id)
            .with_for_update())
        points = expirable(session, owner_id, policies, now)
        if points <= 0:
            continue
        entry = post_expiry(session, owner_id, points, now, cause_type="admin",
                            cause_id=f"points-expiry:{now.date().isoformat()}")
        total += -entry.points if entry is not None else 0
    return total
