"""One tap, end to end, across the domains: verify it, build its fact (tap, item, ownership,
rewards), let the journeys decide, record it, carry out the decision's actions, grant its reward.

The composition lives here, not in the view, so the view only deals with HTTP (cookies, sessions,
the page) and each domain keeps to its own package. Pure: takes a session, settings and input;
the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.catalog.models import Owner
from app.journeys.service import tap_fact
from app.ownership import service as ownership
from app.rewards.service import GrantView
from app.rewards.tapflow import grant_for_tap, reward_facts
from app.verify.keys import KeyVersion
from app.verify.service import GENUINE, ProcessedTap, TapInput, TapOutcome, process_tap


@dataclass
class Engagement:
    """What a tap led to: the processed tap (verdict, decision, event, ownership effects) and
    the reward granted for it, if any."""

    processed: ProcessedTap
    grant: GrantView | None

    @property
    def effects(self) -> ownership.TapEffects | None:
        return self.processed.effects


def engage(
    session: Session,
    settings: Mapping[str, Any],
    keyring: Mapping[str, KeyVersion],
    rules: Any,
    person: Owner | None,
    tap: TapInput,
) -> Engagement:
    """Process ``tap`` by ``person`` (the owner this browser belongs to, or None); the caller
    commits.

    ``rules`` is the app's ``app.rules.Rules`` (decide, and the live ruleset of each brand).
    """
    person_id = person.id if person is not None else None
    # What build_fact learns and act grants, kept for the steps after them.
    lifecycles: dict[str, ownership.Lifecycle] = {}
    grants: dict[str, GrantView | None] = {}

    def build_fact(outcome: TapOutcome) -> dict[str, Any]:
        fact = tap_fact(outcome)
        if outcome.verdict == GENUINE and outcome.item is not None:
            # The owner's tap count includes this tap, so it advances before the decision.
            state = lifecycles["state"] = ownership.lifecycle(
                session, outcome.item, person_id, count_tap=True, at=outcome.at
            )
            fact.update(ownership.lifecycle_fact(state, outcome.at))
            ruleset = rules.ruleset_for(outcome.item.product.brand.slug)
            if ruleset is not None:
                fact.update(reward_facts(session, ruleset, person_id, outcome.item, outcome.at))
        return fact

    def act(outcome: TapOutcome, decision: Any, event_id: int | None) -> ownership.TapEffects:
        effects = ownership.act_on_tap(
            session, outcome, decision.actions, lifecycles.get("state"), person
        )
        if (decision.reward and decision.journey and outcome.verdict == GENUINE
                and outcome.item is not None and event_id is not None):
            ruleset = rules.ruleset_for(outcome.item.product.brand.slug)
            state = effects.lifecycle
            # Rewards go to the owner: the one this tap just registered, or the person tapping.
            owner_id = (state.holding.owner_id if state is not None and state.holding
                        and (effects.claimed or state.viewer_is_owner) else person_id)
            if ruleset is not None:
                grants["grant"] = grant_for_tap(
                    session, ruleset, decision.reward, tap_event_id=event_id,
                    owner_id=owner_id, item_id=outcome.item.id, journey=decision.journey,
                    at=outcome.at,
                )
        return effects

    processed = process_tap(session, settings, keyring, rules.decide, build_fact, tap, act)
    return Engagement(processed, grants.get("grant"))
