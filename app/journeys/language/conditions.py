"""What conditions mean: whether a tree holds for a fact, how leaves relate, and back to YAML.

One evaluator serves the checker (priority ties, shadowed journeys), the explainer and the tests,
so they cannot disagree with each other about a condition. The relations between leaves
(``implies``, ``disjoint``) are conservative: "not proven" is answered False.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.journeys.language.syntax import Condition, Group, JourneyDoc, Window
from app.journeys.vocabulary import MOMENT_PATH

# --- holding --------------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    """Equality where true is not 1 and false is not 0 (Python's ``True == 1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def leaf_holds(cond: Condition, value: Any) -> bool:
    """Return whether ``cond`` holds when its path has ``value`` (None: not known)."""
    op, operand = cond.op, cond.value
    if op == "exists":
        return (value is not None) == bool(operand)
    if op == "not_in":
        return value is None or all(not _same(value, v) for v in operand)
    if value is None:
        return False
    if op == "eq":
        return _same(value, operand)
    if op == "in":
        return any(_same(value, v) for v in operand)
    if not _is_number(value):
        return False
    if op == "between":
        return bool(operand[0] <= value <= operand[1])
    return bool(
        {"gte": value >= operand, "gt": value > operand, "lte": value <= operand,
         "lt": value < operand}[op]
    )


def window_conditions(window: Window | None) -> tuple[Condition, ...]:
    """Return a journey's ``from`` / ``until`` as conditions on the tap's moment (``MOMENT_PATH``,
    whole seconds): at or after the start, before the end."""
    if window is None:
        return ()
    out = []
    if window.starts is not None:
        out.append(Condition(MOMENT_PATH, "gte", int(window.starts.timestamp())))
    if window.ends is not None:
        out.append(Condition(MOMENT_PATH, "lt", int(window.ends.timestamp())))
    return tuple(out)


def journey_when(journey: JourneyDoc) -> Group:
    """Return everything that must hold for ``journey`` to match: its window, then its ``when``.

    The engine, the explainer and the priority checks all read this, so a journey outside its
    dates never matches anywhere, and two campaigns in different months never tie.
    """
    window = window_conditions(journey.window)
    if not window:
        return journey.when
    return Group("all", (*window, journey.when), journey.when.line, journey.when.column)


def holds(node: Condition | Group, fact: Mapping[str, Any]) -> bool:
    """Return whether a condition tree holds for ``fact`` (a missing path is "not known")."""
    if isinstance(node, Condition):
        return leaf_holds(node, fact.get(node.path))
    if node.kind == "any":
        return any(holds(c, fact) for c in node.children)
    every = all(holds(c, fact) for c in node.children)
    return every if node.kind == "all" else not every


# --- relations between conditions -----------------------------------------------------------------


def _finite(cond: Condition) -> tuple[Any, ...] | None:
    if cond.op == "eq":
        return (cond.value,)
    if cond.op == "in":
        return tuple(cond.value)
    return None


def _interval(cond: Condition) -> tuple[float, bool, float, bool] | None:
    """Return (low, low included, high, high included) for a numeric condition."""
    inf = float("inf")
    v = cond.value
    if cond.op == "gte":
        return (v, True, inf, False)
    if cond.op == "gt":
        return (v, False, inf, False)
    if cond.op == "lte":
        return (-inf, False, v, True)
    if cond.op == "lt":
        return (-inf, False, v, False)
    if cond.op == "between":
        return (v[0], True, v[1], True)
    if cond.op == "eq" and _is_number(v):
        return (v, True, v, True)
    return None


def _positive(cond: Condition) -> bool:
    """Whether ``cond`` can only hold when its path is known."""
    if cond.op == "exists":
        return bool(cond.value)
    return cond.op != "not_in"


def implies(b: Condition, a: Condition) -> bool:
    """Return whether ``a`` holds whenever ``b`` does (both on the same path)."""
    if a.path != b.path:
        return False
    if a == b:
        return True
    if a.op == "exists":
        return _positive(b) if a.value else (b.op == "exists" and not b.value)
    values = _finite(b)
    if values is not None:
        return all(leaf_holds(a, v) for v in values)
    if a.op == "not_in" and b.op == "not_in":
        return all(any(_same(x, y) for y in b.value) for x in a.value)
    ia, ib = _interval(a), _interval(b)
    if ia is None or ib is None or a.op == "eq":
        return False
    low_ok = ib[0] > ia[0] or (ib[0] == ia[0] and (ia[1] or not ib[1]))
    high_ok = ib[2] < ia[2] or (ib[2] == ia[2] and (ia[3] or not ib[3]))
    return low_ok and high_ok


def disjoint(a: Condition, b: Condition) -> bool:
    """Return whether ``a`` and ``b`` (on the same path) can never hold together."""
    if a.path != b.path:
        return False
    for x, y in ((a, b), (b, a)):
        if x.op == "exists" and not x.value and _positive(y):
            return True
        values = _finite(x)
        if values is not None and not any(leaf_holds(y, v) for v in values):
            return True
    ia, ib = _interval(a), _interval(b)
    if ia is None or ib is None:
        return False
    low = max((ia[0], not ia[1]), (ib[0], not ib[1]))
    high = min((ia[2], ia[3]), (ib[2], ib[3]))
    if low[0] != high[0]:
        return low[0] > high[0]
    return low[1] or not high[1]  # the single shared point is excluded by one side


def exclusive(a: Group, b: Group) -> bool:
    """Return whether two journeys' ``when`` can never both hold, judged on top-level conditions."""
    return any(
        isinstance(x, Condition) and isinstance(y, Condition) and disjoint(x, y)
        for x in a.children
        for y in b.children
    )


def covers(a: Group, b: Group) -> bool:
    """Return whether ``a`` (a top-level ``all``) holds whenever ``b`` does, judged conservatively:
    each of ``a``'s top-level conditions is implied by one of ``b``'s (or is identical to it)."""
    for x in a.children:
        if isinstance(x, Condition):
            if not any(isinstance(y, Condition) and implies(y, x) for y in b.children):
                return False
        elif x not in b.children:
            return False
    return True



# --- back to YAML data ----------------------------------------------------------------------------


def condition_data(cond: Condition) -> Any:
    """Return the YAML value of one condition (what follows ``path:``)."""
    if cond.op == "eq":
        return cond.value
    if cond.op in ("in", "not_in", "between"):
        return {cond.op: list(cond.value)}
    return {cond.op: cond.value}


def when_data(group: Group) -> dict[str, Any]:
    """Return the ``when`` mapping that parses back to ``group`` (a top-level ``all``).

    Raises:
        ValueError: the tree cannot be written as one mapping (two entries would share a key).
    """
    if group.kind != "all":
        return dict([_entry_data(group, set())])
    # A condition's path is its key; a ``not`` of one condition may borrow a free path as its key.
    used = {c.path for c in group.children if isinstance(c, Condition)}
    out: dict[str, Any] = {}
    for child in group.children:
        key, value = _entry_data(child, used)
        if key in out:
            raise ValueError(f"'{key}' would appear twice in one mapping")
        used.add(key)
        out[key] = value
    return out


def _entry_data(node: Condition | Group, used: set[str]) -> tuple[str, Any]:
    if isinstance(node, Condition):
        return node.path, condition_data(node)
    if node.kind == "not" and len(node.children) == 1:
        path = _single_path(node.children[0])
        if path is not None and path not in used:
            return path, {"not": _negand(node.children[0])}
    return node.kind, [dict([_entry_data(c, set())]) for c in node.children]


def _single_path(node: Condition | Group) -> str | None:
    """The path of a condition, or of a ``not`` chain ending in one condition."""
    if isinstance(node, Condition):
        return node.path
    if node.kind == "not" and len(node.children) == 1:
        return _single_path(node.children[0])
    return None


def _negand(node: Condition | Group) -> Any:
    if isinstance(node, Condition):
        return condition_data(node)
    return {"not": _negand(node.children[0])}
