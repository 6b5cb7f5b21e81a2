"""The marketer's journey language: parse and check a ruleset, each problem at FILE:LINE:COLUMN.

A ruleset is YAML. It is composed into nodes (which keep their line and column), checked field by
field against the fact vocabulary (``app.journeys.vocabulary``), the templates and actions that
exist, and the ruleset's own rewards; then journeys are checked against each other (priority ties,
journeys that can never be chosen). Every problem is collected; a ruleset with any problem raises
``RulesetInvalid`` listing them all in line order, and one without gives a typed ``RulesetDoc``.

Conditions become trees of ``Condition`` leaves and ``Group`` nodes (all / any / not), the shape
``app.rules.compiler.compile_tree`` and ``app.rules.explain`` consume. Durations are normalised to
whole days, ``between`` to a ``(low, high)`` tuple, ``in`` / ``not_in`` to tuples.

Pure Python: no Flask, no database, no rules engine.
"""

from __future__ import annotations

import difflib
import functools
import re
import zoneinfo
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app.journeys import vocabulary
from app.journeys.vocabulary import FactField

# --- the language's words -------------------------------------------------------------------------

ACTIONS: frozenset[str] = frozenset(
    {
        "claim_ownership",  # the person tapping becomes the owner of the unclaimed item, at once
        "confirm_ownership",  # the page offers "this is mine": one more tap registers them
        "activate_warranty",  # start the item's warranty (once, for the product's term)
        "record_signal",  # record the journey's signal for brand intelligence
        "offer_service",  # the page offers the owner a service request
        "start_transfer",  # the page offers the owner a transfer link for a resale
    }
)
"""Names a journey may list under ``do``; the service carries them out when it is chosen."""

OPERATORS = ("in", "not_in", "gte", "gt", "lte", "lt", "between", "exists", "not")
"""Operators of a one-key condition mapping (``path: {gte: 30}``); a plain value means equals."""
GROUPS = ("all", "any", "not")
MECHANICS = ("instant", "click_to_reveal", "scratch_off", "unwrap_gift")
CHANNELS = ("email", "crm_webhook", "sms")

TOP_FIELDS = (
    "brand", "title", "timezone", "locale", "guardrails",
    "journeys", "rewards", "schedules", "tests",
)
JOURNEY_FIELDS = ("id", "priority", "when", "do", "experience", "content", "reward", "signal")
REWARD_FIELDS = (
    "points", "mechanic", "prizes", "consolation", "limit", "expires", "holdout", "budget",
)
PRIZE_FIELDS = ("id", "weight", "stock", "code", "points", "min_plays")
CONSOLATION_FIELDS = ("id", "points", "code")
LIMIT_FIELDS = ("per_item", "per_owner", "per_day", "per")
SCHEDULE_FIELDS = ("id", "cron", "when", "message", "channel")
GUARDRAIL_FIELDS = ("rewards_per_owner", "messages_per_owner", "quiet_hours")
RATE_FIELDS = ("max", "per")
QUIET_HOURS_FIELDS = ("from", "to")
TEST_FIELDS = ("name", "given", "expect")
EXPECT_FIELDS = ("journey", "experience", "reward")

ID_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
LOCALE_RE = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,4})?")
TIME_RE = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
HOLDOUT_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%\s*")
CRON_RE = r"^\s*\S+(\s+\S+){4}\s*$"
DURATION_RE = r"^\s*\d+\s*[dwmy]?\s*$"

_NUMERIC_TYPES = ("int", "days", "hour", "any")
_HOLDS = {
    "str": "text", "bool": "true or false", "country": "a country code", "weekday": "a weekday",
}
_COMPARATORS = ("gte", "gt", "lte", "lt")
_FULL_WEEKDAYS = {
    "monday": "mon", "tuesday": "tue", "wednesday": "wed", "thursday": "thu",
    "friday": "fri", "saturday": "sat", "sunday": "sun",
}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("weekday", 0, 7, _CRON_DAYS),
)
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed
_NULL = "tag:yaml.org,2002:null"


# --- results --------------------------------------------------------------------------------------


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


# --- entry points ---------------------------------------------------------------------------------


def parse_ruleset_text(
    text: str,
    source: str,
    *,
    experiences: Collection[str],
    messages: Collection[str],
    actions: Collection[str] = ACTIONS,
) -> RulesetDoc:
    """Parse and check one ruleset file's text.

    ``experiences`` and ``messages`` are the template names that exist (under
    ``templates/experiences`` and ``templates/messages``); ``actions`` the names ``do`` may use.

    Raises:
        RulesetInvalid: with every problem found, in line order.
    """
    return _Parser(source, set(experiences), set(messages), set(actions)).parse(text)


def parse_ruleset_file(
    path: Path | str,
    *,
    experiences: Collection[str],
    messages: Collection[str],
    actions: Collection[str] = ACTIONS,
) -> RulesetDoc:
    """Read and parse the ruleset at ``path``; problems name the file as given.

    Raises:
        RulesetInvalid: with every problem found, in line order.
    """
    text = Path(path).read_text(encoding="utf-8")
    return parse_ruleset_text(
        text, str(path), experiences=experiences, messages=messages, actions=actions
    )


# --- YAML nodes -----------------------------------------------------------------------------------


class _Missing:
    pass


_BAD: Any = _Missing()  # a value that had a problem (already reported)


def _lookup(node: MappingNode, key: str) -> _Entry | None:
    """Return the entry ``key`` of a mapping node (read early, to name it in messages), or None."""
    return next(
        (_Entry(key, k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == key),
        None,
    )


def _mark(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def _show(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if _is_null(node):
        return "nothing"
    return f"'{node.value}'"


def _construct(node: Node) -> Any:
    """Return a node's Python value; a scalar YAML cannot construct (``!!int abc``, an unknown
    ``!tag``) stays the text it is, for the type checks to report."""
    try:
        return SafeConstructor().construct_object(node, deep=True)
    except Exception:
        if isinstance(node, ScalarNode):
            return str(node.value)
        raise


def _cycle(root: Node) -> Node | None:
    """Return a node that contains itself through an alias (``&a [*a]``), or None."""
    done: set[int] = set()
    path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        if leaving:
            path.discard(id(node))
            done.add(id(node))
            continue
        if id(node) in path:
            return node
        if id(node) in done or isinstance(node, ScalarNode):
            continue
        path.add(id(node))
        stack.append((node, True))
        children = (
            [n for pair in node.value for n in pair]
            if isinstance(node, MappingNode)
            else list(node.value)
        )
        stack.extend((child, False) for child in reversed(children))
    return None


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _words(items: Iterable[str]) -> str:
    return ", ".join(items)


# --- the parser -----------------------------------------------------------------------------------


@dataclass
class _Entry:
    key: str
    key_node: Node
    node: Node


@dataclass
class _Journey:
    doc: JourneyDoc
    order: int
    id_node: Node
    priority_node: Node
    clean: bool


class _Parser:
    def __init__(
        self, source: str, experiences: set[str], messages: set[str], actions: set[str]
    ) -> None:
        self.source = source
        self.experiences = experiences
        self.messages = messages
        self.actions = actions
        self.problems: list[Problem] = []
        self.reward_ids: tuple[str, ...] = ()
        self.journey_ids: set[str] = set()  # every well-formed id, even of a faulty journey

    # -- reporting --------------------------------------------------------------------------------

    def problem(self, where: Node | tuple[int, int], message: str) -> None:
        line, column = _mark(where) if isinstance(where, Node) else where
        self.problems.append(Problem(self.source, line, column, message))

    def _fail_if_problems(self) -> None:
        if self.problems:
            raise RulesetInvalid(sorted(self.problems, key=lambda p: (p.line, p.column)))

    # -- generic shapes ---------------------------------------------------------------------------

    def entries(
        self, node: Node, ctx: str | None, allowed: Sequence[str] | None, what: str = "field"
    ) -> dict[str, _Entry]:
        """Return a mapping node's entries by key; report bad, duplicate and unknown keys."""
        out: dict[str, _Entry] = {}
        prefix = f"{ctx}: " if ctx else ""
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or _is_null(key_node):
                self.problem(key_node, f"{prefix}{_show(key_node)} cannot be a {what} name")
                continue
            key = str(key_node.value)
            if key in out:
                line = out[key].key_node.start_mark.line + 1
                self.problem(key_node, f"{prefix}'{key}' is given twice (first on line {line})")
                continue
            if allowed is not None and key not in allowed:
                self.problem(
                    key_node, f"{prefix}unknown {what} '{key}'{_did_you_mean(key, allowed)}"
                )
                continue
            out[key] = _Entry(key, key_node, value_node)
        return out

    def mapping(self, node: Node, ctx: str | None, name: str, like: str) -> bool:
        if isinstance(node, MappingNode):
            return True
        prefix = f"{ctx}: " if ctx else ""
        self.problem(node, f"{prefix}'{name}' must be a mapping ({like}), not {_show(node)}")
        return False

    def required(
        self, node: Node, entries: dict[str, _Entry], names: Sequence[str], ctx: str | None
    ) -> None:
        prefix = f"{ctx}: " if ctx else ""
        for name in names:
            entry = entries.get(name)
            if entry is None or _is_null(entry.node):
                where = entry.key_node if entry else node
                self.problem(where, f"{prefix}'{name}' is required")

    def text(self, entry: _Entry | None, ctx: str | None, pattern: re.Pattern[str] | None = None,
             like: str = "") -> str | None:
        """Return a name-like scalar as written (``None`` when absent or wrong, reported)."""
        if entry is None or _is_null(entry.node):
            return None
        prefix = f"{ctx}: " if ctx else ""
        node = entry.node
        if not isinstance(node, ScalarNode):
            self.problem(node, f"{prefix}'{entry.key}' must be a name, not {_show(node)}")
            return None
        value = str(node.value)
        if pattern is not None and not pattern.fullmatch(value):
            self.problem(node, f"{prefix}{entry.key} '{value}' must be {like}")
            return None
        return value

    def integer(self, entry: _Entry | None, ctx: str, minimum: int | None = 0) -> int | None:
        if entry is None or _is_null(entry.node):
            return None
        value = _construct(entry.node) if isinstance(entry.node, ScalarNode) else _BAD
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(
                entry.node, f"{ctx}: '{entry.key}' must be a whole number, not {_show(entry.node)}"
            )
            return None
        if minimum is not None and value < minimum:
            self.problem(entry.node, f"{ctx}: '{entry.key}' cannot be less than {minimum}")
            return None
        return value

    def days(self, entry: _Entry | None, ctx: str) -> int | None:
        if entry is None or _is_null(entry.node):
            return None
        value = _construct(entry.node) if isinstance(entry.node, ScalarNode) else entry.node
        try:
            if isinstance(value, Node):
                raise ValueError(f"{_show(value)} is not a duration")
            return vocabulary.parse_duration(value)
        except ValueError as exc:
            self.problem(entry.node, f"{ctx}: '{entry.key}': {exc}")
            return None

    # -- the document -----------------------------------------------------------------------------

    def parse(self, text: str) -> RulesetDoc:
        root = self.compose(text)
        self._fail_if_problems()
        if root is None:
            self.problem((1, 1), "the file is empty: a ruleset needs 'brand' and 'journeys'")
            self._fail_if_problems()
        assert root is not None
        looped = _cycle(root)
        if looped is not None:
            self.problem(looped, "an alias (*name) refers to the block it is in: it never ends")
            self._fail_if_problems()
        if not isinstance(root, MappingNode):
            self.problem(
                root, f"a ruleset is a mapping with 'brand' and 'journeys', not {_show(root)}"
            )
            self._fail_if_problems()
        top = self.entries(root, None, TOP_FIELDS, what="section")
        self.required(root, top, ("brand", "journeys"), None)

        brand = self.text(
            top.get("brand"), None, ID_RE,
            "lowercase letters, digits and dashes, like maison-aurelia",
        )
        title = self.text(top.get("title"), None) or brand or ""
        timezone = self.timezone(top.get("timezone")) or "UTC"
        locale = self.text(top.get("locale"), None, LOCALE_RE, "a language code like en or fr-FR")
        guardrails = self.guardrails(top.get("guardrails"))

        reward_entries: dict[str, _Entry] = {}
        rewards_entry = top.get("rewards")
        if (
            rewards_entry is not None
            and not _is_null(rewards_entry.node)
            and self.mapping(rewards_entry.node, None, "rewards", "reward id: its fields")
        ):
            reward_entries = self.entries(top["rewards"].node, None, None, what="reward")
        self.reward_ids = tuple(reward_entries)
        rewards = {}
        for rid, entry in reward_entries.items():
            reward = self.reward(entry)
            if reward is not None:
                rewards[rid] = reward

        journeys = self.journeys(top.get("journeys"))
        schedules = self.schedules(top.get("schedules"))
        tests = self.tests(top.get("tests"), self.journey_ids)
        self.check_priorities(journeys)
        self._fail_if_problems()

        ordered = sorted(journeys, key=lambda j: (-j.doc.priority, j.order))
        return RulesetDoc(
            source=self.source,
            brand=brand or "",
            title=title,
            timezone=timezone,
            locale=locale or "en",
            guardrails=guardrails,
            journeys=tuple(j.doc for j in ordered),
            rewards=rewards,
            schedules=schedules,
            tests=tests,
        )

    def compose(self, text: str) -> Node | None:
        try:
            return yaml.compose(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:
            pass  # the pure-Python loader words syntax errors better, and marks them the same
        try:
            return yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            what = exc.problem or exc.context or "unreadable"
            if "'\\t'" in what:
                what += " (indent with spaces, not tabs)"
            context = exc.context_mark
            if exc.context and context is not None and context is not mark:
                what += (
                    f" ({exc.context} that starts on line {context.line + 1}, "
                    f"column {context.column + 1})"
                )
            self.problem(where, f"not valid YAML: {what}")
        except yaml.reader.ReaderError as exc:
            before = text[: exc.position]
            line = before.count("\n") + 1
            column = exc.position - (before.rfind("\n") + 1) + 1
            code = exc.character if isinstance(exc.character, int) else ord(exc.character)
            self.problem(
                (line, column), f"not valid YAML: character #x{code:04x} is not allowed here"
            )
        except yaml.YAMLError as exc:  # pragma: no cover - every YAML error has a mark or position
            self.problem((1, 1), f"not valid YAML: {exc}")
        return None

    def timezone(self, entry: _Entry | None) -> str | None:
        name = self.text(entry, None)
        if name is None or entry is None:
            return None
        known = _time_zones()
        if known and name not in known and name != "UTC":
            self.problem(
                entry.node,
                f"timezone '{name}' is not a known time zone (like Europe/Paris)"
                f"{_did_you_mean(name, known)}",
            )
            return None
        return name

    # -- guardrails -------------------------------------------------------------------------------

    def guardrails(self, entry: _Entry | None) -> Guardrails:
        if entry is None or _is_null(entry.node):
            return Guardrails()
        if not self.mapping(entry.node, None, "guardrails", "rewards_per_owner, ..."):
            return Guardrails()
        ctx = "guardrails"
        fields = self.entries(entry.node, ctx, GUARDRAIL_FIELDS)
        return Guardrails(
            rewards_per_owner=self.rate(fields.get("rewards_per_owner")),
            messages_per_owner=self.rate(fields.get("messages_per_owner")),
            quiet_hours=self.quiet_hours(fields.get("quiet_hours")),
        )

    def rate(self, entry: _Entry | None) -> Rate | None:
        if entry is None or _is_null(entry.node):
            return None
        ctx = f"guardrails: {entry.key}"
        if not isinstance(entry.node, MappingNode):
            self.problem(
                entry.node, f"{ctx} must be like {{max: 3, per: 30d}}, not {_show(entry.node)}"
            )
            return None
        fields = self.entries(entry.node, ctx, RATE_FIELDS)
        self.required(entry.node, fields, RATE_FIELDS, ctx)
        most = self.integer(fields.get("max"), ctx)
        per = self.days(fields.get("per"), ctx)
        return Rate(most, per) if most is not None and per is not None else None

    def quiet_hours(self, entry: _Entry | None) -> QuietHours | None:
        if entry is None or _is_null(entry.node):
            return None
        ctx = "guardrails: quiet_hours"
        if not isinstance(entry.node, MappingNode):
            self.problem(
                entry.node,
                f"{ctx} must be like {{from: \"21:00\", to: \"08:00\"}}, not {_show(entry.node)}",
            )
            return None
        fields = self.entries(entry.node, ctx, QUIET_HOURS_FIELDS)
        self.required(entry.node, fields, QUIET_HOURS_FIELDS, ctx)
        times = []
        for name in QUIET_HOURS_FIELDS:
            sub = fields.get(name)
            if sub is None or _is_null(sub.node):
                continue
            # Unquoted 21:00 is a number in YAML 1.1 (base 60); the text as written is the time.
            raw = str(sub.node.value) if isinstance(sub.node, ScalarNode) else ""
            match = TIME_RE.fullmatch(raw.strip())
            if match is None:
                self.problem(
                    sub.node,
                    f"{ctx}: '{name}' must be a time like \"21:00\", not {_show(sub.node)}",
                )
                continue
            times.append(f"{int(match.group(1)):02d}:{match.group(2)}")
        return QuietHours(times[0], times[1]) if len(times) == 2 else None

    # -- rewards ----------------------------------------------------------------------------------

    def reward(self, entry: _Entry) -> RewardDoc | None:
        rid = entry.key
        ctx = f"reward '{rid}'"
        before = len(self.problems)
        if not ID_RE.fullmatch(rid):
            self.problem(
                entry.key_node,
                f"{ctx}: a reward id must be lowercase letters, digits and dashes, "
                "like welcome-points",
            )
        if not self.mapping(entry.node, ctx, rid, "points, prizes, limit..."):
            return None
        fields = self.entries(entry.node, ctx, REWARD_FIELDS)
        points = self.integer(fields.get("points"), ctx)
        mechanic = self.text(fields.get("mechanic"), ctx) or "instant"
        if mechanic not in MECHANICS:
            self.problem(
                fields["mechanic"].node,
                f"{ctx}: mechanic '{mechanic}' is not one of {_words(MECHANICS)}"
                f"{_did_you_mean(mechanic, MECHANICS)}",
            )
        prizes = self.prizes(fields.get("prizes"), ctx)
        consolation = None
        if "consolation" in fields and not _is_null(fields["consolation"].node):
            consolation = self.prize(fields["consolation"].node, ctx, consolation=True)
        if "points" not in fields and "prizes" not in fields:
            self.problem(entry.node, f"{ctx} gives nothing: give it points or prizes")
        limit = self.limit(fields.get("limit"), ctx)
        expires = self.days(fields.get("expires"), ctx)
        holdout = self.holdout(fields.get("holdout"), ctx)
        budget = self.integer(fields.get("budget"), ctx, minimum=1)
        if len(self.problems) > before:
            return None
        line, column = _mark(entry.key_node)
        return RewardDoc(
            id=rid,
            points=points,
            mechanic=mechanic,
            prizes=prizes,
            consolation=consolation,
            limit=limit,
            expires=expires,
            holdout=holdout,
            budget=budget,
            line=line,
            column=column,
        )

    def prizes(self, entry: _Entry | None, ctx: str) -> tuple[PrizeDoc, ...]:
        if entry is None or _is_null(entry.node):
            return ()
        if not isinstance(entry.node, SequenceNode) or not entry.node.value:
            self.problem(
                entry.node,
                f"{ctx}: 'prizes' must be a list of prizes like {{id: ten-off, weight: 70}}",
            )
            return ()
        out: list[PrizeDoc] = []
        seen: dict[str, int] = {}
        for node in entry.node.value:
            prize = self.prize(node, ctx)
            if prize is None:
                continue
            if prize.id in seen:
                self.problem(
                    node,
                    f"{ctx}: prize id '{prize.id}' is used twice (first on line {seen[prize.id]})",
                )
                continue
            seen[prize.id] = prize.line
            out.append(prize)
        return tuple(out)

    def prize(self, node: Node, ctx: str, consolation: bool = False) -> PrizeDoc | None:
        name = "consolation" if consolation else "prize"
        if not isinstance(node, MappingNode):
            self.problem(node, f"{ctx}: a {name} is a mapping like {{id: ten-off, weight: 70}}")
            return None
        before = len(self.problems)
        allowed = CONSOLATION_FIELDS if consolation else PRIZE_FIELDS
        fields = self.entries(node, f"{ctx}: {name}", allowed)
        self.required(node, fields, ("id",), f"{ctx}: {name}")
        pid = self.text(fields.get("id"), ctx, ID_RE, "lowercase letters, digits and dashes")
        pctx = f"{ctx}: {name} '{pid}'"
        weight: float = 0
        if not consolation:
            w = fields.get("weight")
            weight = 1
            if w is not None:
                value = _construct(w.node) if isinstance(w.node, ScalarNode) else None
                if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                    self.problem(w.node, f"{pctx}: 'weight' must be a number above 0")
                else:
                    weight = value
        stock = self.integer(fields.get("stock"), pctx)
        points = self.integer(fields.get("points"), pctx)
        min_plays = None if consolation else self.integer(fields.get("min_plays"), pctx)
        code, code_list = self.code(fields.get("code"), pctx)
        if len(self.problems) > before or pid is None:
            return None
        line, column = _mark(node)
        return PrizeDoc(pid, weight, stock, code, code_list, points, min_plays, line, column)

    def code(self, entry: _Entry | None, ctx: str) -> tuple[str | None, str | None]:
        if entry is None or _is_null(entry.node):
            return None, None
        node = entry.node
        if isinstance(node, ScalarNode) and node.value == "generated":
            return "generated", None
        if isinstance(node, MappingNode):
            fields = self.entries(node, f"{ctx}: code", ("list",))
            name = self.text(fields.get("list"), ctx)
            if name:
                return "list", name
            if "list" not in fields:
                self.required(node, fields, ("list",), f"{ctx}: code")
            return None, None
        self.problem(
            node, f"{ctx}: 'code' must be generated or {{list: NAME}}, not {_show(node)}"
        )
        return None, None

    def limit(self, entry: _Entry | None, ctx: str) -> LimitDoc:
        if entry is None or _is_null(entry.node):
            return LimitDoc()
        if not self.mapping(entry.node, ctx, "limit", "per_item, per_owner, per_day, per"):
            return LimitDoc()
        lctx = f"{ctx}: limit"
        fields = self.entries(entry.node, lctx, LIMIT_FIELDS)
        return LimitDoc(
            per_item=self.integer(fields.get("per_item"), lctx),
            per_owner=self.integer(fields.get("per_owner"), lctx),
            per_day=self.integer(fields.get("per_day"), lctx),
            per=self.days(fields.get("per"), lctx),
        )

    def holdout(self, entry: _Entry | None, ctx: str) -> float:
        if entry is None or _is_null(entry.node):
            return 0
        value = _construct(entry.node) if isinstance(entry.node, ScalarNode) else None
        if isinstance(value, str) and (match := HOLDOUT_RE.fullmatch(value)):
            value = float(match.group(1))
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            self.problem(
                entry.node,
                f"{ctx}: 'holdout' must be a percentage from 0% to 100%, like 10%, "
                f"not {_show(entry.node)}",
            )
            return 0
        return int(value) if float(value).is_integer() else value

    # -- journeys ---------------------------------------------------------------------------------

    def journeys(self, entry: _Entry | None) -> list[_Journey]:
        if entry is None or _is_null(entry.node):
            return []
        if not isinstance(entry.node, SequenceNode) or not entry.node.value:
            self.problem(
                entry.node,
                f"'journeys' must be a list of journeys (- id: ...), not {_show(entry.node)}"
                if not isinstance(entry.node, SequenceNode)
                else "'journeys' needs at least one journey",
            )
            return []
        return self._first_of_each(
            (self.journey(node, i + 1) for i, node in enumerate(entry.node.value)),
            "journey", "id", lambda j: (j.doc.id, j.doc.line, j.id_node),
        )

    def _first_of_each(
        self,
        items: Iterable[Any],
        kind: str,
        word: str,
        identity: Callable[[Any], tuple[str, int, Any]],
    ) -> list[Any]:
        """Return the parsed ``items`` (None ones dropped) keeping the first of each name; every
        repeat is a problem pointing at the first one's line."""
        out: list[Any] = []
        first_line: dict[str, int] = {}
        for item in items:
            if item is None:
                continue
            name, line, where = identity(item)
            if name in first_line:
                self.problem(
                    where,
                    f"{kind} '{name}': this {word} is already used by the {kind} on line "
                    f"{first_line[name]}",
                )
                continue
            first_line[name] = line
            out.append(item)
        return out

    def journey(self, node: Node, number: int) -> _Journey | None:
        ctx = f"journey #{number}"
        if not isinstance(node, MappingNode):
            self.problem(
                node, f"{ctx} must be a mapping with id, priority, when and experience"
            )
            return None
        id_entry = None
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == "id":
                id_entry = _Entry("id", key_node, value_node)
        jid = self.text(id_entry, ctx)
        if jid is not None:
            if ID_RE.fullmatch(jid):
                ctx = f"journey '{jid}'"
                self.journey_ids.add(jid)
            else:
                assert id_entry is not None
                self.problem(
                    id_entry.node,
                    f"{ctx}: id '{jid}' must be lowercase letters, digits and dashes, "
                    "like serum-refill",
                )
                jid = None
        fields = self.entries(node, ctx, JOURNEY_FIELDS)
        self.required(node, fields, ("id", "priority", "experience"), ctx)
        priority = self.integer(fields.get("priority"), ctx, minimum=None)
        experience = self.text(fields.get("experience"), ctx)
        if experience is not None and experience not in self.experiences:
            self.problem(
                fields["experience"].node,
                f"{ctx}: experience '{experience}' has no template "
                f"templates/experiences/{experience}.html"
                f"{_did_you_mean(experience, self.experiences)}",
            )
        when_entry = fields.get("when")
        when_before = len(self.problems)
        when = self.when(when_entry, node, ctx)
        when_clean = len(self.problems) == when_before
        do = self.do(fields.get("do"), ctx)
        content: dict[str, Any] = {}
        if "content" in fields and not _is_null(fields["content"].node):
            cnode = fields["content"].node
            if self.mapping(cnode, ctx, "content", "names and values for the template"):
                try:
                    content = dict(_construct(cnode))
                except Exception as exc:
                    reason = getattr(exc, "problem", None) or str(exc)
                    self.problem(cnode, f"{ctx}: 'content' cannot be read: {reason}")
        reward = self.text(fields.get("reward"), ctx)
        if reward is not None and reward not in self.reward_ids:
            self.problem(
                fields["reward"].node,
                f"{ctx}: reward '{reward}' is not defined{_did_you_mean(reward, self.reward_ids)}",
            )
        signal = self.text(
            fields.get("signal"), ctx, NAME_RE,
            "lowercase letters, digits, _ and -, like grey_market",
        )
        if jid is None or priority is None or experience is None:
            return None
        line, column = _mark(node)
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
        )
        assert id_entry is not None
        return _Journey(
            doc=doc,
            order=number,
            id_node=id_entry.node,
            priority_node=fields["priority"].node,
            clean=when_clean,
        )

    def do(self, entry: _Entry | None, ctx: str) -> tuple[str, ...]:
        if entry is None or _is_null(entry.node):
            return ()
        nodes = self.names(entry, ctx, "a list of actions like [claim_ownership]")
        out = []
        for node in nodes:
            action = str(node.value)
            if action not in self.actions:
                hint = _did_you_mean(action, self.actions) or (
                    f" (actions are: {_words(sorted(self.actions))})"
                )
                self.problem(node, f"{ctx}: unknown action '{action}'{hint}")
            else:
                out.append(action)
        return tuple(out)

    def names(self, entry: _Entry, ctx: str, like: str) -> list[ScalarNode]:
        """Return the scalar nodes of a name or a list of names."""
        node = entry.node
        if isinstance(node, ScalarNode):
            return [node]
        if isinstance(node, SequenceNode):
            good = [n for n in node.value if isinstance(n, ScalarNode) and not _is_null(n)]
            if len(good) == len(node.value) and good:
                return good
        self.problem(node, f"{ctx}: '{entry.key}' must be {like}, not {_show(node)}")
        return []

    # -- conditions -------------------------------------------------------------------------------

    def when(self, entry: _Entry | None, owner: Node, ctx: str) -> Group:
        if entry is None:
            return Group("all", (), *_mark(owner))
        node = entry.node
        if _is_null(node):
            return Group("all", (), *_mark(node))
        if not isinstance(node, MappingNode):
            self.problem(
                node,
                f"{ctx}: 'when' must be a mapping of conditions (fact: value), not {_show(node)}",
            )
            return Group("all", (), *_mark(node))
        return Group("all", self.conditions(node, ctx), *_mark(node))

    def conditions(self, node: MappingNode, ctx: str) -> tuple[Condition | Group, ...]:
        """Return the conditions of a mapping (they all must hold)."""
        out = []
        for entry in self.entries(node, ctx, None, what="fact").values():
            child = self.condition_entry(entry, ctx)
            if child is not None:
                out.append(child)
        return tuple(out)

    def condition_entry(self, entry: _Entry, ctx: str) -> Condition | Group | None:
        key = entry.key
        if key in GROUPS:
            return self.group(entry, ctx)
        if not vocabulary.is_known_path(key, self.reward_ids):
            match = vocabulary.REWARD_PATTERN.fullmatch(key)
            if match:
                rid = match.group(1)
                self.problem(
                    entry.key_node,
                    f"{ctx}: unknown fact '{key}': reward '{rid}' is not defined"
                    f"{_did_you_mean(rid, self.reward_ids)}",
                )
            else:
                hint = vocabulary.suggest(key, self.reward_ids)
                self.problem(
                    entry.key_node,
                    f"{ctx}: unknown fact '{key}'" + (f"; did you mean '{hint}'?" if hint else ""),
                )
            return None
        fact = vocabulary.field_for(key)
        assert fact is not None
        return self.condition(key, fact, entry.key_node, entry.node, ctx)

    def group(self, entry: _Entry, ctx: str) -> Group | None:
        kind = entry.key
        node = entry.node
        children: list[Condition | Group] = []
        if isinstance(node, MappingNode) and node.value:
            children = list(self.conditions(node, ctx))
        elif isinstance(node, SequenceNode) and node.value:
            for item in node.value:
                if not isinstance(item, MappingNode) or not item.value:
                    self.problem(
                        item,
                        f"{ctx}: an entry under '{kind}' has no condition"
                        if isinstance(item, MappingNode)
                        else f"{ctx}: each entry under '{kind}' must be conditions like "
                        f"- fact: value, not {_show(item)}",
                    )
                    continue
                found = self.conditions(item, ctx)
                if len(item.value) == 1:
                    children.extend(found)
                elif found:
                    children.append(Group("all", found, *_mark(item)))
        else:
            like = "a mapping of conditions" if kind == "not" else "a list of conditions"
            empty = isinstance(node, MappingNode | SequenceNode)
            self.problem(
                node,
                f"{ctx}: '{kind}' needs at least one condition"
                if empty
                else f"{ctx}: '{kind}' must be {like}, not {_show(node)}",
            )
            return None
        if not children:
            return None  # every child had a problem, already reported
        return Group(kind, tuple(children), *_mark(entry.key_node))

    def condition(
        self, path: str, fact: FactField, key_node: Node, node: Node, ctx: str
    ) -> Condition | Group | None:
        line, column = _mark(key_node)
        if isinstance(node, SequenceNode):
            self.problem(
                node,
                f"{ctx}: {path} is given a list; write {{in: [...]}} to match any of its values",
            )
            return None
        if isinstance(node, ScalarNode):
            if _is_null(node):
                self.problem(
                    node,
                    f"{ctx}: {path} has no value; write {{exists: false}} to match when it is "
                    "not known",
                )
                return None
            value = self.value(path, fact, node, ctx, None)
            return None if value is _BAD else Condition(path, "eq", value, line, column)
        assert isinstance(node, MappingNode)
        if len(node.value) != 1:
            self.problem(
                node,
                f"{ctx}: {path} needs a value or exactly one operator "
                f"({_words(OPERATORS)}), not {len(node.value)}"
                + (" (use between: [low, high] for a range)" if len(node.value) == 2 else ""),
            )
            return None
        op_node, operand = node.value[0]
        op = str(op_node.value) if isinstance(op_node, ScalarNode) else _show(op_node)
        if op not in OPERATORS:
            self.problem(
                op_node,
                f"{ctx}: {path}: unknown operator '{op}'{_did_you_mean(op, OPERATORS)}"
                f" (operators: {_words(OPERATORS)})",
            )
            return None
        if op == "not":
            inner = self.condition(path, fact, key_node, operand, ctx)
            return None if inner is None else Group("not", (inner,), *_mark(op_node))
        value = self.operand(path, fact, op, op_node, operand, ctx)
        return None if value is _BAD else Condition(path, op, value, line, column)

    def operand(
        self, path: str, fact: FactField, op: str, op_node: Node, node: Node, ctx: str
    ) -> Any:
        if op == "exists":
            value = _construct(node) if isinstance(node, ScalarNode) else None
            if not isinstance(value, bool):
                self.problem(node, f"{ctx}: {path}: exists takes true or false, not {_show(node)}")
                return _BAD
            return value
        if op in ("in", "not_in"):
            if not isinstance(node, SequenceNode) or not node.value:
                self.problem(
                    node,
                    f"{ctx}: {path}: {op} needs a list of values like [a, b], not {_show(node)}",
                )
                return _BAD
            values = [self.value(path, fact, item, ctx, op) for item in node.value]
            return _BAD if any(v is _BAD for v in values) else tuple(values)
        if fact.type not in _NUMERIC_TYPES:
            self.problem(
                op_node,
                f"{ctx}: {path} holds {_HOLDS[fact.type]}, so it cannot be compared with "
                f"'{op}'; give a value, or use in / not_in",
            )
            return _BAD
        if op == "between":
            if not isinstance(node, SequenceNode) or len(node.value) != 2:
                self.problem(
                    node, f"{ctx}: {path}: between needs [low, high], not {_show(node)}"
                )
                return _BAD
            low, high = (self.value(path, fact, item, ctx, op) for item in node.value)
            if low is _BAD or high is _BAD:
                return _BAD
            if low > high:
                self.problem(node, f"{ctx}: {path}: between needs the lower value first")
                return _BAD
            return (low, high)
        return self.value(path, fact, node, ctx, op)

    def value(self, path: str, fact: FactField, node: Node, ctx: str, op: str | None) -> Any:
        """Return a value for ``path`` normalised to its type, or ``_BAD`` (reported)."""
        where = f"{ctx}: {path}" + (f": {op}" if op else "")
        numeric = op in (*_COMPARATORS, "between")
        if not isinstance(node, ScalarNode) or _is_null(node):
            self.problem(node, f"{where} needs a single value, not {_show(node)}")
            return _BAD
        raw = str(node.value)
        value = _construct(node)
        kind = fact.type

        def bad(need: str) -> Any:
            self.problem(node, f"{where} needs {need}, not {_show(node)}")
            return _BAD

        if kind == "any":
            if numeric and (isinstance(value, bool) or not isinstance(value, int | float)):
                return bad("a number")
            return value if isinstance(value, str | int | float | bool) else raw
        if kind in ("str", "weekday"):
            text = raw if kind == "str" else _FULL_WEEKDAYS.get(raw.lower(), raw.lower())
            if fact.values is not None and text not in fact.values:
                self.problem(
                    node,
                    f"{ctx}: {path} is never '{raw}' (it is one of: {_words(fact.values)})"
                    f"{_did_you_mean(text, fact.values)}",
                )
                return _BAD
            return text
        if kind == "country":
            if not re.fullmatch(r"[A-Za-z]{2}", raw):
                return bad("a two-letter country code like FR")
            return raw.upper()
        if kind == "bool":
            return value if isinstance(value, bool) else bad("true or false")
        if kind == "days":
            try:
                return vocabulary.parse_duration(value)
            except ValueError:
                return bad("a number of days (like 30 or 30d)")
        if isinstance(value, bool) or not isinstance(value, int):
            return bad("an hour from 0 to 23" if kind == "hour" else "a whole number")
        if kind == "hour" and not 0 <= value <= 23:
            return bad("an hour from 0 to 23")
        return value

    # -- schedules --------------------------------------------------------------------------------

    def schedules(self, entry: _Entry | None) -> tuple[ScheduleDoc, ...]:
        if entry is None or _is_null(entry.node):
            return ()
        if not isinstance(entry.node, SequenceNode):
            self.problem(
                entry.node, f"'schedules' must be a list (- id: ...), not {_show(entry.node)}"
            )
            return ()
        return tuple(self._first_of_each(
            (self.schedule(node, i + 1) for i, node in enumerate(entry.node.value)),
            "schedule", "id", lambda s: (s.id, s.line, (s.line, s.column)),
        ))

    def schedule(self, node: Node, number: int) -> ScheduleDoc | None:
        ctx = f"schedule #{number}"
        if not isinstance(node, MappingNode):
            self.problem(node, f"{ctx} must be a mapping with id, cron, when and message")
            return None
        before = len(self.problems)
        id_entry = _lookup(node, "id")
        sid = self.text(id_entry, ctx)
        if sid is not None:
            if ID_RE.fullmatch(sid):
                ctx = f"schedule '{sid}'"
            else:
                assert id_entry is not None
                self.problem(
                    id_entry.node,
                    f"{ctx}: id '{sid}' must be lowercase letters, digits and dashes, "
                    "like refill-reminder",
                )
        fields = self.entries(node, ctx, SCHEDULE_FIELDS)
        self.required(node, fields, ("id", "cron", "message"), ctx)
        cron = self.text(fields.get("cron"), ctx)
        if cron is not None:
            self.check_cron(cron, fields["cron"].node, ctx)
        when = self.when(fields.get("when"), node, ctx)
        message = self.text(fields.get("message"), ctx)
        if message is not None and message not in self.messages:
            self.problem(
                fields["message"].node,
                f"{ctx}: message '{message}' has no template templates/messages/{message}.html"
                f"{_did_you_mean(message, self.messages)}",
            )
        channel: tuple[str, ...] = ("email",)
        if "channel" in fields and not _is_null(fields["channel"].node):
            nodes = self.names(fields["channel"], ctx, f"one or more of {_words(CHANNELS)}")
            channel = tuple(str(n.value) for n in nodes)
            for n in nodes:
                if n.value not in CHANNELS:
                    self.problem(
                        n,
                        f"{ctx}: channel '{n.value}' is not one of {_words(CHANNELS)}"
                        f"{_did_you_mean(str(n.value), CHANNELS)}",
                    )
        if len(self.problems) > before or sid is None or cron is None or message is None:
            return None
        line, column = _mark(node)
        return ScheduleDoc(sid, cron, when, message, channel, line, column)

    def check_cron(self, cron: str, node: Node, ctx: str) -> None:
        parts = cron.split()
        if len(parts) != 5:
            self.problem(
                node,
                f"{ctx}: cron '{cron}' needs 5 fields (minute hour day-of-month month weekday), "
                f"not {len(parts)}",
            )
            return
        for part, (name, low, high, names) in zip(parts, _CRON_FIELDS, strict=True):
            if not _cron_field_ok(part, low, high, names):
                extra = " or names like MON" if names == _CRON_DAYS else (
                    " or names like JAN" if names else ""
                )
                self.problem(
                    node,
                    f"{ctx}: cron '{cron}': the {name} field '{part}' is not valid "
                    f"(use *, numbers {low}-{high}{extra}, ranges a-b, lists a,b and steps */n)",
                )

    # -- tests ------------------------------------------------------------------------------------

    def tests(self, entry: _Entry | None, journey_ids: set[str]) -> tuple[TestCase, ...]:
        if entry is None or _is_null(entry.node):
            return ()
        if not isinstance(entry.node, SequenceNode):
            self.problem(
                entry.node, f"'tests' must be a list (- name: ...), not {_show(entry.node)}"
            )
            return ()
        return tuple(self._first_of_each(
            (self.test(node, i + 1, journey_ids) for i, node in enumerate(entry.node.value)),
            "test", "name", lambda c: (c.name, c.line, (c.line, c.column)),
        ))

    def test(self, node: Node, number: int, journey_ids: set[str]) -> TestCase | None:
        ctx = f"test #{number}"
        if not isinstance(node, MappingNode):
            self.problem(node, f"{ctx} must be a mapping with name, given and expect")
            return None
        before = len(self.problems)
        name_entry = _lookup(node, "name")
        name = self.text(name_entry, ctx)
        if name is not None:
            ctx = f"test '{name}'"
        fields = self.entries(node, ctx, TEST_FIELDS)
        self.required(node, fields, ("name", "given", "expect"), ctx)
        given: dict[str, Any] = {}
        if "given" in fields and not _is_null(fields["given"].node):
            gnode = fields["given"].node
            if self.mapping(gnode, ctx, "given", "fact: value"):
                for g in self.entries(gnode, ctx, None, what="fact").values():
                    value = self.given_value(g, ctx)
                    if value is not _BAD:
                        given[g.key] = value
        expect: dict[str, Any] = {}
        if "expect" in fields and not _is_null(fields["expect"].node):
            enode = fields["expect"].node
            if self.mapping(enode, ctx, "expect", "journey: ID"):
                expect = self.expect(enode, ctx, journey_ids)
        if len(self.problems) > before or name is None:
            return None
        line, column = _mark(node)
        return TestCase(name, given, expect, line, column)

    def given_value(self, entry: _Entry, ctx: str) -> Any:
        path = entry.key
        if not vocabulary.is_known_path(path, self.reward_ids):
            hint = vocabulary.suggest(path, self.reward_ids)
            self.problem(
                entry.key_node,
                f"{ctx}: unknown fact '{path}'" + (f"; did you mean '{hint}'?" if hint else ""),
            )
            return _BAD
        if _is_null(entry.node):
            return None  # "not known"
        fact = vocabulary.field_for(path)
        assert fact is not None
        return self.value(path, fact, entry.node, f"{ctx}: given", None)

    def expect(self, node: MappingNode, ctx: str, journey_ids: set[str]) -> dict[str, Any]:
        fields = self.entries(node, f"{ctx}: expect", EXPECT_FIELDS)
        if "journey" not in fields:
            self.problem(node, f"{ctx}: expect needs 'journey' (or journey: null for none)")
        out: dict[str, Any] = {}
        checks: tuple[tuple[str, Collection[str], Callable[[str], str]], ...] = (
            ("journey", journey_ids, lambda v: f"journey '{v}', which is not defined"),
            ("experience", self.experiences,
             lambda v: f"experience '{v}', which has no template templates/experiences/{v}.html"),
            ("reward", self.reward_ids, lambda v: f"reward '{v}', which is not defined"),
        )
        for name, known, says in checks:
            entry = fields.get(name)
            if entry is None:
                continue
            if _is_null(entry.node):
                if name == "experience":
                    self.problem(entry.node, f"{ctx}: expect 'experience' needs a name")
                out[name] = None
                continue
            value = self.text(entry, ctx)
            if value is None:
                continue
            if value not in known:
                self.problem(
                    entry.node, f"{ctx}: expects {says(value)}{_did_you_mean(value, known)}"
                )
                continue
            out[name] = value
        return out

    # -- journeys against each other --------------------------------------------------------------

    def check_priorities(self, journeys: list[_Journey]) -> None:
        clean = [j for j in journeys if j.clean]
        for i, a in enumerate(clean):
            for b in clean[i + 1:]:
                if a.doc.priority == b.doc.priority and not exclusive(a.doc.when, b.doc.when):
                    self.problem(
                        b.priority_node,
                        f"journey '{b.doc.id}' has the same priority ({b.doc.priority}) as "
                        f"journey '{a.doc.id}' and both can match the same tap: give one of them "
                        "a higher priority",
                    )
        ordered = sorted(clean, key=lambda j: (-j.doc.priority, j.order))
        for index, b in enumerate(ordered):
            for a in ordered[:index]:
                if a.doc.priority > b.doc.priority and covers(a.doc.when, b.doc.when):
                    self.problem(
                        b.id_node,
                        f"journey '{b.doc.id}' can never be chosen: journey '{a.doc.id}' "
                        f"(priority {a.doc.priority}) matches whenever it does",
                    )
                    break


@functools.lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    """The time zone names this machine knows (empty when it has no tz database: no check)."""
    try:
        return frozenset(zoneinfo.available_timezones())
    except Exception:  # pragma: no cover - no tz database at all
        return frozenset()


# --- cron -----------------------------------------------------------------------------------------


def _cron_field_ok(part: str, low: int, high: int, names: tuple[str, ...]) -> bool:
    def number(token: str) -> int | None:
        if token.isdigit():
            n = int(token)
            return n if low <= n <= high else None
        lowered = token.lower()
        if lowered in names:
            return names.index(lowered) + (1 if names == _MONTHS else 0)
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


# --- reasoning about conditions -------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def leaf_holds(cond: Condition, value: Any) -> bool:
    """Return whether ``cond`` holds when its path has ``value`` (None: not known)."""
    op, operand = cond.op, cond.value
    if op == "exists":
        return (value is not None) == bool(operand)
    if op == "not_in":
        return value is None or all(not _same(value, v) for v in operand)
    if value is None:
        return False
    if op == "eq":
        return _same(value, operand)
    if op == "in":
        return any(_same(value, v) for v in operand)
    if not _is_number(value):
        return False
    if op == "between":
        return bool(operand[0] <= value <= operand[1])
    return bool(
        {"gte": value >= operand, "gt": value > operand, "lte": value <= operand,
         "lt": value < operand}[op]
    )


def _finite(cond: Condition) -> tuple[Any, ...] | None:
    if cond.op == "eq":
        return (cond.value,)
    if cond.op == "in":
        return tuple(cond.value)
    return None


def _interval(cond: Condition) -> tuple[float, bool, float, bool] | None:
    """Return (low, low included, high, high included) for a numeric condition."""
    inf = float("inf")
    v = cond.value
    if cond.op == "gte":
        return (v, True, inf, False)
    if cond.op == "gt":
        return (v, False, inf, False)
    if cond.op == "lte":
        return (-inf, False, v, True)
    if cond.op == "lt":
        return (-inf, False, v, False)
    if cond.op == "between":
        return (v[0], True, v[1], True)
    if cond.op == "eq" and _is_number(v):
        return (v, True, v, True)
    return None


def _positive(cond: Condition) -> bool:
    """Whether ``cond`` can only hold when its path is known."""
    if cond.op == "exists":
        return bool(cond.value)
    return cond.op != "not_in"


def implies(b: Condition, a: Condition) -> bool:
    """Return whether ``a`` holds whenever ``b`` does (both on the same path)."""
    if a.path != b.path:
        return False
    if a == b:
        return True
    if a.op == "exists":
        return _positive(b) if a.value else (b.op == "exists" and not b.value)
    values = _finite(b)
    if values is not None:
        return all(leaf_holds(a, v) for v in values)
    if a.op == "not_in" and b.op == "not_in":
        return all(any(_same(x, y) for y in b.value) for x in a.value)
    ia, ib = _interval(a), _interval(b)
    if ia is None or ib is None or a.op == "eq":
        return False
    low_ok = ib[0] > ia[0] or (ib[0] == ia[0] and (ia[1] or not ib[1]))
    high_ok = ib[2] < ia[2] or (ib[2] == ia[2] and (ia[3] or not ib[3]))
    return low_ok and high_ok


def disjoint(a: Condition, b: Condition) -> bool:
    """Return whether ``a`` and ``b`` (on the same path) can never hold together."""
    if a.path != b.path:
        return False
    for x, y in ((a, b), (b, a)):
        if x.op == "exists" and not x.value and _positive(y):
            return True
        values = _finite(x)
        if values is not None and not any(leaf_holds(y, v) for v in values):
            return True
    ia, ib = _interval(a), _interval(b)
    if ia is None or ib is None:
        return False
    low = max((ia[0], not ia[1]), (ib[0], not ib[1]))
    high = min((ia[2], ia[3]), (ib[2], ib[3]))
    if low[0] != high[0]:
        return low[0] > high[0]
    return low[1] or not high[1]  # the single shared point is excluded by one side


def exclusive(a: Group, b: Group) -> bool:
    """Return whether two journeys' ``when`` can never both hold, judged on top-level conditions."""
    return any(
        isinstance(x, Condition) and isinstance(y, Condition) and disjoint(x, y)
        for x in a.children
        for y in b.children
    )


def covers(a: Group, b: Group) -> bool:
    """Return whether ``a`` (a top-level ``all``) holds whenever ``b`` does, judged conservatively:
    each of ``a``'s top-level conditions is implied by one of ``b``'s (or is identical to it)."""
    for x in a.children:
        if isinstance(x, Condition):
            if not any(isinstance(y, Condition) and implies(y, x) for y in b.children):
                return False
        elif x not in b.children:
            return False
    return True


# --- back to YAML data ----------------------------------------------------------------------------


def condition_data(cond: Condition) -> Any:
    """Return the YAML value of one condition (what follows ``path:``)."""
    if cond.op == "eq":
        return cond.value
    if cond.op in ("in", "not_in", "between"):
        return {cond.op: list(cond.value)}
    return {cond.op: cond.value}


def when_data(group: Group) -> dict[str, Any]:
    """Return the ``when`` mapping that parses back to ``group`` (a top-level ``all``).

    Raises:
        ValueError: the tree cannot be written as one mapping (two entries would share a key).
    """
    if group.kind != "all":
        return dict([_entry_data(group, set())])
    # A condition's path is its key; a ``not`` of one condition may borrow a free path as its key.
    used = {c.path for c in group.children if isinstance(c, Condition)}
    out: dict[str, Any] = {}
    for child in group.children:
        key, value = _entry_data(child, used)
        if key in out:
            raise ValueError(f"'{key}' would appear twice in one mapping")
        used.add(key)
        out[key] = value
    return out


def _entry_data(node: Condition | Group, used: set[str]) -> tuple[str, Any]:
    if isinstance(node, Condition):
        return node.path, condition_data(node)
    if node.kind == "not" and len(node.children) == 1:
        path = _single_path(node.children[0])
        if path is not None and path not in used:
            return path, {"not": _negand(node.children[0])}
    return node.kind, [dict([_entry_data(c, set())]) for c in node.children]


def _single_path(node: Condition | Group) -> str | None:
    """The path of a condition, or of a ``not`` chain ending in one condition."""
    if isinstance(node, Condition):
        return node.path
    if node.kind == "not" and len(node.children) == 1:
        return _single_path(node.children[0])
    return None


def _negand(node: Condition | Group) -> Any:
    if isinstance(node, Condition):
        return condition_data(node)
    return {"not": _negand(node.children[0])}


def holds(node: Condition | Group, fact: Mapping[str, Any]) -> bool:
    """Return whether a condition tree holds for ``fact`` (a missing path is "not known")."""
    if isinstance(node, Condition):
        return leaf_holds(node, fact.get(node.path))
    if node.kind == "any":
        return any(holds(c, fact) for c in node.children)
    every = all(holds(c, fact) for c in node.children)
    return every if node.kind == "all" else not every


# --- JSON Schema for editors ---------------------------------------------------------------------


def ruleset_json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of a ruleset file: docs/ruleset.schema.json.

    It gives editors completion and early warnings; the checker above remains the authority (it
    also knows the templates, the actions and the ruleset's own rewards and journeys).
    """
    slug = {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]*$"}
    duration = {
        "description": "Days: a whole number, or 30d, 12w, 6m (30 days each), 1y (365 days).",
        "anyOf": [
            {"type": "integer", "minimum": 0},
            {"type": "string", "pattern": DURATION_RE},
        ],
    }
    count = {"type": "integer", "minimum": 0}
    defs: dict[str, Any] = {
        "slug": slug,
        "duration": duration,
        "factPath": {
            "description": "A fact a condition or a test may use.",
            "anyOf": [
                {"enum": list(vocabulary.FACTS)},
                {"type": "string", "pattern": "^" + vocabulary.PRODUCT_PATTERN.pattern + "$"},
                {"type": "string", "pattern": "^" + vocabulary.REWARD_PATTERN.pattern + "$"},
            ],
        },
        "conditions": {
            "description": "Conditions that must all hold: fact: value, or any / all / not.",
            "type": "object",
            "properties": {
                "any": {"$ref": "#/$defs/group", "description": "At least one of these holds."},
                "all": {"$ref": "#/$defs/group", "description": "Every one of these holds."},
                "not": {"$ref": "#/$defs/group", "description": "These do not all hold."},
                **{
                    path: {"$ref": f"#/$defs/fact.{path}", "description": f.doc}
                    for path, f in vocabulary.FACTS.items()
                },
            },
            "patternProperties": {
                "^" + vocabulary.PRODUCT_PATTERN.pattern + "$": {
                    "$ref": "#/$defs/fact.product.<name>"
                },
                "^" + vocabulary.REWARD_PATTERN.pattern + "$": {
                    "$ref": "#/$defs/fact.reward.<reward-id>.available"
                },
            },
            "additionalProperties": False,
        },
        "group": {
            "anyOf": [
                {
                    "type": "array",
                    "minItems": 1,
                    "items": {"$ref": "#/$defs/conditions", "minProperties": 1},
                },
                {"$ref": "#/$defs/conditions", "minProperties": 1},
            ]
        },
        "when": {
            "description": "When the journey applies; leave it out or write {} for always.",
            "anyOf": [{"type": "null"}, {"$ref": "#/$defs/conditions"}],
        },
        "journey": {
            "type": "object",
            "required": ["id", "priority", "experience"],
            "additionalProperties": False,
            "properties": {
                "id": {"$ref": "#/$defs/slug"},
                "priority": {"type": "integer", "description": "Higher is tried first."},
                "when": {"$ref": "#/$defs/when"},
                "do": {
                    "type": "array",
                    "items": {"enum": sorted(ACTIONS)},
                    "description": "Actions carried out when this journey is chosen.",
                },
                "experience": {
                    "type": "string",
                    "description": "Template name under templates/experiences/.",
                },
                "content": {"type": "object"},
                "reward": {"$ref": "#/$defs/slug"},
                "signal": {"type": "string", "pattern": "^" + NAME_RE.pattern + "$"},
            },
        },
        "code": {
            "anyOf": [
                {"const": "generated"},
                {
                    "type": "object",
                    "required": ["list"],
                    "additionalProperties": False,
                    "properties": {"list": {"type": "string"}},
                },
                {"type": "null"},
            ]
        },
        "prize": {
            "type": "object",
            "required": ["id"],
            "additionalProperties": False,
            "properties": {
                "id": {"$ref": "#/$defs/slug"},
                "weight": {"type": "number", "exclusiveMinimum": 0},
                "stock": count,
                "code": {"$ref": "#/$defs/code"},
                "points": count,
                "min_plays": count,
            },
        },
        "reward": {
            "type": "object",
            "additionalProperties": False,
            "anyOf": [{"required": ["points"]}, {"required": ["prizes"]}],
            "properties": {
                "points": count,
                "mechanic": {"enum": list(MECHANICS)},
                "prizes": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/prize"}},
                "consolation": {
                    "type": "object",
                    "required": ["id"],
                    "additionalProperties": False,
                    "properties": {
                        "id": {"$ref": "#/$defs/slug"},
                        "points": count,
                        "code": {"$ref": "#/$defs/code"},
                    },
                },
                "limit": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "per_item": count,
                        "per_owner": count,
                        "per_day": count,
                        "per": {"$ref": "#/$defs/duration"},
                    },
                },
                "expires": {"$ref": "#/$defs/duration"},
                "holdout": {
                    "anyOf": [
                        {"type": "number", "minimum": 0, "maximum": 100},
                        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$"},
                    ]
                },
                "budget": {"type": "integer", "minimum": 1},
            },
        },
        "channel": {"enum": list(CHANNELS)},
        "schedule": {
            "type": "object",
            "required": ["id", "cron", "message"],
            "additionalProperties": False,
            "properties": {
                "id": {"$ref": "#/$defs/slug"},
                "cron": {
                    "type": "string",
                    "pattern": CRON_RE,
                    "description": "minute hour day-of-month month weekday",
                },
                "when": {"$ref": "#/$defs/when"},
                "message": {
                    "type": "string",
                    "description": "Template name under templates/messages/.",
                },
                "channel": {
                    "anyOf": [
                        {"$ref": "#/$defs/channel"},
                        {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/channel"}},
                    ]
                },
            },
        },
        "rate": {
            "type": "object",
            "required": ["max", "per"],
            "additionalProperties": False,
            "properties": {"max": count, "per": {"$ref": "#/$defs/duration"}},
        },
        "time": {"type": "string", "pattern": r"^([01]?\d|2[0-3]):[0-5]\d$"},
        "test": {
            "type": "object",
            "required": ["name", "given", "expect"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string"},
                "given": {
                    "type": "object",
                    "propertyNames": {"$ref": "#/$defs/factPath"},
                    "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
                },
                "expect": {
                    "type": "object",
                    "required": ["journey"],
                    "additionalProperties": False,
                    "properties": {
                        "journey": {"anyOf": [{"$ref": "#/$defs/slug"}, {"type": "null"}]},
                        "experience": {"type": "string"},
                        "reward": {"anyOf": [{"$ref": "#/$defs/slug"}, {"type": "null"}]},
                    },
                },
            },
        },
    }
    for f in (*vocabulary.FACTS.values(), *vocabulary.WILDCARDS):
        defs[f"fact.{f.path}"] = _fact_condition_schema(f)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Aftertap ruleset",
        "description": "One brand's post-purchase journeys. See docs/journeys.md.",
        "type": "object",
        "required": ["brand", "journeys"],
        "additionalProperties": False,
        "properties": {
            "brand": {"$ref": "#/$defs/slug"},
            "title": {"type": "string"},
            "timezone": {"type": "string", "description": "Like Europe/Paris."},
            "locale": {"type": "string", "pattern": "^" + LOCALE_RE.pattern + "$"},
            "guardrails": {
                "type": ["object", "null"],
                "additionalProperties": False,
                "properties": {
                    "rewards_per_owner": {"$ref": "#/$defs/rate"},
                    "messages_per_owner": {"$ref": "#/$defs/rate"},
                    "quiet_hours": {
                        "type": "object",
                        "required": ["from", "to"],
                        "additionalProperties": False,
                        "properties": {
                            "from": {"$ref": "#/$defs/time"},
                            "to": {"$ref": "#/$defs/time"},
                        },
                    },
                },
            },
            "journeys": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/journey"}},
            "rewards": {
                "type": ["object", "null"],
                "propertyNames": {"$ref": "#/$defs/slug"},
                "additionalProperties": {"$ref": "#/$defs/reward"},
            },
            "schedules": {"type": ["array", "null"], "items": {"$ref": "#/$defs/schedule"}},
            "tests": {"type": ["array", "null"], "items": {"$ref": "#/$defs/test"}},
        },
        "$defs": defs,
    }


def _fact_condition_schema(f: FactField) -> dict[str, Any]:
    """A fact's condition: a value (equals) or one operator."""
    value: dict[str, Any]
    number: dict[str, Any] | None = None
    if f.values is not None:
        extra = list(_FULL_WEEKDAYS) if f.type == "weekday" else []
        value = {"enum": [*f.values, *extra]}
    elif f.type == "str":
        value = {"type": ["string", "number"]}
    elif f.type == "country":
        value = {"type": "string", "pattern": "^[A-Za-z]{2}$"}
    elif f.type == "bool":
        value = {"type": "boolean"}
    elif f.type == "days":
        value = number = {"$ref": "#/$defs/duration"}
    elif f.type == "hour":
        value = number = {"type": "integer", "minimum": 0, "maximum": 23}
    elif f.type == "int":
        value = number = {"type": "integer"}
    else:  # any
        value = {"type": ["string", "number", "boolean"]}
        number = {"type": "number"}
    operators: dict[str, Any] = {
        "in": {"type": "array", "minItems": 1, "items": value},
        "not_in": {"type": "array", "minItems": 1, "items": value},
        "exists": {"type": "boolean"},
        "not": {"$ref": f"#/$defs/fact.{f.path}"},
    }
    if number is not None:
        operators.update({op: number for op in _COMPARATORS})
        operators["between"] = {
            "type": "array", "minItems": 2, "maxItems": 2, "items": number,
        }
    return {
        "description": f.doc,
        "anyOf": [
            value,
            {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "additionalProperties": False,
                "properties": operators,
            },
        ],
    }
