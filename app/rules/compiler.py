"""Compile journey conditions into durable_rules JSON.

A fact is a flat mapping of dotted paths (``tap.verdict``) to scalars. durable_rules reads event
fields by name, so paths become field names with ``.`` replaced by ``__``. Paths whose value is None
are left out of the event, which is what makes ``exists: false`` and ``not_in`` behave as a marketer
expects on a missing value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Present in every event and required by every rule. It gives "when: {}" something to match and,
# more importantly, anchors each rule on a positive test: durable_rules also evaluates rules against
# its own session-state documents, so a rule made only of negations ("exists: false") matches the
# state, fires, updates the state, and matches again, forever.
ALWAYS_FIELD = "fact__"
ANCHOR = {ALWAYS_FIELD: 1}

_COMPARATORS = {"gte": "$gte", "gt": "$gt", "lte": "$lte", "lt": "$lt"}


class ConditionError(ValueError):
    """A condition cannot be compiled; the message names the path and the problem."""


def field(path: str) -> str:
    """Return the durable_rules field name for a fact path."""
    return path.replace(".", "__")


def to_event(fact: Mapping[str, Any]) -> dict[str, Any]:
    """Return the durable_rules event for ``fact`` (None values dropped)."""
    # Keys starting with "_" ride along with a fact for the host (e.g. the tap's moment).
    event: dict[str, Any] = {
        field(k): v for k, v in fact.items() if v is not None and not k.startswith("_")
    }
    event[ALWAYS_FIELD] = 1
    return event


def _eq(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {"$nex": {name: 1}}
    if not isinstance(value, str | int | float | bool):
        raise ConditionError(f"'{name}': compare with a single value, got {value!r}")
    return {name: value}


# --- Condition trees from the journey language ---------------------------------------------------
# ``app.journeys.language`` parses a ruleset into trees of Condition(path, op, value) and
# Group(kind: all|any|not, children). durable_rules has no general negation, so ``not`` is pushed
# down to the leaves (De Morgan) before compiling; the explainer evaluates the same trees in Python,
# and a property test holds the two to the same answer.

_NEGATED_COMPARATOR = {"gte": "lt", "gt": "lte", "lte": "gt", "lt": "gte"}


def compile_tree(node: Any, negate: bool = False) -> dict[str, Any]:
    """Return the durable_rules expression for a condition tree, anchored on ``ALWAYS_FIELD``.

    Raises:
        ConditionError: a node has an unknown kind or operator.
    """
    inner = _tree(node, negate)
    return {"$and": [dict(ANCHOR), inner]} if inner else dict(ANCHOR)


def _tree(node: Any, negate: bool) -> dict[str, Any] | None:
    kind = getattr(node, "kind", None)
    if kind is None:
        return _leaf(node, negate)
    if kind == "not":
        return _tree(_all(node.children), not negate)
    parts = [p for p in (_tree(child, negate) for child in node.children) if p is not None]
    # Negating flips the connective (De Morgan); an empty "all" is true and an empty "any" false.
    conjunctive = (kind == "all") != negate
    if not parts:
        return None if conjunctive else {"$nex": {ALWAYS_FIELD: 1}}
    if len(parts) == 1:
        return parts[0]
    return {"$and" if conjunctive else "$or": parts}


@dataclass(frozen=True)
class _All:
    children: tuple[Any, ...]
    kind: str = "all"


def _all(children: Any) -> _All:
    return _All(tuple(children))


def _leaf(cond: Any, negate: bool) -> dict[str, Any]:
    name = field(cond.path)
    op, value = cond.op, cond.value
    missing = {"$nex": {name: 1}}
    if op == "eq":
        if not negate:
            return _eq(name, value)
        return {"$or": [missing, {"$neq": {name: value}}]}
    if op in ("in", "not_in"):
        values = list(value)
        positive = (op == "in") != negate
        if positive:
            alts = [_eq(name, v) for v in values]
            return alts[0] if len(alts) == 1 else {"$or": alts}
        return {"$or": [missing, {"$and": [{"$neq": {name: v}} for v in values]}]}
    if op in _COMPARATORS:
        if not negate:
            return {_COMPARATORS[op]: {name: value}}
        return {"$or": [missing, {_COMPARATORS[_NEGATED_COMPARATOR[op]]: {name: value}}]}
    if op == "between":
        low, high = value
        if not negate:
            return {"$and": [{"$gte": {name: low}}, {"$lte": {name: high}}]}
        return {"$or": [missing, {"$lt": {name: low}}, {"$gt": {name: high}}]}
    if op == "exists":
        present = bool(value) != negate
        return {"$ex" if present else "$nex": {name: 1}}
    raise ConditionError(f"'{cond.path}': unknown operator '{op}'")
