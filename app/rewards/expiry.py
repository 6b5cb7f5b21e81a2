"""Points expiry: points a brand's ruleset granted expire by that brand's ``points_expire_after``.

An owner has one account per brand, holding that brand's reward points and the behaviour points
earned with its items (which never expire). Which points of an account are left is decided first
in, first out: replaying the account's ledger, each spend (and each reversal of an earn beyond
that earn) uses the oldest points left, and each ``expire`` entry uses the points that had expired
when it was written. What is left of a reward's earn older than the brand's policy, and not yet
spent, reversed or expired, expires now, in one ``expire`` entry per owner and brand. A second run
at the same moment finds nothing more to expire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.core.clock import utc
from app.rewards.ledger import EARN, EXPIRE, lock_account
from app.rewards.ledger import expire_points as post_expiry
from app.rewards.models import LoyaltyEntry

# The cause of the earns a ruleset granted: only these expire (behaviour points do not).
_REWARD = "reward"


@dataclass
class _Lot:
    """Points one positive entry added, and how many of them are left."""

    entry_id: int
    expires: bool  # a reward's earn; behaviour points and points given back never expire
    at: datetime
    left: int


def _expired(lot: _Lot, policy: timedelta | None, at: datetime) -> bool:
    return lot.expires and policy is not None and lot.at + policy <= at


def _use(lots: list[_Lot], points: int) -> None:
    """Take ``points`` from the oldest lots with points left."""
    for lot in lots:
        if points <= 0:
            return
        taken = min(lot.left, points)
        lot.left -= taken
        points -= taken


def expirable(session: Session, owner_id: int, brand: str, policy: timedelta | None,
              at: datetime) -> int:
    """Return how many of the owner's points with ``brand`` have expired by ``at`` (under the
    brand's ``policy``; None: none ever do) and are still held."""
    rows = session.connection().execute(
        select(LoyaltyEntry.id, LoyaltyEntry.kind, LoyaltyEntry.points, LoyaltyEntry.at,
               LoyaltyEntry.cause_type, LoyaltyEntry.reverses_id)
        .where(LoyaltyEntry.owner_id == owner_id, LoyaltyEntry.brand == brand)
        .order_by(LoyaltyEntry.id)).all()
    lots: list[_Lot] = []
    for row in rows:
        if row.points > 0:
            # A reversed spend or expiry gives points back: they never expire.
            lots.append(_Lot(row.id, row.kind == EARN and row.cause_type == _REWARD,
                             utc(row.at), row.points))
            continue
        owed = -row.points
        if row.kind == EXPIRE:
            # An expiry took the points that had expired when it ran (the same rule as now).
            gone = [lot for lot in lots if _expired(lot, policy, utc(row.at))]
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
    return sum(lot.left for lot in lots if _expired(lot, policy, at))


def expire_points(session: Session, policies: Mapping[str, timedelta], now: datetime) -> int:
    """Expire, first in first out, the points each brand's policy says have expired at ``now``.

    ``policies``: each brand's ``points_expire_after``; a brand not in it expires nothing, nor do
    behaviour points. Writes one ``expire`` entry per owner and brand with points to expire, in
    the caller's transaction (the caller commits). Running it again at ``now`` changes nothing.

    Returns:
        The number of points expired.
    """
    now = utc(now)
    if not policies:
        return 0
    old_earns = or_(*(
        (LoyaltyEntry.brand == brand) & (LoyaltyEntry.at <= now - after)
        for brand, after in sorted(policies.items())))
    accounts = session.connection().execute(
        select(LoyaltyEntry.owner_id, LoyaltyEntry.brand)
        .where(LoyaltyEntry.kind == EARN, LoyaltyEntry.cause_type == _REWARD, old_earns)
        .distinct().order_by(LoyaltyEntry.owner_id, LoyaltyEntry.brand)).all()
    total = 0
    for owner_id, brand in accounts:
        # Hold the account while replaying: a spend committed meanwhile would change the answer.
        lock_account(session, owner_id, brand, now)
        points = expirable(session, owner_id, brand, policies.get(brand), now)
        if points <= 0:
            continue
        entry = post_expiry(session, owner_id, points, now, brand=brand, cause_type="admin",
                            cause_id=f"points-expiry:{now.date().isoformat()}")
        total += -entry.points if entry is not None else 0
    return total
