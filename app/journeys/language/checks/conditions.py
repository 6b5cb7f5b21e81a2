"""Conditions under ``when``: facts of the vocabulary, operators, values normalised to their type.

A ``when`` becomes a tree of ``Condition`` leaves and ``Group`` nodes (all / any / not). Durations
become whole days, ``between`` a ``(low, high)`` tuple, ``in`` / ``not_in`` tuples.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app.journeys import vocabulary
from app.journeys.language.checks.shapes import did_you_mean, entries, word_list
from app.journeys.language.context import Context
from app.journeys.language.syntax import Condition, Group
from app.journeys.language.words import (
    COMPARATORS,
    DATE_RE,
    FULL_WEEKDAYS,
    GROUPS,
    NUMERIC_TYPES,
    OPERATORS,
    TYPE_WORDS,
)
from app.journeys.language.yamlnodes import BAD, Entry, construct, is_null, mark, show
from app.journeys.vocabulary import FactField


def check_when(ctx: Context, entry: Entry | None, owner: Node, label: str) -> Group:
    """Return the ``when`` of a journey or schedule (``owner``): no ``when`` is always."""
    if entry is None:
        return Group("all", (), *mark(owner))
    node = entry.node
    if is_null(node):
        return Group("all", (), *mark(node))
    if not isinstance(node, MappingNode):
        ctx.problem(
            node,
            f"{label}: 'when' must be a mapping of conditions (fact: value), not {show(node)}",
        )
        return Group("all", (), *mark(node))
    return Group("all", check_conditions(ctx, node, label), *mark(node))


def check_conditions(
    ctx: Context, node: MappingNode, label: str
) -> tuple[Condition | Group, ...]:
    """Return the conditions of a mapping (they all must hold)."""
    out: list[Condition | Group] = []
    for entry in entries(ctx, node, label, None, what="fact").values():
        child = check_condition_entry(ctx, entry, label)
        if child is not None:
            out.append(child)
    return tuple(out)


def check_condition_entry(ctx: Context, entry: Entry, label: str) -> Condition | Group | None:
    """One ``key: ...`` of a conditions mapping: a group, or a condition on a known fact."""
    key = entry.key
    if key in GROUPS:
        return check_group(ctx, entry, label)
    if not vocabulary.is_known_path(key, ctx.reward_ids):
        match = vocabulary.REWARD_PATTERN.fullmatch(key)
        if match:
            rid = match.group(1)
            ctx.problem(
                entry.key_node,
                f"{label}: unknown fact '{key}': reward '{rid}' is not defined"
                f"{did_you_mean(rid, ctx.reward_ids)}",
            )
        else:
            hint = vocabulary.suggest(key, ctx.reward_ids)
            ctx.problem(
                entry.key_node,
                f"{label}: unknown fact '{key}'" + (f"; did you mean '{hint}'?" if hint else ""),
            )
        return None
    fact = vocabulary.field_for(key)
    assert fact is not None
    return check_condition(ctx, key, fact, entry.key_node, entry.node, label)


def check_group(ctx: Context, entry: Entry, label: str) -> Group | None:
    """``all`` / ``any`` / ``not`` over a mapping of conditions or a list of them."""
    kind = entry.key
    node = entry.node
    children: list[Condition | Group] = []
    if isinstance(node, MappingNode) and node.value:
        children = list(check_conditions(ctx, node, label))
    elif isinstance(node, SequenceNode) and node.value:
        for item in node.value:
            if not isinstance(item, MappingNode) or not item.value:
                ctx.problem(
                    item,
                    f"{label}: an entry under '{kind}' has no condition"
                    if isinstance(item, MappingNode)
                    else f"{label}: each entry under '{kind}' must be conditions like "
                    f"- fact: value, not {show(item)}",
                )
                continue
            found = check_conditions(ctx, item, label)
            # A one-condition list entry is that condition; a longer one is an ``all`` of them.
            if len(item.value) == 1:
                children.extend(found)
            elif found:
                children.append(Group("all", found, *mark(item)))
    else:
        like = "a mapping of conditions" if kind == "not" else "a list of conditions"
        empty = isinstance(node, MappingNode | SequenceNode)
        ctx.problem(
            node,
            f"{label}: '{kind}' needs at least one condition"
            if empty
            else f"{label}: '{kind}' must be {like}, not {show(node)}",
        )
        return None
    if not children:
        return None  # every child had a problem, already reported
    return Group(kind, tuple(children), *mark(entry.key_node))


def check_condition(
    ctx: Context, path: str, fact: FactField, key_node: Node, node: Node, label: str
) -> Condition | Group | None:
    """``path: value`` (equals) or ``path: {operator: operand}``; ``not`` wraps another."""
    line, column = mark(key_node)
    if isinstance(node, SequenceNode):
        ctx.problem(
            node,
            f"{label}: {path} is given a list; write {{in: [...]}} to match any of its values",
        )
        return None
    if isinstance(node, ScalarNode):
        if is_null(node):
            ctx.problem(
                node,
                f"{label}: {path} has no value; write {{exists: false}} to match when it is "
                "not known",
            )
            return None
        value = check_value(ctx, path, fact, node, label, None)
        return None if value is BAD else Condition(path, "eq", value, line, column)
    assert isinstance(node, MappingNode)
    if len(node.value) != 1:
        ctx.problem(
            node,
            f"{label}: {path} needs a value or exactly one operator "
            f"({word_list(OPERATORS)}), not {len(node.value)}"
            + (" (use between: [low, high] for a range)" if len(node.value) == 2 else ""),
        )
        return None
    op_node, operand = node.value[0]
    op = str(op_node.value) if isinstance(op_node, ScalarNode) else show(op_node)
    if op not in OPERATORS:
        ctx.problem(
            op_node,
            f"{label}: {path}: unknown operator '{op}'{did_you_mean(op, OPERATORS)}"
            f" (operators: {word_list(OPERATORS)})",
        )
        return None
    if op == "not":
        inner = check_condition(ctx, path, fact, key_node, operand, label)
        return None if inner is None else Group("not", (inner,), *mark(op_node))
    value = check_operand(ctx, path, fact, op, op_node, operand, label)
    return None if value is BAD else Condition(path, op, value, line, column)


def check_operand(
    ctx: Context, path: str, fact: FactField, op: str, op_node: Node, node: Node, label: str
) -> Any:
    """Return an operator's operand normalised (a tuple for in / not_in / between), or ``BAD``."""
    if op == "exists":
        value = construct(node) if isinstance(node, ScalarNode) else None
        if not isinstance(value, bool):
            ctx.problem(node, f"{label}: {path}: exists takes true or false, not {show(node)}")
            return BAD
        return value
    if op in ("in", "not_in"):
        if not isinstance(node, SequenceNode) or not node.value:
            ctx.problem(
                node,
                f"{label}: {path}: {op} needs a list of values like [a, b], not {show(node)}",
            )
            return BAD
        values = [check_value(ctx, path, fact, item, label, op) for item in node.value]
        return BAD if any(v is BAD for v in values) else tuple(values)
    if fact.type not in NUMERIC_TYPES:
        ctx.problem(
            op_node,
            f"{label}: {path} holds {TYPE_WORDS[fact.type]}, so it cannot be compared with "
            f"'{op}'; give a value, or use in / not_in"
            + ("; for a range of dates, give the journey from: and until:"
               if fact.type == "date" else ""),
        )
        return BAD
    if op == "between":
        if not isinstance(node, SequenceNode) or len(node.value) != 2:
            ctx.problem(node, f"{label}: {path}: between needs [low, high], not {show(node)}")
            return BAD
        low, high = (check_value(ctx, path, fact, item, label, op) for item in node.value)
        if low is BAD or high is BAD:
            return BAD
        if low > high:
            ctx.problem(node, f"{label}: {path}: between needs the lower value first")
            return BAD
        return (low, high)
    return check_value(ctx, path, fact, node, label, op)


def check_value(
    ctx: Context, path: str, fact: FactField, node: Node, label: str, op: str | None
) -> Any:
    """Return a value for ``path`` normalised to its type, or ``BAD`` (reported)."""
    where = f"{label}: {path}" + (f": {op}" if op else "")
    numeric = op in (*COMPARATORS, "between")
    if not isinstance(node, ScalarNode) or is_null(node):
        ctx.problem(node, f"{where} needs a single value, not {show(node)}")
        return BAD
    raw = str(node.value)
    value = construct(node)
    kind = fact.type

    def bad(need: str) -> Any:
        ctx.problem(node, f"{where} needs {need}, not {show(node)}")
        return BAD

    if kind == "any":
        if numeric and (isinstance(value, bool) or not isinstance(value, int | float)):
            return bad("a number")
        return value if isinstance(value, str | int | float | bool) else raw
    if kind in ("str", "weekday"):
        # Text is kept as written (``NO`` is Norway, not YAML 1.1's false); weekdays lowercased.
        text = raw if kind == "str" else FULL_WEEKDAYS.get(raw.lower(), raw.lower())
        if fact.values is not None and text not in fact.values:
            # A misspelt weekday is closer to its full name (munday, monday) than to mon.
            near = [*fact.values, *FULL_WEEKDAYS] if kind == "weekday" else fact.values
            ctx.problem(
                node,
                f"{label}: {path} is never '{raw}' (it is one of: {word_list(fact.values)})"
                f"{did_you_mean(text, near)}",
            )
            return BAD
        return text
    if kind == "date":
        if DATE_RE.fullmatch(raw):
            try:
                return date.fromisoformat(raw).isoformat()
            except ValueError:
                pass  # a day the calendar does not have
        return bad("a date written YYYY-MM-DD, like 2026-12-24")
    if kind == "country":
        if not re.fullmatch(r"[A-Za-z]{2}", raw):
            return bad("a two-letter country code like FR")
        return raw.upper()
    if kind == "bool":
        return value if isinstance(value, bool) else bad("true or false")
    if kind == "days":
        try:
            return vocabulary.parse_duration(value)
        except ValueError:
            return bad("a number of days (like 30 or 30d)")
    need = {"hour": "an hour from 0 to 23", "month": "a month from 1 (January) to 12 (December)"}
    if isinstance(value, bool) or not isinstance(value, int):
        return bad(need.get(kind, "a whole number"))
    if (kind == "hour" and not 0 <= value <= 23) or (kind == "month" and not 1 <= value <= 12):
        return bad(need[kind])
    return value
