"""Rulesets: load a brand's YAML journeys, compile them for the engine, decide a fact.

This is the minimal journey language that proves the path from a verified tap to a page:
``journeys`` with ``id``, ``priority``, ``when`` and ``experience``. The full marketer's language
(rewards, schedules, tests, line-numbered validation) grows here without changing ``decide``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from app.rules import engine
from app.rules.compiler import ANCHOR, ConditionError, compile_when, to_event

_JOURNEY_KEYS = {"id", "priority", "when", "experience", "do", "content", "reward", "signal"}
_TOP_KEYS = {
    "brand", "title", "timezone", "locale",
    "journeys", "rewards", "schedules", "guardrails", "tests",
}


class RulesetError(ValueError):
    """A ruleset file is not valid; the message names the file, the journey and the problem."""


@dataclass(frozen=True)
class Journey:
    id: str
    priority: int
    when: Mapping[str, Any]
    experience: str
    do: tuple[str, ...] = ()
    reward: str | None = None
    signal: str | None = None
    content: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ruleset:
    brand: str
    title: str
    source: str
    journeys: tuple[Journey, ...]  # highest priority first
    engine_name: str

    @property
    def version(self) -> str:
        """Return the version recorded with every decision: brand and content digest."""
        return self.engine_name


@dataclass(frozen=True)
class Decision:
    journey: str | None
    experience: str
    ruleset_version: str | None
    actions: tuple[str, ...] = ()
    reward: str | None = None
    signal: str | None = None
    content: Mapping[str, Any] = field(default_factory=dict)


def parse_ruleset(text: str, source: str, experiences: set[str] | None = None) -> Ruleset:
    """Parse, check and compile one ruleset file's text; return the live-ready ``Ruleset``.

    ``experiences`` is the set of template names that exist; when given, each journey's experience
    must be one of them.

    Raises:
        RulesetError: YAML syntax, unknown fields, bad conditions, duplicate ids, missing templates.
    """
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesetError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(doc, Mapping):
        raise RulesetError(f"{source}: a ruleset is a mapping with 'brand' and 'journeys'")
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise RulesetError(f"{source}: unknown section(s): {', '.join(sorted(map(str, unknown)))}")
    brand = doc.get("brand")
    if not isinstance(brand, str) or not brand:
        raise RulesetError(f"{source}: 'brand' must name the brand (its slug)")
    raw_journeys = doc.get("journeys")
    if not isinstance(raw_journeys, list) or not raw_journeys:
        raise RulesetError(f"{source}: 'journeys' must be a non-empty list")

    journeys = [_journey(j, i, source, experiences) for i, j in enumerate(raw_journeys)]
    seen: set[str] = set()
    for j in journeys:
        if j.id in seen:
            raise RulesetError(f"{source}: journey id '{j.id}' is used twice")
        seen.add(j.id)
    # Stable sort: equal priorities keep file order (the language issue makes ties an error).
    journeys.sort(key=lambda j: -j.priority)
    rules = {}
    for rank, j in enumerate(journeys):
        try:
            expression = compile_when(j.when)
        except ConditionError as exc:
            raise RulesetError(f"{source}: journey '{j.id}': {exc}") from exc
        # durable_rules fires the lowest "pri" first, so rank 0 is the highest priority.
        rules[j.id] = {"all": [{"m": expression}], "pri": rank}
    try:
        name = engine.register(_engine_prefix(brand), rules, anchor=ANCHOR)
    except engine.RulesEngineError as exc:
        raise RulesetError(f"{source}: {exc}") from exc
    return Ruleset(
        brand=brand,
        title=str(doc.get("title") or brand),
        source=source,
        journeys=tuple(journeys),
        engine_name=name,
    )


def _engine_prefix(brand: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in brand)


def _journey(raw: Any, index: int, source: str, experiences: set[str] | None) -> Journey:
    where = f"{source}: journey #{index + 1}"
    if not isinstance(raw, Mapping):
        raise RulesetError(f"{where}: must be a mapping with id, priority, when, experience")
    jid = raw.get("id")
    if not isinstance(jid, str) or not jid:
        raise RulesetError(f"{where}: 'id' is required")
    where = f"{source}: journey '{jid}'"
    unknown = set(raw) - _JOURNEY_KEYS
    if unknown:
        raise RulesetError(f"{where}: unknown field(s): {', '.join(sorted(map(str, unknown)))}")
    priority = raw.get("priority")
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise RulesetError(f"{where}: 'priority' must be a whole number")
    experience = raw.get("experience")
    if not isinstance(experience, str) or not experience:
        raise RulesetError(f"{where}: 'experience' is required")
    if experiences is not None and experience not in experiences:
        raise RulesetError(
            f"{where}: experience '{experience}' has no template "
            f"templates/experiences/{experience}.html"
        )
    when = raw.get("when") or {}
    if not isinstance(when, Mapping):
        raise RulesetError(f"{where}: 'when' must be a mapping of conditions")
    do = raw.get("do") or []
    if not isinstance(do, list) or not all(isinstance(a, str) for a in do):
        raise RulesetError(f"{where}: 'do' must be a list of action names")
    return Journey(
        id=jid,
        priority=priority,
        when=when,
        experience=experience,
        do=tuple(do),
        reward=raw.get("reward"),
        signal=raw.get("signal"),
        content=raw.get("content") or {},
    )


def decide(ruleset: Ruleset, fact: Mapping[str, Any]) -> Decision | None:
    """Return the decision of the highest-priority journey whose conditions hold, or None.

    Raises:
        engine.RulesEngineError: the engine failed.
    """
    fired = engine.evaluate(ruleset.engine_name, to_event(fact))
    if fired is None:
        return None
    journey = next(j for j in ruleset.journeys if j.id == fired)
    return Decision(
        journey=journey.id,
        experience=journey.experience,
        ruleset_version=ruleset.version,
        actions=journey.do,
        reward=journey.reward,
        signal=journey.signal,
        content=journey.content,
    )
