"""The marketer's tools: validate ruleset files, simulate a decision, run a ruleset's own tests.

``flask --app wsgi journeys validate|simulate|test`` (``app.rules.cli``) is a thin wrapper over
these; the admin preview uses them too. None needs a secret, a key or a database (except
``item_fact``, which reads a tag the caller loaded, and ``brand_catalogue``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from app.catalog.holdings import current_holding
from app.catalog.models import Brand, Product
from app.catalog.views import item_view
from app.journeys.facts import AT_KEY, OWNED_SINCE_KEY, tap_fact
from app.journeys.language import Condition, Group, RulesetDoc
from app.journeys.vocabulary import complete_fact, field_for, parse_duration, suggest
from app.rules.explain import JourneyResult
from app.rules.service import (
    Ruleset,
    RulesetError,
    decide,
    explain_fact,
    localise,
    parse_ruleset,
)
from app.verify.models import Tag, TapEvent
from app.verify.service import GENUINE, TagView, TapOutcome


@dataclass(frozen=True)
class FileReport:
    """The outcome of validating one ruleset file: its problems, or its ruleset when clean."""

    path: str
    problems: tuple[str, ...]
    ruleset: Ruleset | None = None


def ruleset_files(paths: Sequence[Path]) -> list[Path]:
    """Return the ruleset files named by ``paths`` (files, or folders of ``*.yaml``), sorted."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.yaml")) if path.is_dir() else [path])
    return files


def validate_files(
    paths: Sequence[Path], experiences: Collection[str], messages: Collection[str]
) -> list[FileReport]:
    """Validate each ruleset file; return a report per file (problems as FILE:LINE:COL lines)."""
    reports = []
    for path in ruleset_files(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reports.append(FileReport(str(path), (f"{path}:1:1: cannot read the file: {exc}",)))
            continue
        try:
            ruleset = parse_ruleset(text, str(path), experiences, messages)
        except RulesetError as exc:
            problems = tuple(str(p) for p in exc.problems) or (str(exc),)
            reports.append(FileReport(str(path), problems))
            continue
        reports.append(FileReport(str(path), (), ruleset))
    return reports


def parse_fact_assignments(assignments: Sequence[str]) -> dict[str, Any]:
    """Return ``{path: value}`` from ``PATH=VALUE`` strings; values read as YAML scalars
    (``true``, ``80``, ``FR``), and durations (``30d``) as days.

    Raises:
        ValueError: an assignment has no ``=``, or names a path that is not in the vocabulary.
    """
    fact: dict[str, Any] = {}
    for assignment in assignments:
        path, sep, raw = assignment.partition("=")
        path = path.strip()
        if not sep or not path:
            raise ValueError(f"--fact {assignment!r}: write PATH=VALUE, e.g. ownership.days=80")
        known = field_for(path)
        if known is None:
            hint = suggest(path)
            raise ValueError(
                f"--fact {path}: not a fact journeys know"
                + (f"; did you mean '{hint}'?" if hint else "")
            )
        value = yaml.safe_load(raw) if raw.strip() else None
        if known.type == "days" and isinstance(value, str):
            value = parse_duration(value)
        fact[path] = value
    return fact


def case_fact(ruleset: Ruleset, given: Mapping[str, Any]) -> dict[str, Any]:
    """Return the fact a ruleset test decides on: the defaults overlaid with ``given``.

    A test that gives ``tap.date`` taps on that day in the ruleset's time zone, at
    ``tap.local_hour`` (noon when not given): the other calendar paths and dated journeys'
    windows follow from it, and whatever else ``given`` says wins.
    """
    fact = complete_fact(given, ruleset.doc.reward_ids)
    day = given.get("tap.date")
    if not isinstance(day, str):
        return fact
    hour = given.get("tap.local_hour")
    local = datetime.combine(date.fromisoformat(day),
                             time(hour if isinstance(hour, int) else 12),
                             ZoneInfo(ruleset.doc.timezone))
    return {**localise({**fact, AT_KEY: local.astimezone(UTC)}, ruleset.doc.timezone), **given}


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False  # not a pytest class

    ruleset: str
    name: str
    passed: bool
    expected: Mapping[str, Any]
    actual: Mapping[str, Any]
    explanation: tuple[JourneyResult, ...]
    line: int


def run_ruleset_tests(ruleset: Ruleset) -> list[TestOutcome]:
    """Run a ruleset's own ``tests:``; return one outcome per case, in file order."""
    outcomes = []
    for case in ruleset.doc.tests:
        fact = case_fact(ruleset, case.given)
        decision = decide(ruleset, fact)
        actual = {
            "journey": decision.journey if decision else None,
            "experience": decision.experience if decision else None,
            "reward": decision.reward if decision else None,
        }
        passed = all(actual.get(k) == v for k, v in case.expect.items())
        outcomes.append(
            TestOutcome(
                ruleset=ruleset.source,
                name=case.name,
                passed=passed,
                expected=dict(case.expect),
                actual=actual,
                explanation=tuple(explain_fact(ruleset, fact)) if not passed else (),
                line=case.line,
            )
        )
    return outcomes


def format_explanation(rows: Sequence[JourneyResult]) -> list[str]:
    """Return the explanation as indented lines a marketer can read."""
    lines = []
    for row in rows:
        mark = "MATCH" if row.matched else "no   "
        lines.append(f"  {mark} {row.id} (priority {row.priority})")
        for cond in row.conditions:
            pad = "      " + "  " * cond.depth
            value = "" if cond.text.endswith(" of") else f"  [value: {_show(cond.value)}]"
            lines.append(f"{pad}{'✓' if cond.held else '✗'} {cond.text}{value}")
        if not row.conditions:
            lines.append("      ✓ (no conditions: always)")
    return lines


def _show(value: Any) -> str:
    if value is None:
        return "not known"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def item_fact(tag: Tag, at: datetime, as_: str | None = None) -> dict[str, Any]:
    """Return the fact a genuine tap of ``tag``'s item would produce at ``at``, without tapping.

    Every count of days (item, ownership, anniversary, warranty, service, last tap) is taken at
    ``at``. ``as_`` is "owner" or "visitor" (who holds the phone); None leaves ownership as it is.
    """
    outcome = simulated_outcome(tag, at)
    fact = tap_fact(outcome)
    fact.update(_held_at(tag, outcome, at))
    if as_ == "owner":
        fact.update({"owner.is_current": True, "ownership.state": "owned"})
    elif as_ == "visitor":
        fact.update({"owner.is_current": False})
    return fact


def _held_at(tag: Tag, outcome: TapOutcome, at: datetime) -> dict[str, Any]:
    """The item's current ownership, warranty and service as paths of the fact at ``at``; an
    ownership that starts after ``at`` is not counted (the item is unclaimed then)."""
    item = outcome.item
    assert item is not None
    session = object_session(tag)
    holding = current_holding(session, item.id) if session is not None else None
    fact: dict[str, Any] = {"service.count": item.service_count}
    if holding is not None and holding.started_at <= at:
        fact.update({
            "ownership.state": "owned", "ownership.ordinal": holding.ordinal,
            "ownership.days": _days(holding.started_at, at),
            "ownership.owner_taps": holding.owner_taps,
            "ownership.month_streak": holding.month_streak,
            OWNED_SINCE_KEY: holding.started_at,
        })
    starts, ends = item.warranty_started_at, item.warranty_ends_at
    active = starts is not None and ends is not None and starts <= at < ends
    fact["warranty.active"] = active
    if active and ends is not None:
        fact["warranty.days_left"] = max(0, (ends - at).days)
    if item.last_service_at is not None and item.last_service_at <= at:
        fact["service.days_since_last"] = _days(item.last_service_at, at)
    return fact


def _days(since: datetime, at: datetime) -> int:
    return max(0, (at - since).days)


def simulated_outcome(tag: Tag, at: datetime, verdict: str | None = None) -> TapOutcome:
    """Return the TapOutcome a tap of ``tag`` at ``at`` would have, without touching anything.

    The previous genuine tap is the item's last one before ``at``.
    """
    view = TagView(tag.id, tag.uid, tag.key_version, tag.revoked_at is not None,
                   item_view(tag.item))
    session = object_session(tag)
    previous = None
    if session is not None:
        previous = session.scalar(
            select(func.max(TapEvent.at)).where(TapEvent.item_id == tag.item_id,
                                                TapEvent.verdict == GENUINE, TapEvent.at < at))
    return TapOutcome(verdict or GENUINE, at, tag=view, item=view.item,
                      number=tag.genuine_taps + 1, previous_genuine_at=previous)


# --- the ruleset against the brand's catalogue -----------------------------------------------

# Paths whose values only the catalogue knows, and what the catalogue calls them.
CATALOGUE_PATHS = {"product.category": "category", "product.gtin": "GTIN", "item.gtin": "GTIN"}
_PLURALS = {"category": "categories", "GTIN": "GTINs"}


@dataclass(frozen=True)
class Catalogue:
    """The values a brand's products have, per path of ``CATALOGUE_PATHS``."""

    brand: str
    values: Mapping[str, frozenset[str]]


def brand_catalogue(session: Session, brand: str) -> Catalogue | None:
    """Return ``brand``'s product categories and GTINs, or None when it has no product yet (its
    rulesets can be written before its catalogue is imported)."""
    rows = session.execute(
        select(Product.category, Product.gtin).join(Brand, Product.brand_id == Brand.id)
        .where(Brand.slug == brand)).all()
    if not rows:
        return None
    gtins = frozenset(r.gtin for r in rows)
    return Catalogue(brand, {"product.category": frozenset(r.category for r in rows),
                             "product.gtin": gtins, "item.gtin": gtins})


def catalogue_problems(ruleset: Ruleset, catalogue: Catalogue) -> list[str]:
    """Return a FILE:LINE:COL line for each condition (journeys and schedules) that tests a
    category or GTIN none of the brand's products has, and each ``products:`` entry for one,
    with the closest real one ("did you mean"); such a condition would silently never hold,
    and such words never be shown."""
    problems: list[tuple[int, int, str]] = []
    whens = [j.when for j in ruleset.doc.journeys] + [s.when for s in ruleset.doc.schedules]
    for cond in (c for when in whens for c in _leaves(when)):
        known = catalogue.values.get(cond.path)
        if known is None or cond.op not in ("eq", "in", "not_in"):
            continue
        wanted = cond.value if isinstance(cond.value, tuple) else (cond.value,)
        for value in wanted:
            if str(value) in known:
                continue
            what = CATALOGUE_PATHS[cond.path]
            problems.append((cond.line, cond.column, (
                f"{cond.path} {value!r}: no product of {catalogue.brand} has this {what}; "
                + _closest(str(value), known, what))))
    for entry in ruleset.doc.products:
        # ``products:`` keys: words for a category or GTIN no product has are never shown.
        path = "product.category" if entry.kind == "category" else "product.gtin"
        known = catalogue.values[path]
        if entry.key not in known:
            what = CATALOGUE_PATHS[path]
            problems.append((entry.line, entry.column, (
                f"products: {what} {entry.key!r}: no product of {catalogue.brand} has this "
                f"{what}; " + _closest(entry.key, known, what))))
    return [f"{ruleset.source}:{line}:{col}: {text}"
            for line, col, text in sorted(problems, key=lambda p: p[:2])]


_PRODUCT_MEDIA = re.compile(r"journey products/(category|gtin)/([^/]+)/(care|owner_content): "
                            r"content\.media")


def product_contents(doc: RulesetDoc) -> list[tuple[str, dict[str, Any]]]:
    """Return (name, content) pairs of the media ``products:`` names, for the brand's assets
    check (``app.catalog.themes.look_problems``); ``product_media_line`` words its lines."""
    return [(f"products/{entry.kind}/{entry.key}/{part}", {"media": content["media"]})
            for entry in doc.products
            for part, content in (("care", entry.care), ("owner_content", entry.owner_content))
            if content.get("media")]


def product_media_line(line: str) -> str:
    """Return an assets problem about ``products:`` media (``product_contents``) in the words
    of the ruleset (``products: category 'watch': care.media.image ...``); others unchanged."""
    return _PRODUCT_MEDIA.sub(
        lambda m: f"products: {'GTIN' if m[1] == 'gtin' else 'category'} '{m[2]}': "
                  f"{m[3]}.media", line)


def _leaves(node: Condition | Group) -> list[Condition]:
    if isinstance(node, Group):
        return [leaf for child in node.children for leaf in _leaves(child)]
    return [node]


def _closest(value: str, known: frozenset[str], what: str) -> str:
    same = sorted(k for k in known if k.casefold() == value.casefold())
    close = same or difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    listed = sorted(known)
    shown = ", ".join(repr(k) for k in listed[:10]) + (", ..." if len(listed) > 10 else "")
    return f"its {_PLURALS[what]} are {shown}"
