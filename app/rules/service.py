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
import math
import zoneinfo
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.journeys.facts import AT_KEY, OWNED_SINCE_KEY, local_facts
from app.journeys.language import (
    ACTIONS,
    Condition,
    Group,
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


# A chunk's guard on one path: (path, values, low, high, any_value). Every journey of the chunk
# needs the path known and, unless ``any_value``, its value among ``values`` (index keys) or a
# number in [low, high]. A fact failing a guard cannot match any journey of the chunk.
Guard = tuple[str, frozenset[tuple[str, Any]], float, float, bool]


@dataclass(frozen=True)
class Chunk:
    name: str  # the engine ruleset
    guards: tuple[Guard, ...] = ()


@dataclass(frozen=True)
class Ruleset:
    doc: RulesetDoc
    version: str  # recorded with every decision: brand and a digest of the compiled rules
    # Engine rulesets of at most CHUNK journeys each, highest priorities first.
    chunks: tuple[Chunk, ...] = ()
    # The index: for a fact whose ``index_path`` has a value some journeys pin, the chunks of
    # only the journeys that could match it (see compile_ruleset); other facts use ``chunks``.
    index_path: str | None = None
    indexed: Mapping[tuple[str, Any], tuple[Chunk, ...]] = field(default_factory=dict)
    # The first journey whose conditions always hold: the decision when no chunk fires. It and
    # the journeys after it (which it shadows) are in no chunk.
    fallback: str | None = None
    # Journeys by id, and the decision each one makes: looking a journey up by scanning the list
    # cost more than the engine at a thousand journeys.
    _by_id: Mapping[str, JourneyDoc] = field(init=False, repr=False, compare=False)
    _decisions: Mapping[str, Decision] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        journeys = {j.id: j for j in self.doc.journeys}
        decisions = {
            j.id: Decision(journey=j.id, experience=j.experience, ruleset_version=self.version,
                           actions=j.do, reward=j.reward, signal=j.signal, content=j.content)
            for j in self.doc.journeys
        }
        # A frozen dataclass: derived fields are set once, here.
        object.__setattr__(self, "_by_id", journeys)
        object.__setattr__(self, "_decisions", decisions)

    def decision(self, journey_id: str) -> Decision:
        """Return the decision journey ``journey_id`` makes (KeyError for an unknown id)."""
        return self._decisions[journey_id]

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
        """Return the journey ``journey_id`` (KeyError for an unknown id)."""
        return self._by_id[journey_id]


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
    trees = [compile_tree(journey_when(j)) for j in doc.journeys]
    compiled = [(j.id, {"all": [{"m": tree}], "pri": rank})
                for rank, (j, tree) in enumerate(zip(doc.journeys, trees, strict=True))]
    prefix = "".join(ch if ch.isalnum() else "_" for ch in doc.brand)
    digest = hashlib.sha256(
        json.dumps(compiled, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()[:16]
    # A journey whose conditions always hold decides every fact that reaches it: it needs no
    # engine post, and nothing after it can ever match.
    always = next((rank for rank, tree in enumerate(trees) if tree == ANCHOR), None)
    fallback = None if always is None else doc.journeys[always].id
    compiled = compiled[:always]
    needs = {j.id: _necessary(j) for j in doc.journeys}

    # Most journeys pin one path to a few values (product.category: serum). A fact can only
    # meet the journeys that pin its value or do not pin that path at all, so each value gets
    # its own chunks of just those journeys, in the same priority order: the same answer,
    # without testing journeys that cannot match.
    index_path, pins = _choose_index(doc.journeys)

    def chunked(rules: list[tuple[str, Any]]) -> tuple[Chunk, ...]:
        parts = []
        for i in range(0, len(rules), CHUNK):
            part = rules[i : i + CHUNK]
            whole = _guards([needs[jid] for jid, _ in part], skip=index_path)
            # A post costs about one engine ruleset plus a little per journey in it. Where the
            # guards tell quarters of a chunk apart (journeys in bands of tap.number, say), a
            # fact usually passes one quarter's guards: four small rulesets then cost it a
            # quarter of the matching. Where they cannot, one ruleset is cheaper.
            step = max(1, CHUNK // 4)
            quarters = [part[k : k + step] for k in range(0, len(part), step)]
            guards = [_guards([needs[jid] for jid, _ in q], skip=index_path) for q in quarters]
            if len(quarters) > 1 and any(g != whole for g in guards):
                parts += list(zip(quarters, guards, strict=True))
            else:
                parts.append((part, whole))
        return tuple(Chunk(engine.register(prefix, dict(part), anchor=ANCHOR), guards)
                     for part, guards in parts)

    try:
        chunks = chunked([c for c in compiled if c[0] not in pins])
        indexed = {
            key: chunked([c for c in compiled if c[0] not in pins or key in pins[c[0]]])
            for key in {k for keys in pins.values() for k in keys}
        }
    except engine.RulesEngineError as exc:
        raise RulesetError(f"{doc.source}: {exc}") from exc
    return Ruleset(doc=doc, version=f"{prefix}__{digest}", chunks=chunks,
                   index_path=index_path, indexed=indexed, fallback=fallback)


_EVERYTHING = (frozenset[tuple[str, Any]](), math.inf, -math.inf, True)


def _conjuncts(node: Condition | Group) -> list[Condition]:
    # The leaves that must all hold for the tree to hold: those under nested "all" groups.
    if isinstance(node, Condition):
        return [node]
    if node.kind != "all":
        return []
    return [leaf for child in node.children for leaf in _conjuncts(child)]


def _allowed(cond: Condition) -> tuple[frozenset[tuple[str, Any]], float, float, bool] | None:
    """Return (values, low, high, any_value) holding every value for which ``cond`` can hold
    (see ``Guard``), or None when it can hold for a missing value or we cannot tell."""
    op, value = cond.op, cond.value
    if op in ("eq", "in"):
        values = value if op == "in" else (value,)
        if any(v is None or not isinstance(v, str | int | float | bool) for v in values):
            return None
        return frozenset(_index_key(v) for v in values), math.inf, -math.inf, False
    bounds = {"gte": (value, math.inf), "gt": (value, math.inf), "lte": (-math.inf, value),
              "lt": (-math.inf, value), "between": value}.get(op)
    if bounds is not None:
        # gt / lt widened to their bound: the guard may let a fact through, never turn one away.
        if not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds):
            return None
        return frozenset(), float(bounds[0]), float(bounds[1]), False
    if op == "exists" and value:
        return _EVERYTHING
    return None


def _necessary(journey: JourneyDoc) -> dict[str, tuple[frozenset[tuple[str, Any]], float, float,
                                                        bool]]:
    """Return, per path, what a fact's value must be for ``journey`` to match (see ``_allowed``)."""
    out: dict[str, tuple[frozenset[tuple[str, Any]], float, float, bool]] = {}
    for cond in _conjuncts(journey_when(journey)):
        allowed = _allowed(cond)
        if allowed is None:
            continue
        prev = out.get(cond.path)
        if prev is None or prev[3]:
            out[cond.path] = allowed
        elif allowed[3]:
            continue
        elif prev[0] or allowed[0]:
            # A value list is at least as narrow as any range: keep the narrower list.
            lists = [a[0] for a in (prev, allowed) if a[0]]
            out[cond.path] = (frozenset.intersection(*lists), math.inf, -math.inf, False)
        else:
            out[cond.path] = (frozenset(), max(prev[1], allowed[1]), min(prev[2], allowed[2]),
                              False)
    return out


def _guards(
    needs: Sequence[Mapping[str, tuple[frozenset[tuple[str, Any]], float, float, bool]]],
    skip: str | None,
) -> tuple[Guard, ...]:
    """Return the guards of a chunk whose journeys need ``needs``: one per path every journey
    constrains (``skip``, the index path, is already settled by the index)."""
    if not needs:
        return ()
    guards = []
    for path in set(needs[0]).intersection(*needs[1:]) - {skip}:
        parts = [n[path] for n in needs]
        guards.append((
            path,
            frozenset().union(*(p[0] for p in parts)),
            min(p[1] for p in parts),
            max(p[2] for p in parts),
            any(p[3] for p in parts),
        ))
    # Ranges first: they are what tells a long list's chunks apart.
    return tuple(sorted(guards, key=lambda g: (g[1] != frozenset() or g[4], g[0])))


def _passes(guards: Sequence[Guard], fact: Mapping[str, Any]) -> bool:
    """Return whether ``fact`` gets past every guard (see ``Guard``)."""
    for path, values, low, high, any_value in guards:
        value = fact.get(path)
        if value is None:
            return False
        if any_value or _index_key(value) in values:
            continue
        # A range holds only for a number, and true is no number (see leaf_holds).
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if not low <= value <= high:
            return False
    return True


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
    event = None
    chunks = ruleset.chunks
    if ruleset.index_path is not None:
        value = fact.get(ruleset.index_path)
        if value is not None:
            chunks = ruleset.indexed.get(_index_key(value), chunks)
    try:
        # Chunks in priority order: the first journey to fire in one is the highest that holds.
        # A chunk whose guards the fact fails holds no journey that could match: not posted.
        fired = None
        for chunk in chunks:
            if chunk.guards and not _passes(chunk.guards, fact):
                continue
            if event is None:
                event = to_event(fact)
            fired = engine.evaluate(chunk.name, event)
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
        fired = ruleset.fallback
    return None if fired is None else ruleset.decision(fired)


def explain_fact(ruleset: Ruleset, fact: Mapping[str, Any]) -> list[JourneyResult]:
    """Return every journey in priority order with each condition, the value read, and whether
    it held."""
    return explain(ruleset.journeys, fact)


def expected_journey(ruleset: Ruleset, fact: Mapping[str, Any]) -> str | None:
    """Return the journey the explainer picks (the reference the engine is tested against)."""
    return first_match(ruleset.journeys, fact)
