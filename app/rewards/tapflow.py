"""Rewards on the tap path: the ``reward.*`` and ``owner.points`` facts, and the journey's grant.

The tap pipeline calls ``reward_facts`` while building the fact (so a journey can fall through
when its reward is unavailable) and ``grant_for_tap`` after the decision, once the tap event
exists (a grant is idempotent per tap event and reward).
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, bindparam, exists, select
from sqlalchemy.orm import Session

from app.catalog.views import ItemView
from app.core.clock import utc
from app.journeys.language import Condition, Group
from app.rewards.grants import GrantView, grant, waiting_grant, with_missing
from app.rewards.limits import (
    RewardUnavailable,
    asked,
    availability,
    availability_params,
    availability_statement,
    decide,
    needs_owner,
    reward_state,
    state_row,
)
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
_POINTS = (select(LoyaltyAccount.balance)
           .where(LoyaltyAccount.owner_id == bindparam("owner_id"),
                  LoyaltyAccount.brand == bindparam("b_brand"))
           .scalar_subquery())
_REVIEWED = exists().where(ProductReview.owner_id == bindparam("owner_id"),
                           ProductReview.product_id == bindparam("product_id"))
_OWNER_FACTS = select(_POINTS.label("points"), _REVIEWED.label("reviewed"))
# The same facts with the availability of the rewards a journey tests: a repeat tap by the owner
# reads all its reward facts in one round trip.
_OWNER_FACTS_AND_AVAILABILITY = availability_statement(
    state_row("owner", points=_POINTS, reviewed=_REVIEWED))


def reward_facts(
    session: Session, ruleset: Ruleset, owner_id: int | None, item: ItemView, at: datetime
) -> dict[str, object]:
    """Return ``reward.<id>.available`` for every reward of the ruleset, ``owner.points`` (with
    the ruleset's brand) and ``owner.has_reviewed`` (for the person tapping, when known).

    At most one statement (after the ruleset's first sync in this process).
    """
    tested = tested_rewards(ruleset)
    # A reward that gives points or counts per owner needs a known owner: for an anonymous tap
    # (most first taps, every stranger's) the answer is known without touching the database.
    if owner_id is None and all(needs_owner(ruleset.doc.rewards[rid]) for rid in tested):
        return {f"reward.{rid}.available": False for rid in tested}
    mine = {"owner_id": owner_id, "b_brand": ruleset.brand, "product_id": item.product.id}
    if not tested:
        # No journey tests a reward: the owner's facts only, the pools are not read.
        return _owner_facts(session.connection().execute(_OWNER_FACTS, mine).one())
    ensure_synced(session, ruleset)
    # Only the rewards a journey tests: the others' answers could change no decision.
    if owner_id is None:
        available = availability(session, ruleset.doc, ruleset.brand, None, item.id, at,
                                 only=tested)
        return {f"reward.{rid}.available": ok for rid, ok in available.items()}
    rewards = asked(ruleset.doc, tested)
    at = utc(at)
    rows = session.connection().execute(_OWNER_FACTS_AND_AVAILABILITY, {
        **mine, **availability_params(ruleset.brand, owner_id, item.id, rewards, at),
    }).all()
    facts = _owner_facts(next(row for row in rows if row.kind == "owner"))
    available = decide(ruleset.doc, ruleset.brand, owner_id, item.id, at, rewards,
                       reward_state(rows))
    facts.update({f"reward.{rid}.available": ok for rid, ok in available.items()})
    return facts


def _owner_facts(row: Row[Any]) -> dict[str, object]:
    return {"owner.points": int(row.points or 0), "owner.has_reviewed": bool(row.reviewed)}


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
