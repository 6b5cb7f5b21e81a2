"""Compile journey conditions into durable_rules JSON.

A fact is a flat mapping of dotted paths (``tap.verdict``) to scalars. durable_rules reads event
fields by name, so paths become field names with ``.`` replaced by ``__``. Paths whose value is None
are left out of the event, which is what makes ``exists: false`` and ``not_in`` behave as a marketer
expects on a missing value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def compile_when(when: Mapping[str, Any] | Sequence[Any] | None) -> dict[str, Any]:
    """Return the durable_rules expression for a ``when`` block (all conditions must hold).

    Raises:
        ConditionError: an operator is unknown or its operand has the wrong shape.
    """
    parts = _compile_group(when or {}, "all")
    return {"$and": [{ALWAYS_FIELD: 1}, *parts]} if parts else {ALWAYS_FIELD: 1}


def _compile_group(block: Any, how: str) -> list[dict[str, Any]]:
    if isinstance(block, Mapping):
        items = list(block.items())
    elif isinstance(block, Sequence) and not isinstance(block, str):
        items = []
        for entry in block:
            if not isinstance(entry, Mapping):
                raise ConditionError(f"each entry under '{how}' must be a condition, got {entry!r}")
            items.extend(entry.items())
    else:
        raise ConditionError(f"conditions must be a mapping or a list, got {block!r}")
    out = []
    for key, spec in items:
        if key in ("any", "all"):
            sub = _compile_group(spec, key)
            if not sub:
                raise ConditionError(f"'{key}' needs at least one condition")
            out.append(sub[0] if len(sub) == 1 else {"$or" if key == "any" else "$and": sub})
        else:
            out.append(_compile_condition(str(key), spec))
    return out


def _compile_condition(path: str, spec: Any) -> dict[str, Any]:
    name = field(path)
    if not isinstance(spec, Mapping):
        return _eq(name, spec)
    if len(spec) != 1:
        raise ConditionError(f"'{path}': use one operator per condition, got {sorted(spec)}")
    (op, operand), = spec.items()
    if op in _COMPARATORS:
        _number(path, op, operand)
        return {_COMPARATORS[op]: {name: operand}}
    if op == "between":
        if not (isinstance(operand, Sequence) and len(operand) == 2):
            raise ConditionError(f"'{path}': between needs [low, high]")
        low, high = operand
        _number(path, op, low)
        _number(path, op, high)
        return {"$and": [{"$gte": {name: low}}, {"$lte": {name: high}}]}
    if op == "in":
        values = _values(path, op, operand)
        alts = [_eq(name, v) for v in values]
        return alts[0] if len(alts) == 1 else {"$or": alts}
    if op == "not_in":
        values = _values(path, op, operand)
        return {"$or": [{"$nex": {name: 1}}, {"$and": [{"$neq": {name: v}} for v in values]}]}
    if op == "exists":
        if not isinstance(operand, bool):
            raise ConditionError(f"'{path}': exists takes true or false")
        return {"$ex" if operand else "$nex": {name: 1}}
    raise ConditionError(f"'{path}': unknown operator '{op}'")


def _eq(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {"$nex": {name: 1}}
    if not isinstance(value, str | int | float | bool):
        raise ConditionError(f"'{name}': compare with a single value, got {value!r}")
    return {name: value}


def _number(path: str, op: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConditionError(f"'{path}': {op} needs a number, got {value!r}")


def _values(path: str, op: str, operand: Any) -> list[Any]:
    if not isinstance(operand, Sequence) or isinstance(operand, str) or not operand:
        raise ConditionError(f"'{path}': {op} needs a non-empty list")
    return list(operand)


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
