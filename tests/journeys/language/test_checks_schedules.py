"""The schedules section: templates, crons, channels."""

from __future__ import annotations

import pytest

from tests.journeys.language.helpers import one_problem, parse, problems


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


def test_tap_time_facts_are_refused_in_a_schedule() -> None:
    # No tap happens when a schedule runs: tap.verdict would never be known there.
    assert problems("""\
        brand: b
        journeys:
          - {id: a, priority: 1, experience: care}
        schedules:
          - id: s
            cron: "0 9 * * *"
            message: refill_email
            when:
              tap.days_since_last: {gte: 30d}
              any:
                - tap.verdict: genuine
                - tap.number: {gte: 2}
              not: {tap.mode: aes}
    """) == [
        "r.yaml:11:11: schedule 's': tap.verdict is only known during a tap, and a schedule "
        "runs without one; test tap.days_since_last or the item, ownership and owner facts "
        "instead",
        "r.yaml:12:11: schedule 's': tap.number is only known during a tap, and a schedule "
        "runs without one; test tap.days_since_last or the item, ownership and owner facts "
        "instead",
        "r.yaml:13:13: schedule 's': tap.mode is only known during a tap, and a schedule "
        "runs without one; test tap.days_since_last or the item, ownership and owner facts "
        "instead",
    ]


def test_a_schedule_may_name_a_defined_reward() -> None:
    doc = parse("""\
        brand: b
        journeys:
          - {id: a, priority: 1, experience: care}
        rewards:
          card: {mechanic: scratch_off, prizes: [{id: p, weight: 1}]}
        schedules:
          - id: s
            cron: "0 9 * * *"
            message: refill_email
            reward: card
    """)
    assert doc.schedules[0].reward == "card"


def test_a_schedule_reward_must_be_defined() -> None:
    assert one_problem("""\
        brand: b
        journeys:
          - {id: a, priority: 1, experience: care}
        rewards:
          card: {mechanic: scratch_off, prizes: [{id: p, weight: 1}]}
        schedules:
          - id: s
            cron: "0 9 * * *"
            message: refill_email
            reward: crad
    """) == "r.yaml:10:13: schedule 's': reward 'crad' is not defined; did you mean 'card'?"
