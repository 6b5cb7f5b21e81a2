"""The typed syntax tree a ruleset parses to, and the problems a ruleset can have.

Frozen dataclasses. Line and column are kept for messages but are not part of equality, so trees
compare by meaning: the priority checks, the rules compiler and the tests rely on that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
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


Text = tuple[tuple[str, str], ...]
"""Words a person reads, per locale: ((locale, text), ...) in the ruleset's order of locales
(a plain string in the file is its first locale's). ``pick_text`` chooses one for a page."""


def pick_text(text: Text | dict[str, str] | None, locale: str | None,
              locales: Sequence[str] = ()) -> str | None:
    """Return ``text`` in ``locale`` (``fr`` also matches ``fr-FR``), else in the first of
    ``locales`` it has, else in any; None without text."""
    if not text:
        return None
    pairs = dict(text)
    if locale:
        lang = locale.replace("_", "-").split("-")[0].lower()
        for tag in (locale, lang):
            if tag in pairs:
                return pairs[tag]
        for tag, words in pairs.items():
            if tag.replace("_", "-").split("-")[0].lower() == lang:
                return words
    for tag in locales:
        if tag in pairs:
            return pairs[tag]
    return next(iter(pairs.values()))


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
class Window:
    """When a journey runs: from ``starts`` (included) until ``ends`` (left out), aware moments
    in the ruleset's time zone; None for no bound. ``text`` says it as the marketer wrote it."""

    starts: datetime | None
    ends: datetime | None
    text: str


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
    window: Window | None = None  # ``from`` / ``until``: outside it the journey never matches


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
    # What the winner reads: a name, what it is, its conditions (``pick_text`` for a page).
    label: Text = ()
    description: Text = ()
    terms: Text = ()
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
    # Actions the owner must have done before the reveal (review, email_confirmed,
    # service_feedback); empty: none.
    requires: tuple[str, ...] = ()
    label: Text = ()  # what the reward is called on its pages, like "A gift for your review"
    description: Text = ()
    terms: Text = ()
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
class CatalogueItemDoc:
    """Something an owner can buy with points: ``cost`` points for one code."""

    id: str
    label: Text  # what the owner reads, per locale (``pick_text`` for a page)
    cost: int  # points, at least 1
    code: str  # "generated", or "list" (codes taken from ``code_list``)
    code_list: str | None
    stock: int | None = None  # the total ever; None: unlimited
    budget: int | None = None  # most bought in all; None: no cap besides the stock
    expires: int | None = None  # days the code can be used; None: no end
    description: Text = ()  # what it is, per locale (Markdown)
    line: int = field(default=0, compare=False)
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class PointsWorth:
    """``100 points = 5 EUR``: what ``points`` points are worth, in minor units of ``currency``."""

    points: int
    cents: int
    currency: str

    def cents_of(self, points: int) -> int:
        """Return what ``points`` are worth in hundredths of ``currency``, like 1250 (rounded
        down); pages write it with ``app.core.wording.money``."""
        return points * self.cents // self.points

    def value_of(self, points: int) -> str:
        """Return what ``points`` are worth, like ``12.50 EUR`` (rounded down to the cent): for
        the CLI and logs, not pages."""
        cents = points * self.cents // self.points
        return f"{cents // 100}.{cents % 100:02d} {self.currency}"


@dataclass(frozen=True)
class PointsDoc:
    """The ``points`` section: what points are worth and what they buy."""

    worth: PointsWorth | None = None
    catalogue: tuple[CatalogueItemDoc, ...] = ()


@dataclass(frozen=True)
class TestCase:
    __test__ = False  # not a pytest class

    name: str
    given: dict[str, Any]  # partial fact; vocabulary.complete_fact fills the rest
    expect: dict[str, Any]  # journey (None: no journey), and optionally experience, reward
    line: int = field(default=0, compare=False)
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class ProductWordsDoc:
    """``products:`` for one category or one GTIN: its care guidance and its owner-only
    content, each {heading, body, media} like a journey's content ({} when not given)."""

    key: str  # the category as written, or the GTIN as 14 digits
    kind: str  # "category" | "gtin"
    care: dict[str, Any]
    owner_content: dict[str, Any]
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
    points: PointsDoc = field(default_factory=PointsDoc)
    # Every locale its words are written in, the first the default (``locales:``, or ``locale``).
    locales: tuple[str, ...] = ()
    # Care and owner-only words per category or GTIN (``products:``), in file order.
    products: tuple[ProductWordsDoc, ...] = ()

    @property
    def reward_ids(self) -> tuple[str, ...]:
        return tuple(self.rewards)

