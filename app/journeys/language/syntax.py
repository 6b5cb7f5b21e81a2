"""The typed syntax tree a ruleset parses to, and the problems a ruleset can have.

Frozen dataclasses. Line and column are kept for messages but are not part of equality, so trees
compare by meaning: the priority checks, the rules compiler and the tests rely on that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a ruleset, at a 1-based line and column of its file."""

    source: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}: {self.message}"


class RulesetInvalid(Exception):
    """A ruleset does not validate; ``problems`` lists every problem, in line order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Condition:
    """``path op value``; ``line`` / ``column`` (of the path) are not part of equality."""

    path: str
    op: str  # eq | in | not_in | gte | gt | lte | lt | between | exists
    value: Any  # normalised: days as int, in/not_in as tuple, between as (low, high)
    line: int = field(default=0, compare=False)
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Group:
    """``all`` / ``any`` of the children hold, or ``not``: the children do not all hold."""

    kind: str  # all | any | not
    children: tuple[Condition | Group, ...]
    line: int = field(default=0, compare=False)
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class JourneyDoc:
    id: str
    priority: int
    when: Group
    do: tuple[str, ...]
    experience: str
    content: dict[str, Any]
    reward: str | None
    signal: str | None
    line: int = field(default=0, compare=False)
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class PrizeDoc:
    id: str
    weight: float  # relative chance among the reward's prizes (0 for a consolation)
    stock: int | None  # None: unlimited
    code: str | None  # None, "generated", or "list" (codes taken from ``code_list``)
    code_list: str | None
    points: int | None
    # The prize can only be drawn once the reward has been played this many times (so the first
    # players cannot take the big prizes before anyone else has had a chance).
    min_plays: int | None = None
    line: int = field(default=0, compare=False)
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class LimitDoc:
    per_item: int | None = None  # times per item, whoever owns it
    per_owner: int | None = None  # times per owner
    per_day: int | None = None  # times per day across everyone
    per: int | None = None  # days after which per_item / per_owner counts start again


@dataclass(frozen=True)
class RewardDoc:
    id: str
    points: int | None
    mechanic: str  # instant | click_to_reveal | scratch_off | unwrap_gift
    prizes: tuple[PrizeDoc, ...]
    consolation: PrizeDoc | None
    limit: LimitDoc
    expires: int | None  # days a won prize can be used
    holdout: float  # percentage 0-100 of owners who see the journey without the reward
    budget: int | None  # most times the reward is given in all, to everyone
    line: int = field(default=0, compare=False)
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class ScheduleDoc:
    id: str
    cron: str
    when: Group
    message: str
    channel: tuple[str, ...]
    line: int = field(default=0, compare=False)
    column: int = field(default=0, compare=False)
    reward: str | None = None  # a reward of ``rewards:`` each message carries a link to


@dataclass(frozen=True)
class Rate:
    max: int
    per: int  # days


@dataclass(frozen=True)
class QuietHours:
    start: str  # "HH:MM", written ``from``
    end: str  # "HH:MM", written ``to``


@dataclass(frozen=True)
class Guardrails:
    rewards_per_owner: Rate | None = None
    messages_per_owner: Rate | None = None
    quiet_hours: QuietHours | None = None
    # Days after which points this brand granted expire (never when None).
    points_expire_after: int | None = None


@dataclass(frozen=True)
class TestCase:
    __test__ = False  # not a pytest class

    name: str
    given: dict[str, Any]  # partial fact; vocabulary.complete_fact fills the rest
    expect: dict[str, Any]  # journey (None: no journey), and optionally experience, reward
    line: int = field(default=0, compare=False)
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class RulesetDoc:
    source: str
    brand: str
    title: str
    timezone: str
    locale: str
    guardrails: Guardrails
    journeys: tuple[JourneyDoc, ...]  # highest priority first; ties keep file order
    rewards: dict[str, RewardDoc]
    schedules: tuple[ScheduleDoc, ...]
    tests: tuple[TestCase, ...]

    @property
    def reward_ids(self) -> tuple[str, ...]:
        return tuple(self.rewards)

