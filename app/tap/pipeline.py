"""One tap, top to bottom: verify → facts → decide → record → act → grant, then the view presents.

Each step is a function with typed input and output, called once, in order, in the caller's
transaction (the view commits):

1. **verify** (``app.verify``): the SUN message, the tag, the replay defence.
2. **facts** (``app.tap.facts``): the tap and item, the item's ownership as this person sees it,
   and the rewards a journey may test.
3. **decide** (``app.rules``): the brand's journeys choose the experience, actions and reward.
4. **record** (``app.verify``): the tap event, with the ruleset version and journey.
5. **act** (``app.ownership``): claim, warranty, offers the decision names.
6. **grant** (``app.rewards``): the decided reward, once per tap event.

The tap layer is the only place that composes domains; each domain keeps to its own package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.catalog.holdings import Viewer
from app.ownership import lifecycle as ownership
from app.rewards.grants import GrantView
from app.rewards.tapflow import grant_for_tap
from app.rules import Rules
from app.rules.service import Decision, Ruleset
from app.tap.facts import TapFacts, build_facts
from app.verify.keys import KeyVersion
from app.verify.service import GENUINE, TapInput, TapOutcome, record_tap, verify_tap


@dataclass(frozen=True)
class Engagement:
    """What a tap led to, for the view to present."""

    outcome: TapOutcome
    decision: Decision
    # The tap event's id (None when a failed tap was only counted).
    event_id: int | None
    effects: ownership.TapEffects
    grant: GrantView | None
    # The owner this browser belongs to (None: no owner cookie, a forged one, or erased).
    person: Viewer | None


def engage(
    session: Session,
    settings: Mapping[str, Any],
    keyring: Mapping[str, KeyVersion],
    rules: Rules,
    credential: str | None,
    tap: TapInput,
) -> Engagement:
    """Process ``tap`` by the browser whose owner cookie holds ``credential`` (None: no cookie
    or a forged one).

    The caller commits. Never raises for a bad tap: a forged, replayed or unknown tap is a
    verdict, recorded and answered with a page.
    """
    outcome = verify_tap(session, keyring, tap)
    brand = outcome.item.product.brand.slug if outcome.item is not None else None
    ruleset = rules.ruleset_for(brand)
    # A lost first response is retried by tapping again, within the tap-session window.
    takeover_within = timedelta(seconds=int(settings["TAP_SESSION_SECONDS"]))
    facts = build_facts(session, outcome, ruleset, credential, takeover_within)
    person = facts.person
    # The ruleset fetched above decides: a reload in between must not mix two versions.
    decision = rules.decide_with(ruleset, facts.fact)
    event_id = record_tap(
        session,
        outcome,
        failed_detail_per_hour=int(settings["FAILED_TAP_DETAIL_PER_HOUR"]),
        ruleset_version=decision.ruleset_version,
        journey=decision.journey,
        facts=facts.fact,
    )
    effects = ownership.act_on_tap(session, outcome, decision.actions, facts.lifecycle, person)
    grant = _grant(session, outcome, decision, ruleset, facts, effects, event_id)
    return Engagement(outcome, decision, event_id, effects, grant, person)


def _grant(
    session: Session,
    outcome: TapOutcome,
    decision: Decision,
    ruleset: Ruleset | None,
    facts: TapFacts,
    effects: ownership.TapEffects,
    event_id: int | None,
) -> GrantView | None:
    """Grant the decided reward, to the owner: the one this tap just registered, or the person
    tapping. None when the decision names no reward or the tap earns none."""
    if (not decision.reward or not decision.journey or ruleset is None
            or outcome.verdict != GENUINE or outcome.item is None or event_id is None):
        return None
    state = effects.lifecycle
    owner_id = (state.holding.owner_id if state is not None and state.holding
                and (effects.claimed or state.viewer_is_owner) else facts.person_id)
    return grant_for_tap(
        session, ruleset, decision.reward, tap_event_id=event_id, owner_id=owner_id,
        item_id=outcome.item.id, journey=decision.journey, at=outcome.at,
    )
