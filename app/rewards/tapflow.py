"""Rewards on the tap path: the ``reward.*`` and ``owner.points`` facts, and the journey's grant.

The tap pipeline calls ``reward_facts`` while building the fact (so a journey can fall through
when its reward is unavailable) and ``grant_for_tap`` after the decision, once the tap event
exists (a grant is idempotent per tap event and reward).
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import Session

from app.catalog.views import ItemView
from app.journeys.language import Condition, Group
from app.rewards.grants import GrantView, grant, waiting_grant, with_missing
from app.rewards.limits import RewardUnavailable, availability, needs_owner
from app.rewards.models import LoyaltyAccount, ProductReview
from app.rewards.pools import sync_ruleset

if TYPE_CHECKING:
    from app.rules.service import Ruleset

# Ruleset versions whose pools this process has synced into the database. Syncing is idempotent;
# remembering it keeps an upsert per reward off every tap.
_synced: set[tuple[str, str]] = set()
_synced_lock = threading.Lock()


def ensure_synced(session: Session, ruleset: Ruleset) -> None:
    """Make sure the database has the pools and prizes of the live ``ruleset``."""
    key = (ruleset.brand, ruleset.version)
    if key in _synced:
        return
    sync_ruleset(session, ruleset.doc, ruleset.brand)
    session.flush()
    with _synced_lock:
        # Recorded once the caller commits; a rollback only costs a repeated idempotent sync.
        _synced.add(key)


# The person's own facts in one round trip: their points with the brand (the balance
# ``ledger.balance`` reads) and whether they reviewed the product (``loyalty.has_reviewed``).
_OWNER_FACTS = select(
    select(LoyaltyAccount.balance)
    .where(LoyaltyAccount.owner_id == bindparam("owner_id"),
           LoyaltyAccount.brand == bindparam("brand"))
    .scalar_subquery().label("points"),
    exists().where(ProductReview.owner_id == bindparam("owner_id"),
                   ProductReview.product_id == bindparam("product_id")).label("reviewed"),
)


def reward_facts(
    session: Session, ruleset: Ruleset, owner_id: int | None, item: ItemView, at: datetime
) -> dict[str, object]:
    """Return ``reward.<id>.available`` for every reward of the ruleset, ``owner.points`` (with
    the ruleset's brand) and ``owner.has_reviewed`` (for the person tapping, when known)."""
    facts: dict[str, object] = {}
    if owner_id is not None:
        mine = session.connection().execute(_OWNER_FACTS, {
            "owner_id": owner_id, "brand": ruleset.brand, "product_id": item.product.id,
        }).one()
        facts["owner.points"] = int(mine.points or 0)
        facts["owner.has_reviewed"] = bool(mine.reviewed)
    tested = tested_rewards(ruleset)
    if not tested:
        return facts
    # A reward that gives points or counts per owner needs a known owner: for an anonymous tap
    # (most first taps, every stranger's) the answer is known without touching the database.
    if owner_id is None and all(needs_owner(ruleset.doc.rewards[rid]) for rid in tested):
        facts.update({f"reward.{rid}.available": False for rid in tested})
        return facts
    ensure_synced(session, ruleset)
    # Only the rewards a journey tests: the others' answers could change no decision.
    available = availability(session, ruleset.doc, ruleset.brand, owner_id, item.id, at,
                             only=tested)
    facts.update({f"reward.{rid}.available": ok for rid, ok in available.items()})
    return facts


_tested: dict[tuple[str, str], frozenset[str]] = {}


def _paths(node: Condition | Group, into: set[str]) -> None:
    if isinstance(node, Group):
        for child in node.children:
            _paths(child, into)
    else:
        into.add(node.path)


def tested_rewards(ruleset: Ruleset) -> frozenset[str]:
    """Return the ids of rewards whose ``reward.<id>.available`` some journey tests.

    Only those facts can change a decision, so only those are worth computing on a tap.
    """
    key = (ruleset.brand, ruleset.version)
    found = _tested.get(key)
    if found is None:
        paths: set[str] = set()
        for journey in ruleset.doc.journeys:
            _paths(journey.when, paths)
        found = frozenset(rid for rid in ruleset.doc.rewards
                          if f"reward.{rid}.available" in paths)
        _tested[key] = found
    return found


def grant_for_tap(
    session: Session,
    ruleset: Ruleset,
    reward_id: str,
    *,
    tap_event_id: int,
    owner_id: int | None,
    item_id: int,
    journey: str,
    at: datetime,
) -> GrantView | None:
    """Grant the decided journey's reward for this tap; None when it cannot be given now.

    Limits are re-checked atomically by the grant, so a reward that ran out between the fact and
    the grant is simply not given; the journey's page still shows. A reward that ``requires``
    an action and was already given to this owner for this item (its limit spent) but is still
    waiting for that action comes back instead, so the page keeps showing it, locked, until the
    owner does it and reveals it. The grant's ``missing`` says what is still to do.
    """
    ensure_synced(session, ruleset)
    try:
        given = grant(session, ruleset.doc, ruleset.brand, reward_id, tap_event_id=tap_event_id,
                      owner_id=owner_id, item_id=item_id, journey=journey, at=at)
    except RewardUnavailable:
        if not ruleset.doc.rewards[reward_id].requires:
            return None
        return waiting_grant(session, owner_id, item_id, reward_id)
    return with_missing(session, given)
