"""The marketer's tools: validate ruleset files, simulate a decision, run a ruleset's own tests.

``flask --app wsgi journeys validate|simulate|test`` (``app.rules.cli``) is a thin wrapper over
these; the admin preview uses them too. None needs a secret, a key or a database (except
``item_fact``, which reads a tag the caller loaded).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from app.catalog.views import item_view
from app.journeys.facts import tap_fact
from app.journeys.vocabulary import complete_fact, field_for, parse_duration, suggest
from app.rules.explain import JourneyResult
from app.rules.service import Ruleset, RulesetError, decide, explain_fact, parse_ruleset
from app.verify.models import Tag
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
        fact = complete_fact(case.given, ruleset.doc.reward_ids)
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

    ``as_`` is "owner" or "visitor" (who holds the phone); None leaves ownership as it is.
    """
    outcome = simulated_outcome(tag, at)
    fact = tap_fact(outcome)
    if as_ == "owner":
        fact.update({"owner.is_current": True, "ownership.state": "owned"})
    elif as_ == "visitor":
        fact.update({"owner.is_current": False})
    return fact


def simulated_outcome(tag: Tag, at: datetime, verdict: str | None = None) -> TapOutcome:
    """Return the TapOutcome a tap of ``tag`` at ``at`` would have, without touching anything."""
    view = TagView(tag.id, tag.uid, tag.key_version, tag.revoked_at is not None,
                   item_view(tag.item))
    return TapOutcome(verdict or GENUINE, at, tag=view, item=view.item,
                      number=tag.genuine_taps + 1)
