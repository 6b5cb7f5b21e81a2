"""The fact a tap becomes: each contributor adds the paths its package knows.

* ``app.journeys.facts``: the tap, the item and the product (and every path's default);
* ``app.ownership``: the item's ownership, owner, warranty and service, as the person tapping
  sees it (a genuine tap by the owner advances the owner's tap count first);
* ``app.rewards``: ``reward.<id>.available`` for the rewards a journey tests, the owner's points
  and whether they reviewed the product.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.catalog.holdings import Viewer, find_viewer
from app.journeys.facts import tap_fact
from app.ownership import lifecycle as ownership
from app.rewards.tapflow import reward_facts
from app.rules.service import Ruleset
from app.verify.service import GENUINE, TapOutcome


@dataclass(frozen=True)
class TapFacts:
    """The fact to decide on, and what was learned building it that later steps reuse."""

    fact: dict[str, Any]
    # The item's ownership as the person tapping sees it (None unless the tap is genuine).
    lifecycle: ownership.Lifecycle | None
    # The owner this browser belongs to (None: no owner cookie, a forged one, or erased).
    person: Viewer | None

    @property
    def person_id(self) -> int | None:
        return self.person.id if self.person is not None else None


def build_facts(
    session: Session, outcome: TapOutcome, ruleset: Ruleset | None, credential: str | None,
    takeover_within: timedelta | None = None,
) -> TapFacts:
    """Return the fact for ``outcome``, tapped by the browser whose owner cookie holds
    ``credential`` (None: none), and who that owner is (``TapFacts.person``).

    ``takeover_within``: how young another browser's provisional claim must be for this tap to
    see the item as unclaimed and take it over (``app.ownership.lifecycle``).
    """
    fact = tap_fact(outcome)
    if outcome.verdict != GENUINE or outcome.item is None:
        return TapFacts(fact, None, find_viewer(session, credential))
    # The owner's tap count includes this tap, so it advances before the decision.
    state, person = ownership.tap_lifecycle(session, outcome.item, credential, outcome.at,
                                            takeover_within)
    fact.update(ownership.lifecycle_fact(state, outcome.at))
    if ruleset is not None:
        fact.update(reward_facts(session, ruleset, person.id if person else None, outcome.item,
                                 outcome.at))
    return TapFacts(fact, state, person)
