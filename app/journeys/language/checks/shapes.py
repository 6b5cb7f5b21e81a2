"""Generic shapes every section reads: mappings of known fields, names, numbers and durations.

Each function reports what is wrong into the ``Context`` and returns ``None`` (or nothing) for a
value it could not read, so the section checks carry on and find every other problem too.
``label`` is the prefix naming whose field it is (``journey 'care'``); ``None`` at the top level.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app.journeys import vocabulary
from app.journeys.language.context import Context
from app.journeys.language.yamlnodes import BAD, Entry, construct, is_null, show

T = TypeVar("T")


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return "; did you mean 'x'?" for the closest candidate, or "" when none is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def word_list(items: Iterable[str]) -> str:
    return ", ".join(items)


def _prefix(label: str | None) -> str:
    return f"{label}: " if label else ""


def entries(
    ctx: Context, node: Node, label: str | None, allowed: Sequence[str] | None,
    what: str = "field",
) -> dict[str, Entry]:
    """Return a mapping node's entries by key; report bad, duplicate and unknown keys."""
    out: dict[str, Entry] = {}
    prefix = _prefix(label)
    for key_node, value_node in node.value:
        if not isinstance(key_node, ScalarNode) or is_null(key_node):
            ctx.problem(key_node, f"{prefix}{show(key_node)} cannot be a {what} name")
            continue
        key = str(key_node.value)
        if key in out:
            line = out[key].key_node.start_mark.line + 1
            ctx.problem(key_node, f"{prefix}'{key}' is given twice (first on line {line})")
            continue
        if allowed is not None and key not in allowed:
            ctx.problem(key_node, f"{prefix}unknown {what} '{key}'{did_you_mean(key, allowed)}")
            continue
        out[key] = Entry(key, key_node, value_node)
    return out


def mapping(ctx: Context, node: Node, label: str | None, name: str, like: str) -> bool:
    """Whether ``node`` is a mapping; report it when not."""
    if isinstance(node, MappingNode):
        return True
    ctx.problem(node, f"{_prefix(label)}'{name}' must be a mapping ({like}), not {show(node)}")
    return False


def required(
    ctx: Context, node: Node, fields: dict[str, Entry], names: Sequence[str], label: str | None
) -> None:
    """Report each of ``names`` that is missing or empty (at its key, or at the mapping)."""
    prefix = _prefix(label)
    for name in names:
        entry = fields.get(name)
        if entry is None or is_null(entry.node):
            where = entry.key_node if entry else node
            ctx.problem(where, f"{prefix}'{name}' is required")


def text(
    ctx: Context, entry: Entry | None, label: str | None,
    pattern: re.Pattern[str] | None = None, like: str = "",
) -> str | None:
    """Return a name-like scalar as written (``None`` when absent or wrong, reported)."""
    if entry is None or is_null(entry.node):
        return None
    prefix = _prefix(label)
    node = entry.node
    if not isinstance(node, ScalarNode):
        ctx.problem(node, f"{prefix}'{entry.key}' must be a name, not {show(node)}")
        return None
    value = str(node.value)
    if pattern is not None and not pattern.fullmatch(value):
        ctx.problem(node, f"{prefix}{entry.key} '{value}' must be {like}")
        return None
    return value


def integer(ctx: Context, entry: Entry | None, label: str, minimum: int | None = 0) -> int | None:
    """Return a whole number of at least ``minimum`` (``None``: no lower bound)."""
    if entry is None or is_null(entry.node):
        return None
    value = construct(entry.node) if isinstance(entry.node, ScalarNode) else BAD
    if isinstance(value, bool) or not isinstance(value, int):
        ctx.problem(
            entry.node, f"{label}: '{entry.key}' must be a whole number, not {show(entry.node)}"
        )
        return None
    if minimum is not None and value < minimum:
        ctx.problem(entry.node, f"{label}: '{entry.key}' cannot be less than {minimum}")
        return None
    return value


def days(ctx: Context, entry: Entry | None, label: str) -> int | None:
    """Return a duration (``30``, ``30d``, ``12w``, ``6m``, ``1y``) as whole days."""
    if entry is None or is_null(entry.node):
        return None
    value = construct(entry.node) if isinstance(entry.node, ScalarNode) else entry.node
    try:
        if isinstance(value, Node):
            raise ValueError(f"{show(value)} is not a duration")
        return vocabulary.parse_duration(value)
    except ValueError as exc:
        ctx.problem(entry.node, f"{label}: '{entry.key}': {exc}")
        return None


def names(ctx: Context, entry: Entry, label: str, like: str) -> list[ScalarNode]:
    """Return the scalar nodes of a name or a list of names."""
    node = entry.node
    if isinstance(node, ScalarNode):
        return [node]
    if isinstance(node, SequenceNode):
        good = [n for n in node.value if isinstance(n, ScalarNode) and not is_null(n)]
        if len(good) == len(node.value) and good:
            return good
    ctx.problem(node, f"{label}: '{entry.key}' must be {like}, not {show(node)}")
    return []


def first_of_each(
    ctx: Context,
    items: Iterable[T | None],
    kind: str,
    word: str,
    identity: Callable[[T], tuple[str, int, Node | tuple[int, int]]],
) -> list[T]:
    """Return the parsed ``items`` (None ones dropped) keeping the first of each name; every
    repeat is a problem pointing at the first one's line.

    ``identity`` gives an item's name, its line, and where to report a repeat of it.
    """
    out: list[T] = []
    first_line: dict[str, int] = {}
    for item in items:
        if item is None:
            continue
        name, line, where = identity(item)
        if name in first_line:
            ctx.problem(
                where,
                f"{kind} '{name}': this {word} is already used by the {kind} on line "
                f"{first_line[name]}",
            )
            continue
        first_line[name] = line
        out.append(item)
    return out
