"""The ``journeys`` section: each journey's id, priority, when, actions, experience and reward."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app.journeys.language.checks.conditions import check_when
from app.journeys.language.checks.content import check_journey_content
from app.journeys.language.checks.shapes import (
    did_you_mean,
    entries,
    first_of_each,
    integer,
    names,
    required,
    text,
    word_list,
)
from app.journeys.language.context import Context
from app.journeys.language.syntax import JourneyDoc, Window
from app.journeys.language.words import DATE_RE, DATETIME_RE, ID_RE, JOURNEY_FIELDS, NAME_RE
from app.journeys.language.yamlnodes import Entry, is_null, mark, show


@dataclass
class ParsedJourney:
    """A well-formed journey, with what the priority checks need beyond its document."""

    doc: JourneyDoc
    order: int  # 1-based place in the file: ties of priority keep it
    id_node: Node
    priority_node: Node
    clean: bool  # its ``when`` had no problem, so reasoning about it means something


def check_journeys(ctx: Context, entry: Entry | None) -> list[ParsedJourney]:
    """Return the well-formed journeys in file order, the first of each id."""
    if entry is None or is_null(entry.node):
        return []
    if not isinstance(entry.node, SequenceNode) or not entry.node.value:
        ctx.problem(
            entry.node,
            f"'journeys' must be a list of journeys (- id: ...), not {show(entry.node)}"
            if not isinstance(entry.node, SequenceNode)
            else "'journeys' needs at least one journey",
        )
        return []
    return first_of_each(
        ctx,
        (check_journey(ctx, node, i + 1) for i, node in enumerate(entry.node.value)),
        "journey", "id", lambda j: (j.doc.id, j.doc.line, j.id_node),
    )


def check_journey(ctx: Context, node: Node, number: int) -> ParsedJourney | None:
    label = f"journey #{number}"
    if not isinstance(node, MappingNode):
        ctx.problem(node, f"{label} must be a mapping with id, priority, when and experience")
        return None
    id_entry = None
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == "id":
            id_entry = Entry("id", key_node, value_node)
    jid = text(ctx, id_entry, label)
    if jid is not None:
        if ID_RE.fullmatch(jid):
            label = f"journey '{jid}'"
            ctx.journey_ids.add(jid)
        else:
            assert id_entry is not None
            ctx.problem(
                id_entry.node,
                f"{label}: id '{jid}' must be lowercase letters, digits and dashes, "
                "like serum-refill",
            )
            jid = None
    fields = entries(ctx, node, label, JOURNEY_FIELDS)
    required(ctx, node, fields, ("id", "priority", "experience"), label)
    priority = integer(ctx, fields.get("priority"), label, minimum=None)
    experience = text(ctx, fields.get("experience"), label)
    if experience is not None and experience not in ctx.experiences:
        ctx.problem(
            fields["experience"].node,
            f"{label}: experience '{experience}' has no template "
            f"templates/experiences/{experience}.html"
            f"{did_you_mean(experience, ctx.experiences)}",
        )
    window = check_window(ctx, fields.get("from"), fields.get("until"), label)
    when_before = len(ctx.problems)
    when = check_when(ctx, fields.get("when"), node, label)
    when_clean = len(ctx.problems) == when_before
    do = check_do(ctx, fields.get("do"), label)
    content = check_journey_content(ctx, fields.get("content"), label)
    reward = text(ctx, fields.get("reward"), label)
    if reward is not None and reward not in ctx.reward_ids:
        ctx.problem(
            fields["reward"].node,
            f"{label}: reward '{reward}' is not defined{did_you_mean(reward, ctx.reward_ids)}",
        )
    signal = text(
        ctx, fields.get("signal"), label, NAME_RE,
        "lowercase letters, digits, _ and -, like grey_market",
    )
    if jid is None or priority is None or experience is None:
        return None
    line, column = mark(node)
    doc = JourneyDoc(
        id=jid,
        priority=priority,
        when=when,
        do=do,
        experience=experience,
        content=content,
        reward=reward,
        signal=signal,
        line=line,
        column=column,
        window=window,
    )
    assert id_entry is not None
    return ParsedJourney(
        doc=doc,
        order=number,
        id_node=id_entry.node,
        priority_node=fields["priority"].node,
        clean=when_clean,
    )


def check_window(
    ctx: Context, start: Entry | None, end: Entry | None, label: str
) -> Window | None:
    """``from`` / ``until``: a date or a date and time in the ruleset's time zone. ``from`` is
    the first moment the journey runs; ``until`` a date runs to the end of that day, and a date
    and time is the moment it stops."""
    zone = _zone(ctx.timezone)
    starts = _moment(ctx, start, label, zone, end_of_day=False)
    ends = _moment(ctx, end, label, zone, end_of_day=True)
    if starts is None and ends is None:
        return None
    if starts is not None and ends is not None and starts >= ends:
        assert end is not None
        ctx.problem(
            end.node,
            f"{label}: 'until' ({show(end.node)}) must be later than 'from' "
            f"({show(start.node) if start else ''}): the journey would never run",
        )
        return None
    words = []
    if start is not None and starts is not None:
        words.append(f"from {start.node.value}")
    if end is not None and ends is not None:
        words.append(f"until {end.node.value}")
    return Window(starts, ends, " ".join(words) + f" ({ctx.timezone})")


def _zone(name: str) -> tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC  # an unknown zone is reported by the header's check


def _moment(
    ctx: Context, entry: Entry | None, label: str, zone: tzinfo, *, end_of_day: bool
) -> datetime | None:
    """Return the moment ``entry`` names in ``zone`` (a date's start, or with ``end_of_day`` the
    next day's start), or None when there is no entry or it is reported as wrong."""
    if entry is None:
        return None
    node = entry.node
    raw = str(node.value).strip() if isinstance(node, ScalarNode) and not is_null(node) else None
    dated = DATE_RE.fullmatch(raw) if raw is not None else None
    timed = DATETIME_RE.fullmatch(raw) if raw is not None else None
    try:
        if dated:
            day = date.fromisoformat(raw or "")
            if end_of_day:
                day += timedelta(days=1)
            return datetime.combine(day, time(0, 0), zone)
        if timed:
            clock = time(int(timed.group(2)), int(timed.group(3)), int(timed.group(4) or 0))
            return datetime.combine(date.fromisoformat(timed.group(1)), clock, zone)
    except ValueError:
        pass  # a day the calendar does not have, like 2026-02-30
    ctx.problem(
        node,
        f"{label}: '{entry.key}' needs a date like 2026-12-01 or a date and time like "
        f"2026-12-01T09:00, in the ruleset's time zone, not {show(node)}",
    )
    return None


def check_do(ctx: Context, entry: Entry | None, label: str) -> tuple[str, ...]:
    """The actions to carry out: a name or a list of names the ``Context`` knows."""
    if entry is None or is_null(entry.node):
        return ()
    nodes = names(ctx, entry, label, "a list of actions like [claim_ownership]")
    out: list[str] = []
    for node in nodes:
        action = str(node.value)
        if action not in ctx.actions:
            hint = did_you_mean(action, ctx.actions) or (
                f" (actions are: {word_list(sorted(ctx.actions))})"
            )
            ctx.problem(node, f"{label}: unknown action '{action}'{hint}")
        else:
            out.append(action)
    return tuple(out)
