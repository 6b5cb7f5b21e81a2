"""A reward's holdout through the real tap: held-out owners get the journey exactly as exposed
ones, without the reward, and their exposure is recorded (issue 14: without it, no lift)."""

from __future__ import annotations

from sqlalchemy import select

from app.rewards.models import RewardExposure, RewardPool
from app.verify.models import TapEvent
from tests.factories import age_ownership, tagged_item, tap
from tests.messages.helpers import REPO, publish_demo

JSON = {"Accept": "application/json"}


def _with_holdout(db) -> None:  # type: ignore[no-untyped-def]
    """Publish the demo ruleset with half the owners held out of the serum refill card, whose
    journey tests ``reward.refill-scratch.available``."""
    text = (REPO / "rulesets" / "maison-aurelia.yaml").read_text()
    anchor = "    limit: {per_owner: 1, per: 60d}\n    expires: 14d\n"
    assert text.count(anchor) == 1, "the demo's refill card changed: update this test"
    publish_demo(db, text.replace(anchor, anchor + "    holdout: 50%\n"))


def _refill_tap(app, db, keyring) -> dict:  # type: ignore[no-untyped-def]
    """Claim a new serum, own it for 80 days (refill time) and tap it again; return the JSON."""
    tag = tagged_item(db, category="serum")
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    age_ownership(db, tag, 80)
    return tap(phone, db, keyring, tag, as_json=True).get_json()


def _exposures(db) -> list[str]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return list(db.scalars(
        select(RewardExposure.cohort)
        .join(RewardPool, RewardPool.id == RewardExposure.pool_id)
        .join(TapEvent, TapEvent.id == RewardExposure.tap_event_id)
        .where(RewardPool.reward_id == "refill-scratch").order_by(RewardExposure.id)))


def test_held_out_owners_get_the_journey_without_the_reward(app, db, keyring):
    _with_holdout(db)
    # The app polls for new versions every few seconds: serve the published one from now on.
    app.extensions["aftertap.rules"].registry.refresh()
    seen: dict[str, int] = {}
    for _ in range(30):  # bounded: a 50% holdout gives both groups well before 30 owners
        body = _refill_tap(app, db, keyring)
        # Held out or not, every owner is in the refill journey: the holdout must not change
        # which journey is chosen, or the groups would differ by more than the reward.
        assert body["experience"]["journey"] == "serum-refill"
        held = body["reward"] is None
        if not held:
            assert body["reward"]["reward"] == "refill-scratch"
        seen["holdout" if held else "treatment"] = seen.get("holdout" if held else "treatment",
                                                           0) + 1
        if len(seen) == 2:
            break
    assert set(seen) == {"holdout", "treatment"}, seen
    # One exposure per refill tap, in the owner's group: lift compares these two groups.
    exposures = _exposures(db)
    assert sorted(exposures) == sorted(
        cohort for cohort, count in seen.items() for _ in range(count))
