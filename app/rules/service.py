"""Rulesets: a brand's YAML journeys, checked, compiled for durable_rules, and decided.

``app.journeys.language`` parses and validates the marketer's file into a ``RulesetDoc`` whose
conditions are trees. This module compiles those trees for the engine and answers, for a fact,
which journey decides it — and, with ``explain``, why.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import zoneinfo
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.journeys.facts import AT_KEY, OWNED_SINCE_KEY, local_facts
from app.journeys.language import (
    ACTIONS,
    Condition,
    JourneyDoc,
    Problem,
    RulesetDoc,
    RulesetInvalid,
    journey_when,
    parse_ruleset_text,
)
from app.rules import engine
from app.rules.compiler import ANCHOR, compile_tree, to_event
from app.rules.explain import JourneyResult, explain, first_match


class RulesetError(ValueError):
    """A ruleset file is not valid; ``problems`` are its ``FILE:LINE:COLUMN: message`` lines."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


log = logging.getLogger(__name__)

# durable_rules walks the conditions a fact satisfies on a fixed-size stack (about a hundred
# entries); a ruleset where hundreds of journeys' range conditions hold at once overflows it
# (error 303). Compiling journeys into engine rulesets of at most CHUNK each keeps every walk
# short; a fact then visits chunks in priority order until one decides.
CHUNK = 64

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


def template_names(kind: str, templates_dir: Path = TEMPLATES_DIR) -> set[str]:
    """Return the template names under ``templates/<kind>`` ("experiences" or "messages")."""
    return {p.stem for p in (templates_dir / kind).glob("*.html") if not p.stem.startswith("_")}


@dataclass(frozen=True)
class Ruleset:
    doc: RulesetDoc
    version: str  # recorded with every decision: brand and a digest of the compiled rules
    # Engine rulesets of at most CHUNK journeys each, highest priorities first.
    chunks: tuple[str, ...] = ()
    # The index: for a fact whose ``index_path`` has a value some journeys pin, the chunks of
    # only the journeys that could match it (see compile_ruleset); other facts use ``chunks``.
    index_path: str | None = None
    indexed: Mapping[tuple[str, Any], tuple[str, ...]] = field(default_factory=dict)

    @property
    def brand(self) -> str:
        return self.doc.brand

    @property
    def title(self) -> str:
        return self.doc.title

    @property
    def source(self) -> str:
        return self.doc.source

    @property
    def journeys(self) -> tuple[JourneyDoc, ...]:
        return self.doc.journeys

    def journey(self, journey_id: str) -> JourneyDoc:
        return next(j for j in self.doc.journeys if j.id == journey_id)


@dataclass(frozen=True)
class Decision:
    journey: str | None
    experience: str
    ruleset_version: str | None
    actions: tuple[str, ...] = ()
    reward: str | None = None
    signal: str | None = None
    content: Mapping[str, Any] = field(default_factory=dict)


def parse_ruleset(
    text: str,
    source: str,
    experiences: Collection[str] | None = None,
    messages: Collection[str] | None = None,
    actions: Collection[str] = ACTIONS,
) -> Ruleset:
    """Parse, check and compile one ruleset file's text; return the live-ready ``Ruleset``.

    ``experiences`` / ``messages`` are the template names that exist; None means the ones in
    this repository's ``templates/``.

    Raises:
        RulesetError: with every problem found (``.problems``), or the engine's refusal.
    """
    try:
        doc = parse_ruleset_text(
            text,
            source,
            experiences=template_names("experiences") if experiences is None else experiences,
            messages=template_names("messages") if messages is None else messages,
            actions=actions,
        )
    except RulesetInvalid as exc:
        raise RulesetError(str(exc), exc.problems) from exc
    return compile_ruleset(doc)


def compile_ruleset(doc: RulesetDoc) -> Ruleset:
    """Compile a checked ruleset for the engine.

    Raises:
        RulesetError: the engine refused it.
    """
    # durable_rules fires the lowest "pri" first: rank 0 is the highest-priority journey.
    compiled = [(j.id, {"all": [{"m": compile_tree(journey_when(j))}], "pri": rank})
                for rank, j in enumerate(doc.journeys)]
    prefix = "".join(ch if ch.isalnum() else "_" for ch in doc.brand)
    digest = hashlib.sha256(
        json.dumps(compiled, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()[:16]

    def chunked(rules: list[tuple[str, Any]]) -> tuple[str, ...]:
        return tuple(
            engine.register(prefix, dict(rules[i : i + CHUNK]), anchor=ANCHOR)
            for i in range(0, len(rules), CHUNK)
        )

    # Most journeys pin one path to a few values (product.category: serum). A fact can only
    # meet the journeys that pin its value or do not pin that path at all, so each value gets
    # its own chunks of just those journeys, in the same priority order: the same answer,
    # without testing journeys that cannot match.
    index_path, pins = _choose_index(doc.journeys)
    try:
        chunks = chunked([c for c in compiled if c[0] not in pins])
        indexed = {
            key: chunked([c for c in compiled if c[0] not in pins or key in pins[c[0]]])
            for key in {k for keys in pins.values() for k in keys}
        }
    except engine.RulesEngineError as exc:
        raise RulesetError(f"{doc.source}: {exc}") from exc
    return Ruleset(doc=doc, version=f"{prefix}__{digest}", chunks=chunks,
                   index_path=index_path, indexed=indexed)


def _index_key(value: Any) -> tuple[str, Any]:
    # The engine compares JSON values: true is not 1, but 1 is 1.0.
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", float(value))
    return ("text", value)


def _choose_index(
    journeys: Sequence[JourneyDoc],
) -> tuple[str | None, dict[str, set[tuple[str, Any]]]]:
    """Return the path most journeys pin (top-level ``eq``/``in``) and, per pinning journey, the
    values it allows; (None, {}) when no path is pinned by at least half the journeys."""
    pins: dict[str, dict[str, set[tuple[str, Any]]]] = {}
    for journey in journeys:
        for cond in journey.when.children:
            if not isinstance(cond, Condition) or cond.op not in ("eq", "in"):
                continue
            values = {_index_key(v) for v in (cond.value if cond.op == "in" else (cond.value,))}
            by_journey = pins.setdefault(cond.path, {})
            by_journey[journey.id] = by_journey.get(journey.id, values) & values
    # Worth it only for a path pinned by at least half the journeys, to more than one value.
    candidates = [
        (len(by_journey), len(set().union(*by_journey.values())), path)
        for path, by_journey in pins.items()
    ]
    candidates = [c for c in candidates if c[0] * 2 >= len(journeys) and c[1] >= 2]
    if not candidates or len(journeys) <= CHUNK // 2:
        return None, {}
    path = max(candidates)[2]
    return path, pins[path]


def localise(fact: Mapping[str, Any], timezone: str) -> Mapping[str, Any]:
    """Return ``fact`` with its calendar paths (``tap.date``, ``tap.month``, ``tap.weekday``,
    ``tap.local_hour``, ``ownership.anniversary_days``) in ``timezone``.

    The fact carries the tap's UTC moment under ``_at`` and the ownership's start under
    ``_owned_since``; without ``_at`` the fact is returned as is.
    """
    at = fact.get(AT_KEY)
    if at is None:
        return fact
    return {**fact, **local_facts(at, _zone(timezone), fact.get(OWNED_SINCE_KEY))}


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def decide(ruleset: Ruleset, fact: Mapping[str, Any]) -> Decision | None:
    """Return the decision of the highest-priority journey whose conditions hold, or None.

    Raises:
        engine.RulesEngineError: the engine failed.
    """
    event = to_event(fact)
    chunks = ruleset.chunks
    if ruleset.index_path is not None:
        value = fact.get(ruleset.index_path)
        if value is not None:
            chunks = ruleset.indexed.get(_index_key(value), chunks)
    try:
        # Chunks in priority order: the first journey to fire in one is the highest that holds.
        fired = None
        for chunk in chunks:
            fired = engine.evaluate(chunk, event)
            if fired is not None:
                break
    except engine.EngineStackExceeded:
        # durable_rules walks matching conditions on a fixed-size stack; a fact that satisfies
        # a range condition of very many journeys at once overflows it. The explainer runs the
        # same condition trees (property-tested to agree), so the tap is still decided right.
        log.warning("ruleset %s: engine stack exceeded, decided by the reference evaluator",
                    ruleset.version)
        fired = first_match(ruleset.journeys, fact)
    if fired is None:
        return None
    journey = ruleset.journey(fired)
    return Decision(
        journey=journey.id,
        experience=journey.experience,
        ruleset_version=ruleset.version,
        actions=journey.do,
        reward=journey.reward,
        signal=journey.signal,
        content=journey.content,
    )


def explain_fact(ruleset: Ruleset, fact: Mapping[str, Any]) -> list[JourneyResult]:
    """Return every journey in priority order with each condition, the value read, and whether
    it held."""
    return explain(ruleset.journeys, fact)


def expected_journey(ruleset: Ruleset, fact: Mapping[str, Any]) -> str | None:
    """Return the journey the explainer picks (the reference the engine is tested against)."""
    return first_match(ruleset.journeys, fact)
