"""Rewards carried by scheduled messages: the grant a message's private link opens.

The messages domain asks (signal ``message_reward_requested``, see ``listeners``) just before it
sends a message whose schedule names a reward. The grant is made like a tap's (holdout, limits,
budget, stock, in ``grants.grant``) but keyed on the message, so a copy re-sent after a crash gets
the same grant and link, never a second one.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.journeys.language import RulesetDoc
from app.rewards import draws
from app.rewards.grants import GrantView, grant
from app.rewards.limits import RewardUnavailable
from app.rewards.models import RewardDayCount, RewardGrant, RewardPool, RewardSlot

log = logging.getLogger(__name__)


def reveal_path(view: GrantView) -> str:
    """Return the path of a grant's reveal page (the private link, without the site's base)."""
    return f"/rewards/{view.token}"


def grant_for_message(
    session: Session, ruleset_doc: RulesetDoc, brand: str, reward_id: str, *, owner_id: int,
    item_id: int, message_key: str, schedule_id: str, at: datetime,
) -> GrantView | None:
    """Grant ``reward_id`` to ``owner_id`` for message ``message_key``, once; return the grant,
    or None when it cannot be given now (the message then goes without it).

    Raises:
        NotFound: the ruleset has no such reward.
    """
    try:
        return grant(session, ruleset_doc, brand, reward_id, tap_event_id=None,
                     owner_id=owner_id, item_id=item_id, journey=schedule_id, at=at,
                     message_key=message_key)
    except RewardUnavailable as exc:
        # Expected (a cap, the holdout, no stock): logged for the brand's numbers, not an error.
        log.info("message reward not given", extra={"reward": reward_id, "reason": exc.reason})
        return None


def withdraw_for_message(session: Session, message_key: str) -> bool:
    """Take back the unrevealed grants of message ``message_key``, which never reached its owner
    (refused for good, out of retries, or stopped before sending): free the limits they took
    (budget, day count, per-owner and per-item slots) and delete them, so a cap or a budget is
    not spent on an email nobody got. Return True when one was taken back.

    A revealed grant stays (its outcome is fixed and may be in use); so does an instant one,
    settled when granted. Runs in the caller's transaction.
    """
    conn = session.connection()
    rows = conn.execute(
        select(RewardGrant.id, RewardGrant.pool_id, RewardGrant.created_at)
        .where(RewardGrant.message_key == message_key, RewardGrant.revealed_at.is_(None))
        .with_for_update()).all()
    for row in rows:
        conn.execute(delete(RewardSlot).where(RewardSlot.grant_id == row.id))
        conn.execute(update(RewardDayCount)
                     .where(RewardDayCount.pool_id == row.pool_id,
                            RewardDayCount.day == draws.utc_day(row.created_at),
                            RewardDayCount.count > 0)
                     .values(count=RewardDayCount.count - 1))
        conn.execute(update(RewardPool)
                     .where(RewardPool.id == row.pool_id, RewardPool.given > 0)
                     .values(given=RewardPool.given - 1))
        # Only a pending grant is deleted: a reveal racing this one has set revealed_at.
        conn.execute(delete(RewardGrant).where(RewardGrant.id == row.id,
                                               RewardGrant.revealed_at.is_(None)))
    return bool(rows)
