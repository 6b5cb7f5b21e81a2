"""The journeys section: required fields, types, and what a journey refers to (templates,
rewards, actions).
"""

from __future__ import annotations

from tests.journeys.language.helpers import one_problem, problems


def test_missing_journey_fields() -> None:
    assert problems("""\
        brand: b
        journeys:
          - when: {}
          - id: a
            experience: care
          - id: c
            priority: 3
    """) == [
        "r.yaml:3:5: journey #1: 'id' is required",
        "r.yaml:3:5: journey #1: 'priority' is required",
        "r.yaml:3:5: journey #1: 'experience' is required",
        "r.yaml:4:5: journey 'a': 'priority' is required",
        "r.yaml:6:5: journey 'c': 'experience' is required",
    ]


def test_wrong_types() -> None:
    assert problems("""\
        brand: b
        journeys:
          - id: a
            priority: high
            experience: care
            when: [tap.verdict]
            do: {claim_ownership: 1}
            content: nice
          - just text
    """) == [
        "r.yaml:4:15: journey 'a': 'priority' must be a whole number, not 'high'",
        "r.yaml:6:11: journey 'a': 'when' must be a mapping of conditions (fact: value), "
        "not a list",
        "r.yaml:7:9: journey 'a': 'do' must be a list of actions like [claim_ownership], "
        "not a mapping",
        "r.yaml:8:14: journey 'a': 'content' must be a mapping "
        "(heading, body, cta, media, blocks), not 'nice'",
        "r.yaml:9:5: journey #2 must be a mapping with id, priority, when and experience",
    ]


def test_a_key_given_twice() -> None:
    assert one_problem("""\
        brand: b
        journeys:
          - id: a
            priority: 1
            experience: care
            priority: 2
    """) == "r.yaml:6:5: journey 'a': 'priority' is given twice (first on line 4)"


def test_unknown_experience_template() -> None:
    assert one_problem("brand: b\njourneys:\n  - {id: a, priority: 1, experience: unboxin}\n") == (
        "r.yaml:3:38: journey 'a': experience 'unboxin' has no template "
        "templates/experiences/unboxin.html; did you mean 'unboxing'?"
    )


def test_unknown_reward() -> None:
    assert one_problem("""\
        brand: b
        journeys:
          - id: review-reveal
            priority: 500
            experience: review
            reward: review-revea
        rewards:
          review-reveal: {points: 10}
    """) == (
        "r.yaml:6:13: journey 'review-reveal': reward 'review-revea' is not defined; "
        "did you mean 'review-reveal'?"
    )


def test_unknown_action() -> None:
    assert problems("""\
        brand: b
        journeys:
          - id: a
            priority: 1
            experience: care
            do: [claim_owner, dance, activate_warranty]
    """) == [
        "r.yaml:6:10: journey 'a': unknown action 'claim_owner'; did you mean 'claim_ownership'?",
        "r.yaml:6:23: journey 'a': unknown action 'dance' (actions are: activate_warranty, "
        "claim_ownership, confirm_ownership, offer_service, record_signal, start_transfer)",
    ]
