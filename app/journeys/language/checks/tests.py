"""The ``tests`` section: a partial fact each, and the journey (experience, reward) it expects.

Given values are checked against the vocabulary like conditions' values; what a test expects
must exist (a journey of this file, an experience template, a reward of this file).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from yaml.nodes import MappingNode, Node, SequenceNode

from app.journeys import vocabulary
from app.journeys.language.checks.conditions import check_value
from app.journeys.language.checks.shapes import (
    did_you_mean,
    entries,
    first_of_each,
    mapping,
    required,
    text,
)
from app.journeys.language.context import Context
from app.journeys.language.syntax import TestCase
from app.journeys.language.words import EXPECT_FIELDS, TEST_FIELDS
from app.journeys.language.yamlnodes import BAD, Entry, is_null, lookup, mark, show


def check_tests(ctx: Context, entry: Entry | None) -> tuple[TestCase, ...]:
    """Return the well-formed tests in file order, the first of each name.

    Run after the journeys: a test may expect any journey id the file defines.
    """
    if entry is None or is_null(entry.node):
        return ()
    if not isinstance(entry.node, SequenceNode):
        ctx.problem(entry.node, f"'tests' must be a list (- name: ...), not {show(entry.node)}")
        return ()
    return tuple(first_of_each(
        ctx,
        (check_test(ctx, node, i + 1) for i, node in enumerate(entry.node.value)),
        "test", "name", lambda c: (c.name, c.line, (c.line, c.column)),
    ))


def check_test(ctx: Context, node: Node, number: int) -> TestCase | None:
    label = f"test #{number}"
    if not isinstance(node, MappingNode):
        ctx.problem(node, f"{label} must be a mapping with name, given and expect")
        return None
    before = len(ctx.problems)
    name = text(ctx, lookup(node, "name"), label)
    if name is not None:
        label = f"test '{name}'"
    fields = entries(ctx, node, label, TEST_FIELDS)
    required(ctx, node, fields, ("name", "given", "expect"), label)
    given: dict[str, Any] = {}
    if "given" in fields and not is_null(fields["given"].node):
        gnode = fields["given"].node
        if mapping(ctx, gnode, label, "given", "fact: value"):
            for g in entries(ctx, gnode, label, None, what="fact").values():
                value = check_given_value(ctx, g, label)
                if value is not BAD:
                    given[g.key] = value
    expect: dict[str, Any] = {}
    if "expect" in fields and not is_null(fields["expect"].node):
        enode = fields["expect"].node
        if mapping(ctx, enode, label, "expect", "journey: ID"):
            assert isinstance(enode, MappingNode)
            expect = check_expect(ctx, enode, label)
    if len(ctx.problems) > before or name is None:
        return None
    line, column = mark(node)
    return TestCase(name, given, expect, line, column)


def check_given_value(ctx: Context, entry: Entry, label: str) -> Any:
    """A fact's value under ``given``; empty means "not known" (None)."""
    path = entry.key
    if not vocabulary.is_known_path(path, ctx.reward_ids):
        hint = vocabulary.suggest(path, ctx.reward_ids)
        ctx.problem(
            entry.key_node,
            f"{label}: unknown fact '{path}'" + (f"; did you mean '{hint}'?" if hint else ""),
        )
        return BAD
    if is_null(entry.node):
        return None  # "not known"
    fact = vocabulary.field_for(path)
    assert fact is not None
    return check_value(ctx, path, fact, entry.node, f"{label}: given", None)


def check_expect(ctx: Context, node: MappingNode, label: str) -> dict[str, Any]:
    """``journey`` (null: no journey is chosen), and optionally ``experience`` and ``reward``."""
    fields = entries(ctx, node, f"{label}: expect", EXPECT_FIELDS)
    if "journey" not in fields:
        ctx.problem(node, f"{label}: expect needs 'journey' (or journey: null for none)")
    out: dict[str, Any] = {}
    checks: tuple[tuple[str, Collection[str], Callable[[str], str]], ...] = (
        ("journey", ctx.journey_ids, lambda v: f"journey '{v}', which is not defined"),
        ("experience", ctx.experiences,
         lambda v: f"experience '{v}', which has no template templates/experiences/{v}.html"),
        ("reward", ctx.reward_ids, lambda v: f"reward '{v}', which is not defined"),
    )
    for name, known, says in checks:
        entry = fields.get(name)
        if entry is None:
            continue
        if is_null(entry.node):
            if name == "experience":
                ctx.problem(entry.node, f"{label}: expect 'experience' needs a name")
            out[name] = None
            continue
        value = text(ctx, entry, label)
        if value is None:
            continue
        if value not in known:
            ctx.problem(
                entry.node, f"{label}: expects {says(value)}{did_you_mean(value, known)}"
            )
            continue
        out[name] = value
    return out
