"""The parse entry points over whole documents: the example, the shipped rulesets, problems of
every section collected and reported at once, in line order.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.journeys.language import (
    ACTIONS,
    Condition,
    Group,
    RulesetInvalid,
    parse_ruleset_file,
    parse_ruleset_text,
)
from tests.journeys.language.helpers import (
    EXAMPLE_PATH,
    EXPERIENCES,
    MESSAGES,
    REPO,
    one_problem,
    parse,
    problems,
)


def test_the_example_ruleset_parses() -> None:
    doc = parse_ruleset_file(
        EXAMPLE_PATH, experiences=EXPERIENCES, messages=MESSAGES, actions=ACTIONS
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
    assert doc.journeys[7].content == {"film": "movement-documentary.mp4"}
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


def test_the_service_rulesets_parse() -> None:
    templates = REPO / "templates"
    experiences = {p.stem for p in (templates / "experiences").glob("*.html")}
    messages = {p.stem for p in (templates / "messages").glob("*.html")}
    for path in sorted((REPO / "rulesets").glob("*.yaml")):
        doc = parse_ruleset_file(path, experiences=experiences, messages=messages)
        assert doc.journeys[0].priority == max(j.priority for j in doc.journeys)


def test_custom_registries_are_used() -> None:
    text = "brand: b\njourneys:\n  - {id: a, priority: 1, experience: x, do: [wave]}\n"
    doc = parse_ruleset_text(text, "r.yaml", experiences={"x"}, messages=set(), actions={"wave"})
    assert doc.journeys[0].do == ("wave",)


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
