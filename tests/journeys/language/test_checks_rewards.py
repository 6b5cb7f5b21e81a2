"""The rewards section."""

from __future__ import annotations

from tests.journeys.language.helpers import parse, problems


def test_reward_field_problems() -> None:
    assert problems("""\
        brand: b
        journeys:
          - {id: a, priority: 1, experience: care}
        rewards:
          r:
            mechanic: click_to_revel
            prizes:
              - {id: p, weight: 0, stock: -1}
              - {id: q, code: {lst: x}}
              - {id: s, code: typed}
            holdout: 120%
            expires: someday
            budget: 0
          empty: {}
    """) == [
        "r.yaml:6:15: reward 'r': mechanic 'click_to_revel' is not one of instant, "
        "click_to_reveal, scratch_off, unwrap_gift; did you mean 'click_to_reveal'?",
        "r.yaml:8:25: reward 'r': prize 'p': 'weight' must be a number above 0",
        "r.yaml:8:35: reward 'r': prize 'p': 'stock' cannot be less than 0",
        "r.yaml:9:23: reward 'r': prize 'q': code: 'list' is required",
        "r.yaml:9:24: reward 'r': prize 'q': code: unknown field 'lst'; did you mean 'list'?",
        "r.yaml:10:23: reward 'r': prize 's': 'code' must be generated or {list: NAME}, "
        "not 'typed'",
        "r.yaml:11:14: reward 'r': 'holdout' must be a percentage from 0% to 100%, like 10%, "
        "not '120%'",
        "r.yaml:12:14: reward 'r': 'expires': 'someday' is not a duration: write days as a whole "
        "number or with a unit, like 30d, 12w, 6m (months of 30 days) or 1y",
        "r.yaml:13:13: reward 'r': 'budget' cannot be less than 1",
        "r.yaml:14:10: reward 'empty' gives nothing: give it points or prizes",
    ]


def test_holdout_forms() -> None:
    doc = parse("""\
        brand: b
        journeys:
          - {id: a, priority: 1, experience: care}
        rewards:
          a: {points: 1, holdout: 12.5%}
          b: {points: 1, holdout: 25}
          c: {points: 1}
    """)
    assert [r.holdout for r in doc.rewards.values()] == [12.5, 25, 0]


def test_requires_names_actions_a_reveal_waits_for() -> None:
    doc = parse("""\
        brand: b
        journeys:
          - {id: a, priority: 1, experience: care}
        rewards:
          one: {points: 1, mechanic: click_to_reveal, requires: review}
          two: {points: 1, mechanic: scratch_off, requires: [email_confirmed, service_feedback]}
          none: {points: 1}
    """)
    assert [r.requires for r in doc.rewards.values()] == [
        ("review",), ("email_confirmed", "service_feedback"), ()]


def test_requires_problems() -> None:
    assert problems("""\
        brand: b
        journeys:
          - {id: a, priority: 1, experience: care}
        rewards:
          r: {points: 1, mechanic: click_to_reveal, requires: reveiw}
          s: {points: 1, mechanic: click_to_reveal, requires: [review, tweet]}
          t: {points: 1, mechanic: click_to_reveal, requires: {review: true}}
          u: {points: 1, requires: review}
    """) == [
        "r.yaml:5:55: reward 'r': requires 'reveiw' is not one of review, email_confirmed, "
        "service_feedback; did you mean 'review'?",
        "r.yaml:6:64: reward 's': requires 'tweet' is not one of review, email_confirmed, "
        "service_feedback",
        "r.yaml:7:55: reward 't': 'requires' names actions like review or "
        "[review, email_confirmed], not a mapping",
        "r.yaml:8:28: reward 'u': 'requires' needs a reveal: give it a mechanic "
        "(click_to_reveal, scratch_off or unwrap_gift)",
    ]
