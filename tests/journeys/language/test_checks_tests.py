"""The tests section: given facts and what each test expects."""

from __future__ import annotations

from tests.journeys.language.helpers import parse, problems


def test_test_problems() -> None:
    assert problems("""\
        brand: b
        journeys:
          - {id: care, priority: 1, experience: care}
        rewards:
          r: {points: 1}
        tests:
          - name: one
            given: {owner.is_curent: true, tap.verdict: fake, ownership.days: 2w}
            expect: {journey: carre, reward: nope, experience: caer}
          - name: two
            given: {}
            expect: {}
          - name: three
            given: {reward.r.available: false, tap.tamper: null}
            expect: {journey: null, reward: null}
          - given: {}
    """) == [
        "r.yaml:8:13: test 'one': unknown fact 'owner.is_curent'; did you mean 'owner.is_current'?",
        "r.yaml:8:49: test 'one': given: tap.verdict is never 'fake' (it is one of: genuine, "
        "invalid, replayed, revoked, unknown_tag)",
        "r.yaml:9:23: test 'one': expects journey 'carre', which is not defined; "
        "did you mean 'care'?",
        "r.yaml:9:38: test 'one': expects reward 'nope', which is not defined",
        "r.yaml:9:56: test 'one': expects experience 'caer', which has no template "
        "templates/experiences/caer.html; did you mean 'care'?",
        "r.yaml:12:13: test 'two': expect needs 'journey' (or journey: null for none)",
        "r.yaml:16:5: test #4: 'name' is required",
        "r.yaml:16:5: test #4: 'expect' is required",
    ]


def test_tests_keep_their_partial_given() -> None:
    doc = parse("""\
        brand: b
        journeys:
          - {id: care, priority: 1, experience: care}
        rewards:
          r: {points: 1}
        tests:
          - name: three
            given: {reward.r.available: false, tap.tamper: null, ownership.days: 2w}
            expect: {journey: null, reward: null}
    """)
    case = doc.tests[0]
    assert case.given == {"reward.r.available": False, "tap.tamper": None, "ownership.days": 14}
    assert case.expect == {"journey": None, "reward": None}
    assert (case.line, case.column) == (7, 5)
