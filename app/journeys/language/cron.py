"""Clock words: cron expressions of schedules, and the time zones a ruleset may name.

Pure checks that return plain words; the schedule and document checks add where and whose.
"""

from __future__ import annotations

import functools
import zoneinfo

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, MONTHS),
    ("weekday", 0, 7, CRON_DAYS),
)
"""Each field of a cron expression: its name, lowest and highest number, and names it accepts."""


def cron_problems(cron: str) -> list[str]:
    """Return what is wrong with a five-field cron expression (nothing when it is valid)."""
    parts = cron.split()
    if len(parts) != 5:
        return [
            f"cron '{cron}' needs 5 fields (minute hour day-of-month month weekday), "
            f"not {len(parts)}"
        ]
    out = []
    for part, (name, low, high, names) in zip(parts, CRON_FIELDS, strict=True):
        if not cron_field_ok(part, low, high, names):
            extra = " or names like MON" if names == CRON_DAYS else (
                " or names like JAN" if names else ""
            )
            out.append(
                f"cron '{cron}': the {name} field '{part}' is not valid "
                f"(use *, numbers {low}-{high}{extra}, ranges a-b, lists a,b and steps */n)"
            )
    return out


def cron_field_ok(part: str, low: int, high: int, names: tuple[str, ...]) -> bool:
    """Whether one cron field is ``*``, numbers, names, ranges, lists and steps within bounds."""

    def number(token: str) -> int | None:
        if token.isdigit():
            n = int(token)
            return n if low <= n <= high else None
        lowered = token.lower()
        if lowered in names:
            return names.index(lowered) + (1 if names == MONTHS else 0)  # months count from 1
        return None

    for piece in part.split(","):
        base, _, step = piece.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            return False
        if base == "*":
            continue
        start, dash, end = base.partition("-")
        first = number(start)
        if first is None:
            return False
        if dash:
            last = number(end)
            if last is None or last < first:
                return False
    return True


@functools.lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    """The time zone names this machine knows (empty when it has no tz database: no check)."""
    try:
        return frozenset(zoneinfo.available_timezones())
    except Exception:  # pragma: no cover - no tz database at all
        return frozenset()
