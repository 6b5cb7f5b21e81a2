"""YAML itself: syntax errors at YAML's position, tags YAML cannot build, aliases."""

from __future__ import annotations

from app.journeys.language import Condition, Group
from tests.journeys.language.helpers import one_problem, parse, problems


def test_yaml_syntax_error_has_the_yaml_position() -> None:
    assert one_problem("brand: b\njourneys:\n  - id: a\n\tpriority: 1\n") == (
        "r.yaml:4:1: not valid YAML: found character '\\t' that cannot start any token "
        "(indent with spaces, not tabs)"
    )
    assert one_problem("brand: b\njourneys:\n  - id: a\n    priority: [1\n") == (
        "r.yaml:5:1: not valid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence that starts on line 4, column 15)"
    )
    assert one_problem("brand: b\njourneys: x: y\n") == (
        "r.yaml:2:12: not valid YAML: mapping values are not allowed here"
    )


def test_tags_yaml_cannot_build_are_reported_not_raised() -> None:
    assert problems("""\
        brand: b
        journeys:
          - id: a
            priority: !!int high
            experience: care
            content: {film: !movie x}
    """) == [
        "r.yaml:4:15: journey 'a': 'priority' must be a whole number, not 'high'",
        "r.yaml:6:14: journey 'a': 'content' cannot be read: "
        "could not determine a constructor for the tag '!movie'",
    ]


def test_an_alias_inside_itself_is_refused() -> None:
    assert one_problem("""\
        brand: b
        journeys:
          - id: a
            priority: 1
            experience: care
            when: &loop {any: [*loop]}
    """) == "r.yaml:6:11: an alias (*name) refers to the block it is in: it never ends"


def test_aliases_reuse_conditions() -> None:
    doc = parse("""\
        brand: b
        journeys:
          - id: a
            priority: 2
            experience: care
            when: &owner {owner.is_current: true, tap.verdict: genuine}
          - id: b
            priority: 1
            experience: care
            when: {all: [*owner], product.category: watch}
    """)
    owner = Group("all", (
        Condition("owner.is_current", "eq", True), Condition("tap.verdict", "eq", "genuine"),
    ))
    assert doc.journeys[0].when == owner
    assert doc.journeys[1].when.children[0] == Group("all", (owner,))
