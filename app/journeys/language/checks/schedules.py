"""The ``schedules`` section: messages sent on a cron to the owners a ``when`` selects."""

from __future__ import annotations

from yaml.nodes import MappingNode, Node, SequenceNode

from app.journeys.language.checks.conditions import check_when
from app.journeys.language.checks.shapes import (
    did_you_mean,
    entries,
    first_of_each,
    names,
    required,
    text,
    word_list,
)
from app.journeys.language.context import Context
from app.journeys.language.cron import cron_problems
from app.journeys.language.syntax import Condition, Group, ScheduleDoc
from app.journeys.language.words import CHANNELS, ID_RE, SCHEDULE_FIELDS
from app.journeys.language.yamlnodes import Entry, is_null, lookup, mark, show
from app.journeys.vocabulary import TAP_TIME_ONLY


def check_schedules(ctx: Context, entry: Entry | None) -> tuple[ScheduleDoc, ...]:
    """Return the well-formed schedules in file order, the first of each id."""
    if entry is None or is_null(entry.node):
        return ()
    if not isinstance(entry.node, SequenceNode):
        ctx.problem(entry.node, f"'schedules' must be a list (- id: ...), not {show(entry.node)}")
        return ()
    return tuple(first_of_each(
        ctx,
        (check_schedule(ctx, node, i + 1) for i, node in enumerate(entry.node.value)),
        "schedule", "id", lambda s: (s.id, s.line, (s.line, s.column)),
    ))


def check_schedule(ctx: Context, node: Node, number: int) -> ScheduleDoc | None:
    label = f"schedule #{number}"
    if not isinstance(node, MappingNode):
        ctx.problem(node, f"{label} must be a mapping with id, cron, when and message")
        return None
    before = len(ctx.problems)
    id_entry = lookup(node, "id")
    sid = text(ctx, id_entry, label)
    if sid is not None:
        if ID_RE.fullmatch(sid):
            label = f"schedule '{sid}'"
        else:
            assert id_entry is not None
            ctx.problem(
                id_entry.node,
                f"{label}: id '{sid}' must be lowercase letters, digits and dashes, "
                "like refill-reminder",
            )
    fields = entries(ctx, node, label, SCHEDULE_FIELDS)
    required(ctx, node, fields, ("id", "cron", "message"), label)
    cron = text(ctx, fields.get("cron"), label)
    if cron is not None:
        for problem in cron_problems(cron):
            ctx.problem(fields["cron"].node, f"{label}: {problem}")
    when = check_when(ctx, fields.get("when"), node, label)
    check_no_tap_facts(ctx, when, label)
    message = text(ctx, fields.get("message"), label)
    if message is not None and message not in ctx.messages:
        ctx.problem(
            fields["message"].node,
            f"{label}: message '{message}' has no template templates/messages/{message}.html"
            f"{did_you_mean(message, ctx.messages)}",
        )
    channel = check_channel(ctx, fields.get("channel"), label)
    reward = text(ctx, fields.get("reward"), label)
    if reward is not None and reward not in ctx.reward_ids:
        ctx.problem(
            fields["reward"].node,
            f"{label}: reward '{reward}' is not defined{did_you_mean(reward, ctx.reward_ids)}",
        )
    if len(ctx.problems) > before or sid is None or cron is None or message is None:
        return None
    line, column = mark(node)
    return ScheduleDoc(sid, cron, when, message, channel, line, column, reward)


def check_no_tap_facts(ctx: Context, when: Condition | Group, label: str) -> None:
    """A schedule runs with no tap happening, so a tap-time fact is never known there: its
    condition would silently never (or, under ``not``, always) hold."""
    if isinstance(when, Group):
        for child in when.children:
            check_no_tap_facts(ctx, child, label)
    elif when.path in TAP_TIME_ONLY:
        ctx.problem(
            (when.line, when.column),
            f"{label}: {when.path} is only known during a tap, and a schedule runs without one; "
            "test tap.days_since_last or the item, ownership and owner facts instead",
        )


def check_channel(ctx: Context, entry: Entry | None, label: str) -> tuple[str, ...]:
    """One channel or a list of them; email when none is given."""
    if entry is None or is_null(entry.node):
        return ("email",)
    nodes = names(ctx, entry, label, f"one or more of {word_list(CHANNELS)}")
    for n in nodes:
        if n.value not in CHANNELS:
            ctx.problem(
                n,
                f"{label}: channel '{n.value}' is not one of {word_list(CHANNELS)}"
                f"{did_you_mean(str(n.value), CHANNELS)}",
            )
    return tuple(str(n.value) for n in nodes)
