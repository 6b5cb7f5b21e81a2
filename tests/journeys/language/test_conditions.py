"""What conditions mean: trees hold in plain Python, and go back to YAML that parses to them."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from app.journeys import vocabulary
from app.journeys.language import Group, holds, parse_ruleset_file, parse_ruleset_text, when_data
from tests.journeys.language.helpers import EXAMPLE_PATH, EXPERIENCES, MESSAGES, dump
from tests.journeys.language.strategies import whens


def test_the_example_tests_hold_in_plain_python() -> None:
    doc = parse_ruleset_file(
        EXAMPLE_PATH, experiences=EXPERIENCES, messages=MESSAGES
    )
    for case in doc.tests:
        fact = vocabulary.complete_fact(case.given, doc.reward_ids)
        chosen = next(j for j in doc.journeys if holds(j.when, fact))
        assert chosen.id == case.expect["journey"], case.name
        assert chosen.reward == case.expect.get("reward", chosen.reward), case.name


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(whens())
def test_condition_trees_round_trip(tree: Group) -> None:
    data = {
        "brand": "b",
        "journeys": [{"id": "j", "priority": 1, "experience": "care", "when": when_data(tree)}],
    }
    doc = parse_ruleset_text(
        dump(data, sort_keys=False), "r.yaml", experiences=EXPERIENCES, messages=MESSAGES
    )
    assert doc.journeys[0].when == tree
