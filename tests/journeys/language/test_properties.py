"""Properties of the parser: any input gives a ruleset or problems (never a crash), and
journeys keep their conditions in priority order.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from app.journeys.language import Condition, Group, RulesetInvalid, parse_ruleset_text, when_data
from tests.journeys.language.helpers import EXAMPLE_PATH, EXPERIENCES, MESSAGES, dump
from tests.journeys.language.strategies import whens


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-1000, 1000), whens()),
        min_size=1,
        max_size=6,
        unique_by=lambda pair: pair[0],
    )
)
def test_journeys_sort_by_priority_and_keep_conditions(
    journeys: list[tuple[int, Group]],
) -> None:
    # Each journey gets its own tap.number, so none can shadow another.
    entries = []
    expected = {}
    for index, (priority, tree) in enumerate(journeys):
        marker = Condition("tap.number", "eq", index)
        tree = Group("all", (marker, *tree.children))
        expected[f"j{index}"] = (priority, tree)
        entries.append(
            {"id": f"j{index}", "priority": priority, "experience": "care", "when": when_data(tree)}
        )
    text = dump({"brand": "b", "journeys": entries}, sort_keys=False)
    doc = parse_ruleset_text(text, "r.yaml", experiences=EXPERIENCES, messages=MESSAGES)
    assert [j.priority for j in doc.journeys] == sorted((p for p, _ in journeys), reverse=True)
    for journey in doc.journeys:
        assert (journey.priority, journey.when) == expected[journey.id]


_WORDS = st.sampled_from(
    [
        "brand", "journeys", "id", "priority", "when", "experience", "reward", "rewards", "any",
        "all", "not", "in", "gte", "between", "exists", "tap.verdict", "ownership.days", "prizes",
        "schedules", "cron", "tests", "given", "expect", "journey", "guardrails", "quiet_hours",
        "care", "genuine", "30d", "x",
    ]
)


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 100), _WORDS, st.text(max_size=5))


_DOCS = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(_WORDS, inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(_DOCS)
def test_any_document_gives_a_ruleset_or_problems(data: Any) -> None:
    text = dump(data)
    try:
        parse_ruleset_text(text, "r.yaml", experiences=EXPERIENCES, messages=MESSAGES)
    except RulesetInvalid as exc:
        assert exc.problems
        assert all(p.line >= 1 and p.column >= 1 for p in exc.problems)
        assert [(p.line, p.column) for p in exc.problems] == sorted(
            (p.line, p.column) for p in exc.problems
        )


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_any_text_gives_a_ruleset_or_problems(text: str) -> None:
    try:
        parse_ruleset_text(text, "r.yaml", experiences=EXPERIENCES, messages=MESSAGES)
    except RulesetInvalid as exc:
        assert exc.problems


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a nested structure: dict keys and list indexes."""
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out.extend(_paths(value, (*prefix, index)))
    return out


EXAMPLE = yaml.safe_load(EXAMPLE_PATH.read_text(encoding="utf-8"))
assert isinstance(EXAMPLE, dict)
EXAMPLE_PLACES = [p for p in _paths(EXAMPLE) if p]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(EXAMPLE_PLACES), st.one_of(_DOCS, st.just("__delete__"))),
        min_size=1,
        max_size=3,
    )
)
def test_any_mutation_of_the_example_gives_a_ruleset_or_problems(
    mutations: list[tuple[tuple[Any, ...], Any]],
) -> None:
    data = copy.deepcopy(EXAMPLE)
    for place, value in mutations:
        parent = data
        for step in place[:-1]:
            try:
                parent = parent[step]
            except (KeyError, IndexError, TypeError):
                break
        else:
            last = place[-1]
            try:
                if value == "__delete__":
                    del parent[last]
                else:
                    parent[last] = value
            except (KeyError, IndexError, TypeError):
                pass
    try:
        parse_ruleset_text(
            dump(data, sort_keys=False), "r.yaml",
            experiences=EXPERIENCES, messages=MESSAGES,
        )
    except RulesetInvalid as exc:
        assert exc.problems
