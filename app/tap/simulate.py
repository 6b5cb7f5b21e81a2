"""A tap that does not happen: the fact, decision and page a genuine tap of a real item would get
at a chosen moment, by a chosen person, without writing anything.

For ``journeys simulate --item`` (reached through ``app.extensions["aftertap.simulate_tap"]``,
as the rules layer cannot import this one) and the journey preview (``app.admin.views``). Every
path is derived from what had happened by that moment: the ownership that was current then (its
days, ordinal, the owner's taps and month streak as recorded by earlier taps, whether the owner
had a confirmed address and agreed to emails), the warranty, the service history, the last
genuine tap, the owner's points from the ledger and their review, and whether each reward would
be refused (``app.rewards.dryrun``).

Who taps:

* ``owner``: whoever owned the item at that moment (an error if nobody did);
* ``stranger``: a browser with no owner cookie;
* ``new-owner``: someone who has just become the owner (the next one after whoever owned it
  then, or the first), on day 0, at their first tap as owner; nobody yet, so no points and no
  reward limit of theirs used. (A first buyer's very first tap is a stranger's: the item is
  unclaimed until a ``claim_ownership`` journey makes it theirs.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.aftersales.events import service_history
from app.catalog.holdings import Holding
from app.catalog.models import Owner, Ownership
from app.core.clock import utc
from app.journeys.facts import tap_fact
from app.ownership import lifecycle as ownership
from app.rewards.actions import missing
from app.rewards.dryrun import Refusal, balance_at, preview_grant, refusal, reviewed_by
from app.rewards.grants import GrantView
from app.rules.service import Decision, Ruleset
from app.rules.tools import simulated_outcome
from app.verify.models import Tag, TapEvent
from app.verify.service import GENUINE, TapOutcome

OWNER, STRANGER, NEW_OWNER = "owner", "stranger", "new-owner"
VIEWERS = (OWNER, STRANGER, NEW_OWNER)
# The owner a new-owner tap stands for: nobody yet, so no owner's limit or ledger line is theirs.
_NOBODY_YET = 0


class SimulationRefused(ValueError):
    """The tap asked for cannot be simulated (nobody owned the item then, an unknown viewer)."""


@dataclass(frozen=True)
class Simulation:
    """What the tap would have known: its outcome, the fact (defaults not filled in, not yet in
    the ruleset's time zone), the ownership as the person tapping sees it, and who that is."""

    outcome: TapOutcome
    fact: dict[str, Any]
    lifecycle: ownership.Lifecycle
    owner_id: int | None
    # Why each reward of the ruleset that would not be given is refused, by reward id.
    refusals: dict[str, Refusal] = field(default_factory=dict)


@dataclass(frozen=True)
class RewardPreview:
    """The reward the decision names, as the tap would show it (``grant``), or why it would be
    refused (``refused``); exactly one of them is set."""

    reward_id: str
    grant: GrantView | None
    refused: Refusal | None


def simulate_tap(
    session: Session, ruleset: Ruleset | None, tag: Tag, at: datetime, viewer: str
) -> Simulation:
    """Return the simulation of a genuine tap of ``tag`` at ``at`` by ``viewer`` (``VIEWERS``).

    Raises:
        SimulationRefused: ``viewer`` is unknown, or is ``owner`` and nobody owned the item then.
    """
    if viewer not in VIEWERS:
        raise SimulationRefused(f"who taps: one of {', '.join(VIEWERS)}, not {viewer!r}")
    at = utc(at)
    outcome = simulated_outcome(tag, at)
    outcome.number = _genuine_taps(session, tag.id, at) + 1
    item = outcome.item
    assert item is not None
    then = _holding_at(session, item.id, at)
    owner_id: int | None = None
    if viewer == OWNER:
        if then is None:
            raise SimulationRefused(
                f"nobody owned {item.serial} at {at:%Y-%m-%d %H:%M} UTC; "
                "simulate a stranger or a new owner, or a later moment")
        owner_id = then.owner_id
        state = ownership.Lifecycle(item, owner_id, _counted(session, then, item.id, at))
    elif viewer == NEW_OWNER:
        owner_id = _NOBODY_YET
        state = ownership.Lifecycle(item, owner_id, Holding(
            id=0, owner_id=owner_id, ordinal=then.ordinal + 1 if then else 1,
            began_by="transfer" if then else "confirmed", started_at=at, owner_taps=1,
            email_opt_in=False, month_streak=1,
        ))
    else:
        state = ownership.Lifecycle(item, None, then)
    fact = tap_fact(outcome)
    fact.update(ownership.lifecycle_fact(state, at))
    services = [s for s in service_history(session, item.id) if utc(s.at) <= at]
    fact["service.count"] = len(services)
    fact.pop("service.days_since_last", None)
    if services:
        fact["service.days_since_last"] = max(0, (at - utc(services[0].at)).days)
    if owner_id:
        fact["owner.points"] = balance_at(session, owner_id, item.product.brand.slug, at)
        fact["owner.has_reviewed"] = reviewed_by(session, owner_id, item.product.id, at)
    refusals: dict[str, Refusal] = {}
    for rid in ruleset.doc.rewards if ruleset is not None else ():
        assert ruleset is not None
        refused = refusal(session, ruleset.doc, ruleset.brand, rid, owner_id, item.id, at)
        fact[f"reward.{rid}.available"] = refused is None
        if refused is not None:
            refusals[rid] = refused
    return Simulation(outcome, fact, state, owner_id, refusals)


def _genuine_taps(session: Session, tag_id: int, at: datetime) -> int:
    return int(session.scalar(select(func.count()).select_from(TapEvent).where(
        TapEvent.tag_id == tag_id, TapEvent.verdict == GENUINE, TapEvent.at < at)) or 0)


def _holding_at(session: Session, item_id: int, at: datetime) -> Holding | None:
    """The ownership current at ``at``, as a tap then read it (``app.catalog.holdings``)."""
    row = session.execute(
        select(Ownership.id, Ownership.owner_id, Ownership.ordinal, Ownership.began_by,
               Ownership.started_at, Ownership.confirmed_at, Owner.email_opt_in,
               Owner.email_verified_at)
        .join(Owner, Ownership.owner_id == Owner.id)
        .where(Ownership.item_id == item_id, Ownership.started_at <= at,
               or_(Ownership.ended_at.is_(None), Ownership.ended_at > at))
        .order_by(Ownership.started_at.desc()).limit(1)
    ).first()
    if row is None:
        return None
    verified = row.email_verified_at is not None and utc(row.email_verified_at) <= at
    return Holding(
        id=row.id, owner_id=row.owner_id, ordinal=row.ordinal, began_by=row.began_by,
        started_at=row.started_at, owner_taps=0,
        # The opt-in has no date of its own: it counts once the address was confirmed.
        email_opt_in=bool(row.email_opt_in) and verified, month_streak=0,
        provisional=row.confirmed_at is None or utc(row.confirmed_at) > at,
    )


def _counted(session: Session, holding: Holding, item_id: int, at: datetime) -> Holding:
    """``holding`` with the owner's taps and month streak this tap would give: the claiming tap
    of a first-tap claim, the later taps of this ownership that were the owner's (their recorded
    facts say so), then this one."""
    recorded = session.execute(
        select(TapEvent.at, TapEvent.facts).where(
            TapEvent.item_id == item_id, TapEvent.verdict == GENUINE,
            TapEvent.at >= holding.started_at, TapEvent.at < at)
    ).all()
    months = {ownership.month_number(at)}
    taps = 1
    if holding.began_by == ownership.FIRST_TAP:  # the claiming tap counted as the owner's
        taps += 1
        months.add(ownership.month_number(holding.started_at))
    for row in recorded:
        if _by_owner(row.facts):
            taps += 1
            months.add(ownership.month_number(row.at))
    streak, month = 0, ownership.month_number(at)
    while month - streak in months:
        streak += 1
    return replace(holding, owner_taps=taps, month_streak=streak, provisional=False)


def _by_owner(facts: str | None) -> bool:
    try:
        return bool(json.loads(facts or "{}").get("owner.is_current"))
    except (ValueError, AttributeError):
        return False


def preview_effects(simulation: Simulation, decision: Decision) -> ownership.TapEffects:
    """Return the effects the decision's actions would have (``ownership.act_on_tap``), without
    carrying them out: a claim of an unclaimed item makes the person tapping its first owner."""
    state, item, at = simulation.lifecycle, simulation.outcome.item, simulation.outcome.at
    effects = ownership.TapEffects(lifecycle=state)
    assert item is not None
    if ("claim_ownership" in decision.actions and state.holding is None
            and item.released is not False):
        effects.claimed = True
        effects.lifecycle = ownership.Lifecycle(item, _NOBODY_YET, Holding(
            id=0, owner_id=_NOBODY_YET, ordinal=1, began_by=ownership.FIRST_TAP,
            started_at=at, owner_taps=1, email_opt_in=False, month_streak=1, provisional=True))
    holding = effects.lifecycle.holding if effects.lifecycle else None
    if ("activate_warranty" in decision.actions and holding is not None
            and item.warranty_started_at is None):
        months = ownership.warranty_months(item.product.attributes)
        if months:
            effects.warranty_ends_at = ownership.add_months(at, months)
            effects.warranty_activated = True
    effects.offers = [a for a in decision.actions
                      if a in ("confirm_ownership", "offer_service", "start_transfer")]
    return effects


def preview_reward(
    session: Session, ruleset: Ruleset, simulation: Simulation, decision: Decision,
    effects: ownership.TapEffects,
) -> RewardPreview | None:
    """Return the decided reward as the tap would show it, or why it would be refused; None when
    the decision names no reward. Reads only: no grant, no exposure, no limit taken."""
    item = simulation.outcome.item
    if not decision.reward or not decision.journey or item is None:
        return None
    state = effects.lifecycle
    # The reward goes to the owner: the one this tap makes, or the person tapping (pipeline).
    owner_id = (state.holding.owner_id if state is not None and state.holding
                and (effects.claimed or state.viewer_is_owner) else simulation.owner_id)
    at = simulation.outcome.at
    refused = refusal(session, ruleset.doc, ruleset.brand, decision.reward, owner_id,
                      item.id, at)
    if refused is not None:
        return RewardPreview(decision.reward, None, refused)
    requires = ruleset.doc.rewards[decision.reward].requires
    still = missing(session, requires, owner_id or None, item.id) if requires else ()
    return RewardPreview(decision.reward, preview_grant(
        ruleset.doc, ruleset.brand, decision.reward, owner_id=owner_id, item_id=item.id,
        journey=decision.journey, at=at, missing=still), None)
