"""The guardrails section, and the header's time zone and locale."""

from __future__ import annotations

from tests.journeys.language.helpers import parse, problems


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


def test_points_expire_after_is_whole_days_of_at_least_one() -> None:
    def ruleset(value: str) -> str:
        return f"""\
        brand: b
        guardrails:
          points_expire_after: {value}
        journeys:
          - {{id: a, priority: 1, experience: care}}
    """

    assert parse(ruleset("1y")).guardrails.points_expire_after == 365
    assert parse(ruleset("90")).guardrails.points_expire_after == 90
    assert parse("brand: b\njourneys:\n  - {id: a, priority: 1, experience: care}\n"
                 ).guardrails.points_expire_after is None
    assert problems(ruleset("0d")) == [
        "r.yaml:3:24: guardrails: 'points_expire_after' must be at least 1d"]
    assert problems(ruleset("soon")) == [
        "r.yaml:3:24: guardrails: 'points_expire_after': 'soon' is not a duration: write days "
        "as a whole number or with a unit, like 30d, 12w, 6m (months of 30 days) or 1y"]
