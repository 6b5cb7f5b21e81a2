"""The journey language: every rule reports FILE:LINE:COLUMN with a plain message.

Each test writes its YAML inline; the expected line and column were counted by hand (1-based) and
point at the offending key or value.
"""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.journeys import vocabulary
from app.journeys.language import (
    ACTIONS,
    Condition,
    Group,
    Problem,
    RulesetDoc,
    RulesetInvalid,
    holds,
    parse_ruleset_file,
    parse_ruleset_text,
    when_data,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXPERIENCES = {
    "not_verified", "unboxing", "new_owner", "authenticity", "refill", "review", "service",
    "owner_film", "care",
}
MESSAGES = {"refill_email", "win_back_email"}


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(data: Any, sort_keys: bool = True) -> str:
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=sort_keys)


def parse(text: str, source: str = "r.yaml") -> RulesetDoc:
    return parse_ruleset_text(
        textwrap.dedent(text), source, experiences=EXPERIENCES, messages=MESSAGES, actions=ACTIONS
    )


def problems(text: str) -> list[str]:
    with pytest.raises(RulesetInvalid) as info:
        parse(text)
    assert str(info.value) == "\n".join(str(p) for p in info.value.problems)
    return [str(p) for p in info.value.problems]


def one_problem(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


# --- the example ---------------------------------------------------------------------------------


def test_the_example_ruleset_parses() -> None:
    doc = parse_ruleset_file(
        HERE / "ruleset-shape.yaml", experiences=EXPERIENCES, messages=MESSAGES, actions=ACTIONS
    )
    assert doc.brand == "maison-aurelia"
    assert doc.title == "Maison Aurelia post-purchase"
    assert doc.timezone == "Europe/Paris"
    assert doc.locale == "en"
    assert [j.id for j in doc.journeys] == [
        "counterfeit-warning", "unboxing", "new-owner-welcome", "grey-market-check", "serum-refill",
        "review-reveal", "service-due", "watchmaker-film", "care", "visitor",
    ]
    unboxing = doc.journeys[1]
    assert unboxing.do == ("claim_ownership", "activate_warranty")
    assert unboxing.reward == "welcome-points"
    assert doc.journeys[3].signal == "grey_market"
    assert doc.journeys[7].content == {"film": "movement-documentary"}
    assert doc.journeys[-1].when == Group("all", ())

    g = doc.guardrails
    assert (g.rewards_per_owner.max, g.rewards_per_owner.per) == (3, 30)  # type: ignore[union-attr]
    assert (g.messages_per_owner.max, g.messages_per_owner.per) == (2, 7)  # type: ignore[union-attr]
    assert (g.quiet_hours.start, g.quiet_hours.end) == ("21:00", "08:00")  # type: ignore[union-attr]

    assert list(doc.rewards) == ["welcome-points", "review-reveal", "refill-scratch"]
    welcome = doc.rewards["welcome-points"]
    assert (welcome.points, welcome.mechanic, welcome.limit.per_item) == (100, "instant", 1)
    reveal = doc.rewards["review-reveal"]
    assert reveal.mechanic == "click_to_reveal"
    assert [(p.id, p.weight, p.stock, p.code, p.code_list) for p in reveal.prizes] == [
        ("ten-off", 70, 5000, "generated", None),
        ("travel-size", 25, 500, "list", "travel-size-codes"),
        ("masterclass", 5, 20, None, None),
    ]
    assert reveal.consolation is not None
    assert (reveal.consolation.id, reveal.consolation.points) == ("thank-you", 20)
    assert (reveal.limit.per_owner, reveal.limit.per_day) == (1, 500)
    assert (reveal.expires, reveal.holdout) == (30, 10)
    scratch = doc.rewards["refill-scratch"]
    assert (scratch.limit.per_owner, scratch.limit.per, scratch.expires) == (1, 60, 14)

    assert [(s.id, s.cron, s.message, s.channel) for s in doc.schedules] == [
        ("refill-reminder", "0 9 * * *", "refill_email", ("email",)),
        ("dormant-win-back", "0 10 * * MON", "win_back_email", ("email", "crm_webhook")),
    ]
    assert doc.schedules[0].when.children == (
        Condition("product.category", "eq", "serum"),
        Condition("ownership.days", "eq", 77),
        Condition("owner.email_opt_in", "eq", True),
    )
    assert [t.name for t in doc.tests][:2] == [
        "a new serum's first tap unboxes it", "a copied link is refused",
    ]
    assert doc.tests[1].given == {"tap.verdict": "replayed"}  # partial: defaults come later
    assert doc.tests[0].expect == {"journey": "unboxing", "reward": "welcome-points"}


def test_the_example_tests_hold_in_plain_python() -> None:
    doc = parse_ruleset_file(
        HERE / "ruleset-shape.yaml", experiences=EXPERIENCES, messages=MESSAGES
    )
    for case in doc.tests:
        fact = vocabulary.complete_fact(case.given, doc.reward_ids)
        chosen = next(j for j in doc.journeys if holds(j.when, fact))
        assert chosen.id == case.expect["journey"], case.name
        assert chosen.reward == case.expect.get("reward", chosen.reward), case.name


def test_the_service_rulesets_parse() -> None:
    templates = REPO / "templates"
    experiences = {p.stem for p in (templates / "experiences").glob("*.html")}
    messages = {p.stem for p in (templates / "messages").glob("*.html")}
    for path in sorted((REPO / "rulesets").glob("*.yaml")):
        doc = parse_ruleset_file(path, experiences=experiences, messages=messages)
        assert doc.journeys[0].priority == max(j.priority for j in doc.journeys)


def test_the_example_service_due_tree() -> None:
    doc = parse_ruleset_file(
        HERE / "ruleset-shape.yaml", experiences=EXPERIENCES, messages=MESSAGES
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


def test_actions_registry() -> None:
    assert set(ACTIONS) == {
        "claim_ownership", "confirm_ownership", "activate_warranty", "record_signal",
        "offer_service", "start_transfer",
    }


def test_problem_format() -> None:
    assert str(Problem("r.yaml", 3, 7, "oops")) == "r.yaml:3:7: oops"
    error = RulesetInvalid([Problem("a", 1, 2, "x"), Problem("a", 3, 4, "y")])
    assert str(error) == "a:1:2: x\na:3:4: y"
    assert len(error.problems) == 2


# --- normalisation -------------------------------------------------------------------------------

HEAD = "brand: b\njourneys:\n  - id: j\n    priority: 1\n    experience: care\n    when:\n"


def when_of(lines: str, extra: str = "") -> Group:
    doc = parse(HEAD + textwrap.indent(textwrap.dedent(lines), "      ") + extra)
    return doc.journeys[0].when


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


def test_unquoted_quiet_hours_are_times() -> None:
    doc = parse("""\
        brand: b
        guardrails:
          quiet_hours: {from: 21:30, to: 7:05}
        journeys:
          - {id: a, priority: 1, experience: care}
    """)
    assert doc.guardrails.quiet_hours is not None
    assert (doc.guardrails.quiet_hours.start, doc.guardrails.quiet_hours.end) == ("21:30", "07:05")


def test_journeys_sort_by_priority_stably() -> None:
    doc = parse("""\
        brand: b
        journeys:
          - {id: low, priority: 1, experience: care, when: {tap.number: 1}}
          - {id: tie-a, priority: 5, experience: care, when: {tap.verdict: genuine}}
          - {id: high, priority: 9, experience: care, when: {tap.number: 2}}
          - {id: tie-b, priority: 5, experience: care, when: {tap.verdict: invalid}}
    """)
    assert [j.id for j in doc.journeys] == ["high", "tie-a", "tie-b", "low"]


# --- YAML and document shape ---------------------------------------------------------------------


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


def test_empty_and_non_mapping_files() -> None:
    assert one_problem("") == (
        "r.yaml:1:1: the file is empty: a ruleset needs 'brand' and 'journeys'"
    )
    assert one_problem("- a\n") == (
        "r.yaml:1:1: a ruleset is a mapping with 'brand' and 'journeys', not a list"
    )


def test_missing_brand_and_journeys() -> None:
    assert problems("title: t\n") == [
        "r.yaml:1:1: 'brand' is required",
        "r.yaml:1:1: 'journeys' is required",
    ]
    assert one_problem("brand: b\njourneys: []\n") == (
        "r.yaml:2:11: 'journeys' needs at least one journey"
    )


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
        "(names and values for the template), not 'nice'",
        "r.yaml:9:5: journey #2 must be a mapping with id, priority, when and experience",
    ]


def test_unknown_fields_at_every_level() -> None:
    assert problems("""\
        brand: b
        jouneys: []
        guardrails:
          reward_per_owner: {max: 1, per: 1d}
        journeys:
          - id: a
            priority: 1
            experiance: care
        rewards:
          r:
            point: 1
            limit: {per_owners: 1}
            prizes:
              - {id: p, wieght: 1}
        schedules:
          - {id: s, cron: "* * * * *", message: refill_email, chanel: sms}
        tests:
          - {name: t, given: {}, expect: {journey: a, rewrd: r}}
    """) == [
        "r.yaml:2:1: unknown section 'jouneys'; did you mean 'journeys'?",
        "r.yaml:4:3: guardrails: unknown field 'reward_per_owner'; "
        "did you mean 'rewards_per_owner'?",
        "r.yaml:6:5: journey 'a': 'experience' is required",
        "r.yaml:8:5: journey 'a': unknown field 'experiance'; did you mean 'experience'?",
        "r.yaml:11:5: reward 'r': unknown field 'point'; did you mean 'points'?",
        "r.yaml:12:13: reward 'r': limit: unknown field 'per_owners'; did you mean 'per_owner'?",
        "r.yaml:14:17: reward 'r': prize: unknown field 'wieght'; did you mean 'weight'?",
        "r.yaml:16:55: schedule 's': unknown field 'chanel'; did you mean 'channel'?",
        "r.yaml:18:47: test 't': expect: unknown field 'rewrd'; did you mean 'reward'?",
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


def test_ids_must_be_slugs() -> None:
    assert problems("""\
        brand: Maison Aurelia
        journeys:
          - {id: Serum_Refill, priority: 1, experience: care}
        rewards:
          Big: {points: 1}
    """) == [
        "r.yaml:1:8: brand 'Maison Aurelia' must be lowercase letters, digits and dashes, "
        "like maison-aurelia",
        "r.yaml:3:10: journey #1: id 'Serum_Refill' must be lowercase letters, digits and dashes, "
        "like serum-refill",
        "r.yaml:5:3: reward 'Big': a reward id must be lowercase letters, digits and dashes, "
        "like welcome-points",
    ]


# --- conditions ----------------------------------------------------------------------------------


def journey_with(when_lines: str, extra: str = "") -> str:
    """A one-journey ruleset whose ``when`` lines start on line 7, column 7."""
    return HEAD + textwrap.indent(textwrap.dedent(when_lines), "      ") + extra


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


# --- references: templates, rewards, actions ----------------------------------------------------


def test_unknown_experience_template() -> None:
    assert one_problem("brand: b\njourneys:\n  - {id: a, priority: 1, experience: unboxin}\n") == (
        "r.yaml:3:38: journey 'a': experience 'unboxin' has no template "
        "templates/experiences/unboxin.html; did you mean 'unboxing'?"
    )


def test_unknown_message_template() -> None:
    assert one_problem("""\
        brand: b
        journeys:
          - {id: a, priority: 1, experience: care}
        schedules:
          - id: s
            cron: "0 9 * * *"
            message: refil_email
    """) == (
        "r.yaml:7:14: schedule 's': message 'refil_email' has no template "
        "templates/messages/refil_email.html; did you mean 'refill_email'?"
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


def test_custom_registries_are_used() -> None:
    text = "brand: b\njourneys:\n  - {id: a, priority: 1, experience: x, do: [wave]}\n"
    doc = parse_ruleset_text(text, "r.yaml", experiences={"x"}, messages=set(), actions={"wave"})
    assert doc.journeys[0].do == ("wave",)


# --- duplicates ----------------------------------------------------------------------------------


def test_duplicate_ids() -> None:
    assert problems("""\
        brand: b
        journeys:
          - {id: a, priority: 2, experience: care, when: {tap.number: 1}}
          - {id: a, priority: 1, experience: care, when: {tap.number: 2}}
        rewards:
          r:
            prizes:
              - {id: p}
              - {id: p}
        schedules:
          - {id: s, cron: "0 9 * * *", message: refill_email}
          - {id: s, cron: "0 9 * * *", message: refill_email}
        tests:
          - {name: t, given: {}, expect: {journey: a}}
          - {name: t, given: {}, expect: {journey: a}}
    """) == [
        "r.yaml:4:10: journey 'a': this id is already used by the journey on line 3",
        "r.yaml:9:9: reward 'r': prize id 'p' is used twice (first on line 8)",
        "r.yaml:12:5: schedule 's': this id is already used by the schedule on line 11",
        "r.yaml:15:5: test 't': this name is already used by the test on line 14",
    ]


# --- priorities ----------------------------------------------------------------------------------


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


# --- rewards, schedules, guardrails --------------------------------------------------------------


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


def test_schedule_problems() -> None:
    assert problems("""\
        brand: b
        journeys:
          - {id: a, priority: 1, experience: care}
        schedules:
          - id: s
            cron: "0 9 * *"
            message: refill_email
            channel: [email, fax]
          - id: t
            cron: "61 9 * * FUN"
            message: refill_email
            when: {owner.is_curent: true}
          - {id: u}
    """) == [
        "r.yaml:6:11: schedule 's': cron '0 9 * *' needs 5 fields "
        "(minute hour day-of-month month weekday), not 4",
        "r.yaml:8:22: schedule 's': channel 'fax' is not one of email, crm_webhook, sms",
        "r.yaml:10:11: schedule 't': cron '61 9 * * FUN': the minute field '61' is not valid "
        "(use *, numbers 0-59, ranges a-b, lists a,b and steps */n)",
        "r.yaml:10:11: schedule 't': cron '61 9 * * FUN': the weekday field 'FUN' is not valid "
        "(use *, numbers 0-7 or names like MON, ranges a-b, lists a,b and steps */n)",
        "r.yaml:12:12: schedule 't': unknown fact 'owner.is_curent'; "
        "did you mean 'owner.is_current'?",
        "r.yaml:13:5: schedule 'u': 'cron' is required",
        "r.yaml:13:5: schedule 'u': 'message' is required",
    ]


@pytest.mark.parametrize(
    "cron", ["*/15 * * * *", "0 9-17/2 * * MON-FRI", "30 8 1,15 JAN,jul *", "0 0 * * 0,7"]
)
def test_valid_crons(cron: str) -> None:
    doc = parse(f"""\
        brand: b
        journeys:
          - {{id: a, priority: 1, experience: care}}
        schedules:
          - {{id: s, cron: "{cron}", message: refill_email, channel: sms}}
    """)
    assert doc.schedules[0].cron == cron
    assert doc.schedules[0].channel == ("sms",)


def test_guardrail_problems() -> None:
    assert problems("""\
        brand: b
        timezone: Europe/Pars
        locale: english
        guardrails:
          rewards_per_owner: {max: 3, per: soon}
          messages_per_owner: {max: 2}
          quiet_hours: {from: "21:00", to: "25:00"}
        journeys:
          - {id: a, priority: 1, experience: care}
    """) == [
        "r.yaml:2:11: timezone 'Europe/Pars' is not a known time zone (like Europe/Paris); "
        "did you mean 'Europe/Paris'?",
        "r.yaml:3:9: locale 'english' must be a language code like en or fr-FR",
        "r.yaml:5:36: guardrails: rewards_per_owner: 'per': 'soon' is not a duration: write days "
        "as a whole number or with a unit, like 30d, 12w, 6m (months of 30 days) or 1y",
        "r.yaml:6:23: guardrails: messages_per_owner: 'per' is required",
        "r.yaml:7:36: guardrails: quiet_hours: 'to' must be a time like \"21:00\", not '25:00'",
    ]


# --- tests section -------------------------------------------------------------------------------


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


# --- many problems at once -----------------------------------------------------------------------


def test_all_problems_are_reported_in_line_order() -> None:
    found = problems("""\
        brand: b
        tests:
          - {name: t, given: {tap.verdit: genuine}, expect: {journey: care}}
        journeys:
          - id: care
            priority: 100
            when:
              owner.is_curent: true
            experience: caer
            reward: review-revea
        rewards:
          review-reveal: {points: 1, mechanic: scratch}
    """)
    assert found == [
        "r.yaml:3:23: test 't': unknown fact 'tap.verdit'; did you mean 'tap.verdict'?",
        "r.yaml:8:7: journey 'care': unknown fact 'owner.is_curent'; "
        "did you mean 'owner.is_current'?",
        "r.yaml:9:17: journey 'care': experience 'caer' has no template "
        "templates/experiences/caer.html; did you mean 'care'?",
        "r.yaml:10:13: journey 'care': reward 'review-revea' is not defined; "
        "did you mean 'review-reveal'?",
        "r.yaml:12:40: reward 'review-reveal': mechanic 'scratch' is not one of instant, "
        "click_to_reveal, scratch_off, unwrap_gift; did you mean 'scratch_off'?",
    ]


def test_source_is_the_given_file_name(tmp_path: Path) -> None:
    path = tmp_path / "brand.yaml"
    path.write_text("brand: b\n", encoding="utf-8")
    with pytest.raises(RulesetInvalid) as info:
        parse_ruleset_file(path, experiences=EXPERIENCES, messages=MESSAGES)
    assert str(info.value) == f"{path}:1:1: 'journeys' is required"


# --- properties ----------------------------------------------------------------------------------

_VALUES: dict[str, Any] = {
    "tap.verdict": st.sampled_from(vocabulary.FACTS["tap.verdict"].values),
    "ownership.state": st.sampled_from(("unclaimed", "owned")),
    "owner.is_current": st.booleans(),
    "owner.has_reviewed": st.booleans(),
    "ownership.days": st.integers(0, 2000),
    "service.count": st.integers(0, 20),
    "tap.local_hour": st.integers(0, 23),
    "product.category": st.sampled_from(("serum", "watch", "bag", "yes", "12")),
    "tap.country": st.sampled_from(("FR", "NO", "US", "ON")),
    "product.volume": st.integers(-5, 500),
}
_NUMERIC = {"ownership.days", "service.count", "tap.local_hour", "product.volume"}


@st.composite
def conditions(draw: st.DrawFn, path: str | None = None) -> Condition:
    path = path or draw(st.sampled_from(sorted(_VALUES)))
    value = _VALUES[path]
    ops = ["eq", "in", "not_in", "exists"] + (
        ["gte", "gt", "lte", "lt", "between"] if path in _NUMERIC else []
    )
    op = draw(st.sampled_from(ops))
    if op in ("in", "not_in"):
        return Condition(path, op, tuple(draw(st.lists(value, min_size=1, max_size=3))))
    if op == "between":
        low, high = sorted(draw(st.lists(value, min_size=2, max_size=2)))
        return Condition(path, op, (low, high))
    if op == "exists":
        return Condition(path, op, draw(st.booleans()))
    return Condition(path, op, draw(value))


def nodes(depth: int) -> st.SearchStrategy[Condition | Group]:
    if depth == 0:
        return conditions()
    return st.one_of(
        conditions(),
        st.builds(
            Group,
            st.sampled_from(("all", "any", "not")),
            st.lists(nodes(depth - 1), min_size=1, max_size=3).map(tuple),
        ),
    )


@st.composite
def whens(draw: st.DrawFn) -> Group:
    """A top-level ``when``: distinct paths, at most one group of each kind."""
    paths = draw(st.lists(st.sampled_from(sorted(_VALUES)), unique=True, max_size=4))
    children: list[Condition | Group] = [draw(conditions(p)) for p in paths]
    for kind in draw(st.lists(st.sampled_from(("all", "any", "not")), unique=True, max_size=2)):
        items = draw(st.lists(nodes(2), min_size=1, max_size=3))
        children.append(Group(kind, tuple(items)))
    return Group("all", tuple(draw(st.permutations(children))))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(whens())
def test_condition_trees_round_trip(tree: Group) -> None:
    data = {
        "brand": "b",
        "journeys": [{"id": "j", "priority": 1, "experience": "care", "when": when_data(tree)}],
    }
    doc = parse_ruleset_text(
        _dump(data, sort_keys=False), "r.yaml", experiences=EXPERIENCES, messages=MESSAGES
    )
    assert doc.journeys[0].when == tree


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
    text = _dump({"brand": "b", "journeys": entries}, sort_keys=False)
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
    text = _dump(data)
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


EXAMPLE = yaml.safe_load((HERE / "ruleset-shape.yaml").read_text(encoding="utf-8"))
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
            _dump(data, sort_keys=False), "r.yaml",
            experiences=EXPERIENCES, messages=MESSAGES,
        )
    except RulesetInvalid as exc:
        assert exc.problems


# --- the marketer's guide ------------------------------------------------------------------------

GUIDE = REPO / "docs" / "journeys.md"
_ONE_JOURNEY = "brand: b\njourneys:\n  - {id: j, priority: 1, experience: care}\n"
_WRAPS = {
    "journeys:": "brand: b\n{block}",
    "  - id:": "brand: b\njourneys:\n{block}rewards:\n  welcome-points: {points: 1}\n",
    "    when:": (
        "brand: b\njourneys:\n  - id: j\n    priority: 1\n    experience: care\n{block}"
        "rewards:\n  review-reveal: {points: 1}\n"
    ),
    "rewards:": _ONE_JOURNEY + "{block}",
    "guardrails:": _ONE_JOURNEY + "{block}",
    "schedules:": _ONE_JOURNEY + "{block}",
    "tests:": (
        "brand: b\njourneys:\n"
        "  - {id: counterfeit-warning, priority: 2, experience: not_verified,"
        " when: {tap.verdict: replayed}}\n"
        "  - {id: serum-refill, priority: 1, experience: refill, reward: refill-scratch}\n"
        "rewards:\n  refill-scratch: {points: 1}\n{block}"
    ),
}


def _guide_blocks() -> list[str]:
    text = GUIDE.read_text(encoding="utf-8")
    return [part.split("```")[0] for part in text.split("```yaml\n")[1:]]


def test_every_guide_example_is_valid() -> None:
    checked = 0
    for block in _guide_blocks():
        if block.startswith("brand:"):
            continue  # the outline of a whole file, with {...} placeholders
        wrap = next(w for start, w in _WRAPS.items() if block.startswith(start))
        parse(wrap.replace("{block}", block))
        checked += 1
    assert checked >= 9


def test_every_operator_example_in_the_guide_is_valid() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    table = text.split("| Operator | Meaning | Example |")[1].split("\n\n")[0]
    examples = [row.rsplit("`", 2)[1] for row in table.splitlines() if row.count("`") >= 2]
    documented_ops = {row.split("`")[1] for row in table.splitlines()[2:] if row.startswith("| `")}
    assert documented_ops == {"in", "not_in", "gte", "gt", "lte", "lt", "between", "exists", "not"}
    assert len(examples) == 10
    for example in examples:
        when_of(example + "\n")


# --- YAML corners --------------------------------------------------------------------------------


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
