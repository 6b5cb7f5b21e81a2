"""Explain a decision: every journey in priority order, each condition, the value read, held or not.

This evaluates the same condition trees the engine runs, in plain Python. It is the marketer's
"why did this tap get that page" and the reference the engine is property-tested against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# One evaluator for the validator (shadowing, ties), the explainer and the tests: the language's.
from app.journeys.language import (
    Condition,
    Group,
    holds,
    journey_when,
    leaf_holds,
    window_conditions,
)


@dataclass(frozen=True)
class ConditionResult:
    text: str  # the condition as the marketer wrote it, e.g. "ownership.days between 14 and 120"
    value: Any  # what the fact held (None when absent)
    held: bool
    depth: int = 0


@dataclass(frozen=True)
class JourneyResult:
    id: str
    priority: int
    matched: bool
    conditions: tuple[ConditionResult, ...]


def describe(cond: Condition) -> str:
    """Return a condition as a short readable phrase."""
    op, v = cond.op, cond.value
    phrases = {
        "eq": f"is {_fmt(v)}",
        "in": f"is one of {', '.join(_fmt(x) for x in v)}" if op == "in" else "",
        "not_in": f"is none of {', '.join(_fmt(x) for x in v)}" if op == "not_in" else "",
        "gte": f">= {_fmt(v)}",
        "gt": f"> {_fmt(v)}",
        "lte": f"<= {_fmt(v)}",
        "lt": f"< {_fmt(v)}",
        "between": f"between {_fmt(v[0])} and {_fmt(v[1])}" if op == "between" else "",
        "exists": "is known" if v else "is not known",
    }
    return f"{cond.path} {phrases.get(op, op)}"


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _flatten(node: Any, fact: Mapping[str, Any], depth: int) -> list[ConditionResult]:
    kind = getattr(node, "kind", None)
    if kind is None:
        value = fact.get(node.path)
        return [ConditionResult(describe(node), value, leaf_holds(node, value), depth)]
    rows = []
    if depth > 0 or kind != "all":
        label = {"all": "all of", "any": "any of", "not": "none of"}[kind]
        rows.append(ConditionResult(label, None, holds(node, fact), depth))
        depth += 1
    for child in node.children:
        rows.extend(_flatten(child, fact, depth))
    return rows


def explain(journeys: Sequence[Any], fact: Mapping[str, Any]) -> list[JourneyResult]:
    """Return, for each journey in the given (priority) order, whether it matched and why."""
    return [
        JourneyResult(
            id=j.id,
            priority=j.priority,
            matched=holds(journey_when(j), fact),
            conditions=(*_window(j, fact), *_flatten(j.when, fact, 0)),
        )
        for j in journeys
    ]


def _window(journey: Any, fact: Mapping[str, Any]) -> tuple[ConditionResult, ...]:
    # The dates as the marketer wrote them, with the tap's local day as the value read.
    window = journey.window
    if window is None:
        return ()
    held = holds(Group("all", window_conditions(window)), fact)
    return (ConditionResult(f"runs {window.text}", fact.get("tap.date"), held),)


def first_match(journeys: Sequence[Any], fact: Mapping[str, Any]) -> str | None:
    """Return the id of the first journey (in the given order) whose conditions hold, or None."""
    return next((j.id for j in journeys if holds(journey_when(j), fact)), None)
