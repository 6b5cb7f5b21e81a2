"""Rewards test helpers: a small ruleset, owners, taps."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.journeys.language import RulesetDoc
from app.ownership.service import create_owner
from app.rules.service import parse_ruleset
from app.verify.models import TapEvent

BRAND = "maison-aurelia"
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


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
