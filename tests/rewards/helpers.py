"""Rewards test helpers: a small ruleset, owners, taps, grants."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.journeys.language import RulesetDoc
from app.ownership.owners import create_owner
from app.rewards import grants
from app.rewards.limits import RewardUnavailable
from app.rules.service import parse_ruleset
from app.verify.models import TapEvent

BRAND = "maison-aurelia"
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
# A scratch card: a generated-code prize in short stock, a prize from a code list, a consolation.
GAME = """game:
  mechanic: scratch_off
  prizes:
    - {id: big, weight: 1, stock: 2, code: generated}
    - {id: listed, weight: 3, code: {list: shop-codes}}
  consolation: {id: thanks, points: 5}
  expires: 30d"""


def ruleset(rewards: str, guardrails: str = "") -> RulesetDoc:
    """Return a checked ruleset with one catch-all journey and these ``rewards:`` lines."""
    text = f"brand: {BRAND}\n"
    if guardrails:
        text += f"guardrails:\n  {guardrails}\n"
    text += "journeys:\n  - {id: all, priority: 0, when: {}, experience: care}\nrewards:\n"
    text += "".join(f"  {line}\n" for line in rewards.strip().splitlines())
    return parse_ruleset(text, "test.yaml").doc


def owner(session: Session, at: datetime = T0) -> int:
    new = create_owner(session, at)
    session.commit()
    return new.id


def tap_event(session: Session, item_id: int, at: datetime = T0) -> int:
    tap_id = session.connection().execute(
        insert(TapEvent.__table__).returning(TapEvent.id),
        {"at": at, "verdict": "genuine", "item_id": item_id},
    ).scalar_one()
    session.commit()
    return tap_id


def give(
    session: Session, doc: RulesetDoc, reward_id: str, owner_id: int | None, item_id: int,
    at: datetime = T0,
) -> grants.GrantView:
    """Grant ``reward_id`` for a new tap of ``item_id`` and commit; return the grant."""
    view = grants.grant(session, doc, BRAND, reward_id,
                        tap_event_id=tap_event(session, item_id, at), owner_id=owner_id,
                        item_id=item_id, journey="all", at=at)
    session.commit()
    return view


def refused(
    session: Session, doc: RulesetDoc, reward_id: str, owner_id: int | None, item_id: int,
    at: datetime = T0,
) -> str:
    """Return the reason a grant of ``reward_id`` is refused (failing when it is given)."""
    with pytest.raises(RewardUnavailable) as err:
        give(session, doc, reward_id, owner_id, item_id, at)
    session.commit()
    return err.value.reason


def pending(
    session: Session, doc: RulesetDoc, owner_id: int | None, item_id: int, at: datetime = T0
) -> grants.GrantView:
    """Grant the ``game`` reward (see GAME) for a new tap; return the pending grant."""
    return give(session, doc, "game", owner_id, item_id, at)
