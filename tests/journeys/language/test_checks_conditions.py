"""Conditions under ``when``: normalised trees, and every problem a condition can have."""

from __future__ import annotations

from app.journeys.language import Condition, Group, parse_ruleset_file
from tests.journeys.language.helpers import (
    EXAMPLE_PATH,
    EXPERIENCES,
    MESSAGES,
    journey_with,
    one_problem,
    parse,
    problems,
    when_of,
)


def test_the_example_service_due_tree() -> None:
    doc = parse_ruleset_file(
        EXAMPLE_PATH, experiences=EXPERIENCES, messages=MESSAGES
    )
    service = next(j for j in doc.journeys if j.id == "service-due")
    assert service.when == Group("all", (
        Condition("owner.is_current", "eq", True),
        Group("any", (
            Condition("service.days_since_last", "gte", 730),
            Group("all", (
                Condition("service.count", "eq", 0),
                Condition("ownership.days", "gte", 730),
            )),
        )),
    ))
    any_group = service.when.children[1]
    assert isinstance(any_group, Group)
    assert (any_group.line, any_group.column) == (69, 7)
    inner = any_group.children[1]
    assert isinstance(inner, Group)
    assert (inner.line, inner.column) == (71, 11)
    assert (inner.children[0].line, inner.children[0].column) == (72, 15)


def test_durations_become_days() -> None:
    tree = when_of("""\
        ownership.days: {gte: 11w}
        warranty.days_left: {between: [1m, 1y]}
        service.days_since_last: {in: [30d, 60]}
        tap.days_since_last: "2w"
        item.age_days: {lt: 3y}
    """)
    assert tree.children == (
        Condition("ownership.days", "gte", 77),
        Condition("warranty.days_left", "between", (30, 365)),
        Condition("service.days_since_last", "in", (30, 60)),
        Condition("tap.days_since_last", "eq", 14),
        Condition("item.age_days", "lt", 1095),
    )


def test_not_normalises() -> None:
    tree = when_of("""\
        product.category: {not: watch}
        ownership.days: {not: {gte: 30d}}
        not:
          owner.is_current: true
          ownership.ordinal: {gte: 2}
    """)
    assert tree.children == (
        Group("not", (Condition("product.category", "eq", "watch"),)),
        Group("not", (Condition("ownership.days", "gte", 30),)),
        Group("not", (
            Condition("owner.is_current", "eq", True),
            Condition("ownership.ordinal", "gte", 2),
        )),
    )
    assert [(c.line, c.column) for c in tree.children] == [(7, 26), (8, 24), (9, 7)]


def test_nested_any_all_normalise() -> None:
    tree = when_of("""\
        any:
          - owner.is_current: true
            owner.points: {gte: 100}
          - all:
              - service.count: 0
              - any: {tap.weekday: sat, tap.local_hour: {lt: 9}}
          - tap.tamper: {exists: false}
    """)
    assert tree == Group("all", (
        Group("any", (
            Group("all", (
                Condition("owner.is_current", "eq", True),
                Condition("owner.points", "gte", 100),
            )),
            Group("all", (
                Condition("service.count", "eq", 0),
                Group("any", (
                    Condition("tap.weekday", "eq", "sat"),
                    Condition("tap.local_hour", "lt", 9),
                )),
            )),
            Condition("tap.tamper", "exists", False),
        )),
    ))


def test_values_normalise_to_their_type() -> None:
    tree = when_of("""\
        tap.country: fr
        item.market: NO
        tap.weekday: {in: [Monday, TUE]}
        item.serial: 12345
        product.vintage: {gte: 2010}
        product.material: leather
        reward.r.available: false
        tap.verdict: {not_in: [revoked]}
    """, "rewards:\n  r: {points: 1}\n")
    assert tree.children == (
        Condition("tap.country", "eq", "FR"),
        Condition("item.market", "eq", "NO"),  # not the YAML 1.1 boolean
        Condition("tap.weekday", "in", ("mon", "tue")),
        Condition("item.serial", "eq", "12345"),
        Condition("product.vintage", "gte", 2010),
        Condition("product.material", "eq", "leather"),
        Condition("reward.r.available", "eq", False),
        Condition("tap.verdict", "not_in", ("revoked",)),
    )


def test_missing_or_empty_when_is_always() -> None:
    doc = parse("""\
        brand: b
        journeys:
          - {id: a, priority: 2, experience: care, when: {tap.verdict: invalid}}
          - {id: b, priority: 1, experience: care, when: {}}
    """)
    assert doc.journeys[1].when == Group("all", ())
    doc = parse("brand: b\njourneys:\n  - {id: a, priority: 2, experience: care}\n")
    assert doc.journeys[0].when == Group("all", ())


def test_unknown_fact_with_suggestion() -> None:
    assert one_problem(journey_with("owner.is_curent: true\n").replace("id: j", "id: care")) == (
        "r.yaml:7:7: journey 'care': unknown fact 'owner.is_curent'; "
        "did you mean 'owner.is_current'?"
    )
    assert one_problem(journey_with("colour: red\n")) == (
        "r.yaml:7:7: journey 'j': unknown fact 'colour'"
    )


def test_unknown_fact_inside_groups() -> None:
    assert one_problem(journey_with("""\
        any:
          - tap.verdit: genuine
    """)) == "r.yaml:8:11: journey 'j': unknown fact 'tap.verdit'; did you mean 'tap.verdict'?"


def test_reward_availability_needs_a_defined_reward() -> None:
    text = journey_with(
        "reward.review-revea.available: true\n", "rewards:\n  review-reveal: {points: 1}\n"
    )
    assert one_problem(text) == (
        "r.yaml:7:7: journey 'j': unknown fact 'reward.review-revea.available': "
        "reward 'review-revea' is not defined; did you mean 'review-reveal'?"
    )


def test_value_outside_the_closed_set() -> None:
    assert one_problem(journey_with("tap.verdict: genuin\n")) == (
        "r.yaml:7:20: journey 'j': tap.verdict is never 'genuin' (it is one of: genuine, invalid, "
        "replayed, revoked, unknown_tag); did you mean 'genuine'?"
    )
    assert one_problem(journey_with("ownership.state: {in: [owned, sold]}\n")) == (
        "r.yaml:7:37: journey 'j': ownership.state is never 'sold' (it is one of: unclaimed, owned)"
    )


def test_values_of_the_wrong_type() -> None:
    assert problems(journey_with("""\
        ownership.days: {gte: soon}
        owner.is_current: maybe
        tap.number: {lt: 1.5}
        tap.local_hour: 24
        tap.country: France
        product.size: {gt: big}
        tap.tamper: {exists: yes please}
    """)) == [
        "r.yaml:7:29: journey 'j': ownership.days: gte needs a number of days (like 30 or 30d), "
        "not 'soon'",
        "r.yaml:8:25: journey 'j': owner.is_current needs true or false, not 'maybe'",
        "r.yaml:9:24: journey 'j': tap.number: lt needs a whole number, not '1.5'",
        "r.yaml:10:23: journey 'j': tap.local_hour needs an hour from 0 to 23, not '24'",
        "r.yaml:11:20: journey 'j': tap.country needs a two-letter country code like FR, "
        "not 'France'",
        "r.yaml:12:26: journey 'j': product.size: gt needs a number, not 'big'",
        "r.yaml:13:28: journey 'j': tap.tamper: exists takes true or false, not 'yes please'",
    ]


def test_comparing_text() -> None:
    assert one_problem(journey_with("product.category: {gte: serum}\n")) == (
        "r.yaml:7:26: journey 'j': product.category holds text, so it cannot be compared with "
        "'gte'; give a value, or use in / not_in"
    )


def test_operator_shapes() -> None:
    assert problems(journey_with("""\
        ownership.days: {gtee: 3}
        owner.points: {gt: 1, lt: 5}
        tap.verdict: [genuine, invalid]
        tap.number:
        service.count: {between: [5, 1]}
        owner.points: {in: 3}
        all: []
        not: yes
    """)) == [
        "r.yaml:7:24: journey 'j': ownership.days: unknown operator 'gtee'; did you mean 'gte'? "
        "(operators: in, not_in, gte, gt, lte, lt, between, exists, not)",
        "r.yaml:8:21: journey 'j': owner.points needs a value or exactly one operator "
        "(in, not_in, gte, gt, lte, lt, between, exists, not), not 2 "
        "(use between: [low, high] for a range)",
        "r.yaml:9:20: journey 'j': tap.verdict is given a list; write {in: [...]} to match any "
        "of its values",
        "r.yaml:10:18: journey 'j': tap.number has no value; write {exists: false} to match when "
        "it is not known",
        "r.yaml:11:32: journey 'j': service.count: between needs the lower value first",
        "r.yaml:12:7: journey 'j': 'owner.points' is given twice (first on line 8)",
        "r.yaml:13:12: journey 'j': 'all' needs at least one condition",
        "r.yaml:14:12: journey 'j': 'not' must be a mapping of conditions, not 'yes'",
    ]


def test_group_entry_problems() -> None:
    assert problems(journey_with("any: [{}, x, {tap.number: 1}]\n")) == [
        "r.yaml:7:13: journey 'j': an entry under 'any' has no condition",
        "r.yaml:7:17: journey 'j': each entry under 'any' must be conditions like "
        "- fact: value, not 'x'",
    ]
