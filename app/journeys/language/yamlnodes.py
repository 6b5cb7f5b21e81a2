"""YAML nodes: reading the composed tree that keeps every line and column.

A ruleset is composed, not loaded, so each problem can point at its key or value; these helpers
look into nodes, describe them in messages and build Python values from them only when needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed
NULL_TAG = "tag:yaml.org,2002:null"


class _Missing:
    pass


BAD: Any = _Missing()
"""A value that had a problem (already reported); compared by identity."""


@dataclass
class Entry:
    """One entry of a mapping node: its key as text, the key's node (for marks) and the value."""

    key: str
    key_node: Node
    node: Node


def lookup(node: MappingNode, key: str) -> Entry | None:
    """Return the entry ``key`` of a mapping node (read early, to name it in messages), or None."""
    return next(
        (Entry(key, k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == key),
        None,
    )


def mark(node: Node) -> tuple[int, int]:
    """Return the 1-based (line, column) where ``node`` starts."""
    return node.start_mark.line + 1, node.start_mark.column + 1


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == NULL_TAG


def show(node: Node) -> str:
    """Describe a node for a message: a mapping, a list, nothing, or its text quoted."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if is_null(node):
        return "nothing"
    return f"'{node.value}'"


def construct(node: Node) -> Any:
    """Return a node's Python value; a scalar YAML cannot construct (``!!int abc``, an unknown
    ``!tag``) stays the text it is, for the type checks to report."""
    try:
        return SafeConstructor().construct_object(node, deep=True)
    except Exception:
        if isinstance(node, ScalarNode):
            return str(node.value)
        raise


def cycle(root: Node) -> Node | None:
    """Return a node that contains itself through an alias (``&a [*a]``), or None."""
    done: set[int] = set()
    path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            path.discard(id(node))
            done.add(id(node))
            continue
        if id(node) in path:
            return node
        if id(node) in done or isinstance(node, ScalarNode):
            continue
        path.add(id(node))
        stack.append((node, True))
        children = (
            [n for pair in node.value for n in pair]
            if isinstance(node, MappingNode)
            else list(node.value)
        )
        stack.extend((child, False) for child in reversed(children))
    return None


class UnreadableYaml(Exception):
    """The text is not YAML; ``where`` is the 1-based (line, column) the message is about."""

    def __init__(self, where: tuple[int, int], message: str) -> None:
        self.where = where
        self.message = message
        super().__init__(message)


def compose(text: str) -> Node | None:
    """Compose ``text`` into its root node (None for an empty file).

    Raises:
        UnreadableYaml: the text is not YAML, with the position and words of the YAML error.
    """
    try:
        return yaml.compose(text, Loader=FAST_LOADER)
    except yaml.YAMLError:
        pass  # the pure-Python loader words syntax errors better, and marks them the same
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "unreadable"
        if "'\\t'" in what:
            what += " (indent with spaces, not tabs)"
        context = exc.context_mark
        if exc.context and context is not None and context is not mark:
            what += (
                f" ({exc.context} that starts on line {context.line + 1}, "
                f"column {context.column + 1})"
            )
        raise UnreadableYaml(where, f"not valid YAML: {what}") from exc
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line = before.count("\n") + 1
        column = exc.position - (before.rfind("\n") + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise UnreadableYaml(
            (line, column), f"not valid YAML: character #x{code:04x} is not allowed here"
        ) from exc
    except yaml.YAMLError as exc:  # pragma: no cover - every YAML error has a mark or position
        raise UnreadableYaml((1, 1), f"not valid YAML: {exc}") from exc
