"""What rewards does when another domain acts: loyalty points for real behaviour.

Each listener runs inside the sender's transaction (the sender is its session), so the points and
what earned them commit together. Each earns once per cause (see ``loyalty.earn_for``), so a
signal sent twice for the same cause earns nothing the second time. Connected by
``app.rewards.init_app``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.core import signals
from app.journeys.language import RulesetDoc
from app.rewards.actions import SERVICE_FEEDBACK, record_action
from app.rewards.ledger import Entry
from app.rewards.loyalty import earn_for, earn_for_item_owner, item_brand, ownership_brand
from app.rewards.messageflow import grant_for_message, reveal_path, withdraw_for_message


def on_service_recorded(
    session: Session, *, settings: Mapping[str, Any], item_id: int, event_id: int, at: datetime
) -> Entry | None:
    """Credit the item's current owner (if any) for the service ``event_id``.

    Returns the ledger entry, or None when nothing was due.
    """
    return earn_for_item_owner(session, settings, item_id, "service", event_id, at)


def on_service_feedback_recorded(
    session: Session, *, settings: Mapping[str, Any], owner_id: int, item_id: int,
    feedback_id: int, at: datetime,
) -> bool:
    """Note that ``owner_id`` gave service feedback on ``item_id`` (a reward may require it).

    Returns whether this was the first time (later feedback changes nothing).
    """
    return record_action(session, owner_id, item_id, SERVICE_FEEDBACK, at)


def on_provenance_issued(
    session: Session, *, settings: Mapping[str, Any], owner_id: int, ownership_id: int,
    record_id: str, at: datetime,
) -> Entry | None:
    """Credit ``owner_id`` for a provenance record, once per ownership (not per record).

    Returns the ledger entry, or None when nothing was due.
    """
    return earn_for(session, settings, owner_id, "provenance", ownership_id, at,
                    brand=ownership_brand(session, ownership_id))


def on_item_taken_back(
    session: Session, *, settings: Mapping[str, Any], item_id: int, owner_id: int | None,
    at: datetime,
) -> Entry | None:
    """Credit ``owner_id`` (who gave the item back) for the take-back, once per owner and item.

    Returns the ledger entry, which the sender reports (its points), or None when nothing was due.
    """
    return earn_for(session, settings, owner_id, "take_back", item_id, at,
                    brand=item_brand(session, item_id))


def on_message_undelivered(session: Session, *, brand: str, message_key: str,
                           at: datetime) -> bool:
    """Take back the unrevealed reward a message that never went carried; return True when one
    was taken back."""
    return withdraw_for_message(session, message_key)


def on_message_reward_requested(
    session: Session, *, settings: Mapping[str, Any], ruleset: RulesetDoc, brand: str,
    reward_id: str, owner_id: int, item_id: int, message_key: str, schedule_id: str,
    at: datetime,
) -> str | None:
    """Grant the reward a scheduled message carries, once per message.

    Returns the grant's private path, or None when the reward cannot be given now.
    """
    view = grant_for_message(session, ruleset, brand, reward_id, owner_id=owner_id,
                             item_id=item_id, message_key=message_key, schedule_id=schedule_id,
                             at=at)
    return None if view is None else reveal_path(view)


def connect() -> None:
    """Connect the listeners to their signals (idempotent: blinker keys receivers by function)."""
    signals.service_recorded.connect(on_service_recorded, weak=False)
    signals.service_feedback_recorded.connect(on_service_feedback_recorded, weak=False)
    signals.provenance_issued.connect(on_provenance_issued, weak=False)
    signals.item_taken_back.connect(on_item_taken_back, weak=False)
    signals.message_reward_requested.connect(on_message_reward_requested, weak=False)
    signals.message_undelivered.connect(on_message_undelivered, weak=False)
