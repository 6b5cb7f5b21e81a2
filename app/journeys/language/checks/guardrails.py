"""The ``guardrails`` section: how often an owner may be rewarded or messaged, and quiet hours."""

from __future__ import annotations

from yaml.nodes import MappingNode, ScalarNode

from app.journeys.language.checks.shapes import days, entries, integer, mapping, required
from app.journeys.language.context import Context
from app.journeys.language.syntax import Guardrails, QuietHours, Rate
from app.journeys.language.words import GUARDRAIL_FIELDS, QUIET_HOURS_FIELDS, RATE_FIELDS, TIME_RE
from app.journeys.language.yamlnodes import Entry, is_null, show


def check_guardrails(ctx: Context, entry: Entry | None) -> Guardrails:
    if entry is None or is_null(entry.node):
        return Guardrails()
    if not mapping(ctx, entry.node, None, "guardrails", "rewards_per_owner, ..."):
        return Guardrails()
    fields = entries(ctx, entry.node, "guardrails", GUARDRAIL_FIELDS)
    return Guardrails(
        rewards_per_owner=check_rate(ctx, fields.get("rewards_per_owner")),
        messages_per_owner=check_rate(ctx, fields.get("messages_per_owner")),
        quiet_hours=check_quiet_hours(ctx, fields.get("quiet_hours")),
        points_expire_after=check_expiry(ctx, fields.get("points_expire_after")),
    )


def check_expiry(ctx: Context, entry: Entry | None) -> int | None:
    """``points_expire_after: 365d``: whole days, at least one."""
    days_after = days(ctx, entry, "guardrails")
    if entry is not None and days_after == 0:
        # Zero would expire points the moment they are earned: surely a mistake.
        ctx.problem(entry.node, "guardrails: 'points_expire_after' must be at least 1d")
        return None
    return days_after


def check_rate(ctx: Context, entry: Entry | None) -> Rate | None:
    """``{max: 3, per: 30d}``."""
    if entry is None or is_null(entry.node):
        return None
    label = f"guardrails: {entry.key}"
    if not isinstance(entry.node, MappingNode):
        ctx.problem(
            entry.node, f"{label} must be like {{max: 3, per: 30d}}, not {show(entry.node)}"
        )
        return None
    fields = entries(ctx, entry.node, label, RATE_FIELDS)
    required(ctx, entry.node, fields, RATE_FIELDS, label)
    most = integer(ctx, fields.get("max"), label)
    per = days(ctx, fields.get("per"), label)
    return Rate(most, per) if most is not None and per is not None else None


def check_quiet_hours(ctx: Context, entry: Entry | None) -> QuietHours | None:
    """``{from: "21:00", to: "08:00"}``; times are normalised to HH:MM."""
    if entry is None or is_null(entry.node):
        return None
    label = "guardrails: quiet_hours"
    if not isinstance(entry.node, MappingNode):
        ctx.problem(
            entry.node,
            f"{label} must be like {{from: \"21:00\", to: \"08:00\"}}, not {show(entry.node)}",
        )
        return None
    fields = entries(ctx, entry.node, label, QUIET_HOURS_FIELDS)
    required(ctx, entry.node, fields, QUIET_HOURS_FIELDS, label)
    times = []
    for name in QUIET_HOURS_FIELDS:
        sub = fields.get(name)
        if sub is None or is_null(sub.node):
            continue
        # Unquoted 21:00 is a number in YAML 1.1 (base 60); the text as written is the time.
        raw = str(sub.node.value) if isinstance(sub.node, ScalarNode) else ""
        match = TIME_RE.fullmatch(raw.strip())
        if match is None:
            ctx.problem(
                sub.node,
                f"{label}: '{name}' must be a time like \"21:00\", not {show(sub.node)}",
            )
            continue
        times.append(f"{int(match.group(1)):02d}:{match.group(2)}")
    return QuietHours(times[0], times[1]) if len(times) == 2 else None
