"""Journeys against each other: priority ties that can match the same tap, and journeys a
higher one always takes first.
"""

from __future__ import annotations

import pytest

from tests.journeys.language.helpers import one_problem, parse


def test_priority_tie_is_an_error() -> None:
    assert one_problem("""\
        brand: b
        journeys:
          - id: refill
            priority: 500
            when: {product.category: serum}
            experience: refill
          - id: review
            priority: 500
            when: {owner.is_current: true}
            experience: review
    """) == (
        "r.yaml:8:15: journey 'review' has the same priority (500) as journey 'refill' and both "
        "can match the same tap: give one of them a higher priority"
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("tap.verdict: genuine", "tap.verdict: invalid"),
        ("tap.verdict: {in: [invalid, revoked]}", "tap.verdict: {in: [genuine, replayed]}"),
        ("owner.is_current: true", "owner.is_current: false"),
        ("ownership.days: {lt: 30}", "ownership.days: {gte: 30}"),
        ("ownership.days: {between: [0, 13]}", "ownership.days: {between: [14, 20]}"),
        ("tap.tamper: {exists: false}", "tap.tamper: secure"),
        ("tap.verdict: {not_in: [genuine]}", "tap.verdict: genuine"),
    ],
)
def test_priority_tie_is_fine_when_they_never_both_match(a: str, b: str) -> None:
    doc = parse(f"""\
        brand: b
        journeys:
          - {{id: one, priority: 5, experience: care, when: {{{a}}}}}
          - {{id: two, priority: 5, experience: care, when: {{{b}}}}}
    """)
    assert [j.id for j in doc.journeys] == ["one", "two"]


SHADOWED = [
    # (higher journey's when, lower journey's when)
    ("owner.is_current: true", "owner.is_current: true, product.category: watch"),
    ("", "product.category: watch"),
    ("tap.verdict: {in: [invalid, replayed, revoked]}", "tap.verdict: replayed"),
    ("tap.verdict: {in: [invalid, replayed, revoked]}", "tap.verdict: {in: [invalid, revoked]}"),
    ("ownership.days: {gte: 30}", "ownership.days: {gte: 77}"),
    ("ownership.days: {gte: 30}", "ownership.days: {gt: 30}"),
    ("ownership.days: {gt: 30}", "ownership.days: {gt: 31}"),
    ("ownership.days: {lte: 30}", "ownership.days: {lte: 7}"),
    ("ownership.days: {lt: 30}", "ownership.days: {lt: 30}"),
    ("ownership.days: {lt: 30}", "ownership.days: {between: [1, 29]}"),
    ("ownership.days: {between: [1, 100]}", "ownership.days: {between: [10, 20]}"),
    ("tap.tamper: {exists: true}", "tap.tamper: tampered_open"),
    ("service.count: {exists: true}", "service.count: {lt: 5}"),
    ("tap.verdict: {not_in: [revoked]}", "tap.verdict: genuine"),
    ("any: [{tap.number: 1}, {tap.number: 2}]", "any: [{tap.number: 1}, {tap.number: 2}]"),
]


@pytest.mark.parametrize(("high", "low"), SHADOWED)
def test_unreachable_journey(high: str, low: str) -> None:
    assert one_problem(f"""\
        brand: b
        journeys:
          - id: owners
            priority: 200
            when: {{{high}}}
            experience: care
          - id: care
            priority: 100
            when: {{{low}}}
            experience: care
    """) == (
        "r.yaml:7:9: journey 'care' can never be chosen: journey 'owners' (priority 200) "
        "matches whenever it does"
    )


@pytest.mark.parametrize(
    ("high", "low"),
    [
        ("owner.is_current: true, product.category: watch", "owner.is_current: true"),
        ("ownership.days: {gte: 77}", "ownership.days: {gte: 30}"),
        ("ownership.days: {gt: 30}", "ownership.days: {gte: 30}"),
        ("ownership.days: {lt: 30}", "ownership.days: {lte: 30}"),
        ("tap.verdict: replayed", "tap.verdict: {in: [replayed, revoked]}"),
        ("tap.tamper: {exists: true}", "tap.tamper: {not_in: [secure]}"),
        ("not: {tap.number: 1}", "tap.number: 2"),
        ("any: [{tap.number: 1}, {tap.number: 2}]", "tap.number: 1"),
    ],
)
def test_reachable_journey_is_fine(high: str, low: str) -> None:
    doc = parse(f"""\
        brand: b
        journeys:
          - {{id: high, priority: 2, experience: care, when: {{{high}}}}}
          - {{id: low, priority: 1, experience: care, when: {{{low}}}}}
    """)
    assert [j.id for j in doc.journeys] == ["high", "low"]
