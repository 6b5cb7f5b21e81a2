"""Every operator of the journey language at exactly its boundary values, through the engine.

Deterministic examples, one journey per condition: the compiled rule (durable_rules) and the
reference evaluator (the explainer) must both say whether the journey matches. A comparison
compiled one step off (``gte`` as ``gt``, ``between`` losing an end, a negation flipping the
wrong way) fails here on every run, not on a lucky Hypothesis seed.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.rules.service import decide, expected_journey, parse_ruleset

MISSING = object()

# (condition as written in a ruleset, fact path, [(value, matches), ...]); MISSING: fact unknown.
CASES: list[tuple[str, str, list[tuple[Any, bool]]]] = [
    ("tap.number: {gte: 5}", "tap.number", [(4, False), (5, True), (6, True), (MISSING, False)]),
    ("tap.number: {gt: 5}", "tap.number", [(5, False), (6, True), (MISSING, False)]),
    ("tap.number: {lte: 5}", "tap.number", [(4, True), (5, True), (6, False), (MISSING, False)]),
    ("tap.number: {lt: 5}", "tap.number", [(4, True), (5, False), (MISSING, False)]),
    ("tap.number: {between: [3, 7]}", "tap.number",
     [(2, False), (3, True), (5, True), (7, True), (8, False), (MISSING, False)]),
    ("tap.number: 5", "tap.number", [(4, False), (5, True), (6, False), (MISSING, False)]),
    ("tap.country: FR", "tap.country", [("FR", True), ("MC", False), (MISSING, False)]),
    ("tap.country: {in: [FR, MC]}", "tap.country",
     [("FR", True), ("MC", True), ("JP", False), (MISSING, False)]),
    ("tap.country: {not_in: [FR, MC]}", "tap.country",
     [("FR", False), ("MC", False), ("JP", True), (MISSING, True)]),
    ("tap.country: {exists: true}", "tap.country", [("FR", True), (MISSING, False)]),
    ("tap.country: {exists: false}", "tap.country", [("FR", False), (MISSING, True)]),
    # Negations are compiled separately (pushed down to the leaves): the opposite answer at the
    # same boundaries, and an unknown fact holds for every negated condition.
    ("tap.number: {not: {gte: 5}}", "tap.number", [(4, True), (5, False), (MISSING, True)]),
    ("tap.number: {not: {gt: 5}}", "tap.number", [(5, True), (6, False), (MISSING, True)]),
    ("tap.number: {not: {lte: 5}}", "tap.number", [(5, False), (6, True), (MISSING, True)]),
    ("tap.number: {not: {lt: 5}}", "tap.number", [(4, False), (5, True), (MISSING, True)]),
    ("tap.number: {not: {between: [3, 7]}}", "tap.number",
     [(2, True), (3, False), (7, False), (8, True), (MISSING, True)]),
    ("tap.number: {not: 5}", "tap.number", [(4, True), (5, False), (MISSING, True)]),
    ("tap.country: {not: {in: [FR, MC]}}", "tap.country",
     [("FR", False), ("MC", False), ("JP", True), (MISSING, True)]),
    ("tap.country: {not: {exists: true}}", "tap.country", [("FR", False), (MISSING, True)]),
]


def _ruleset(condition: str):  # type: ignore[no-untyped-def]
    text = (
        "brand: boundaries\njourneys:\n"
        "  - id: hit\n    priority: 1\n    experience: authenticity\n"
        f"    when: {{tap.verdict: genuine, {condition}}}\n"
    )
    return parse_ruleset(text, "boundaries.yaml")


@pytest.mark.parametrize(
    ("condition", "path", "value", "matches"),
    [
        pytest.param(cond, path, value, matches,
                     id=f"{cond} @ {'missing' if value is MISSING else value}")
        for cond, path, examples in CASES
        for value, matches in examples
    ],
)
def test_each_operator_at_its_boundary(condition, path, value, matches):
    ruleset = _ruleset(condition)
    fact: dict[str, Any] = {"tap.verdict": "genuine"}
    if value is not MISSING:
        fact[path] = value
    decision = decide(ruleset, fact)
    expected = "hit" if matches else None
    assert (decision.journey if decision else None) == expected, "engine"
    assert expected_journey(ruleset, fact) == expected, "explainer"
