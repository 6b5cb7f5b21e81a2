"""Rewards carried by scheduled messages: the grant a message's private link opens.

The messages domain asks (signal ``message_reward_requested``, see ``listeners``) just before it
sends a message whose schedule names a reward. The grant is made like a tap's (holdout, limits,
budget, stock, in ``grants.grant``) but keyed on the message, so a copy re-sent after a crash gets
the same grant and link, never a second one.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from app.journeys.language import RulesetDoc
from app.rewards.grants import GrantView, grant
from app.rewards.limits import RewardUnavailable

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
