"""Turn a tap outcome into the fact journeys are evaluated against.

A fact is a flat mapping of dotted paths to scalars (``tap.verdict``, ``product.category``...).
None means "not known" and is left out of the engine's event.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from app.journeys.vocabulary import defaults
from app.verify.service import TapOutcome

# Catalogue attributes are exposed as product.<name>; these names are reserved for the product's
# own columns so an attribute cannot shadow them.
_RESERVED_PRODUCT_KEYS = {"gtin", "category", "name"}


_LIFECYCLE_PREFIXES = {"ownership", "owner", "warranty", "service"}

# The tap's moment, carried beside the fact (never sent to the engine) so local-time paths can be
# computed in the ruleset's own time zone.
AT_KEY = "_at"


def _days(since: datetime | None, now: datetime) -> int | None:
    return None if since is None else max(0, (now - since).days)


def tap_fact(outcome: TapOutcome) -> dict[str, Any]:
    """Return the fact for ``outcome``: tap, item and product paths."""
    fact: dict[str, Any] = {
        "tap.verdict": outcome.verdict,
        "tap.number": outcome.number,
        "tap.country": outcome.country,
        "tap.mode": outcome.sun.mode if outcome.sun else None,
        "tap.tamper": outcome.sun.tamper if outcome.sun else None,
        # UTC until the brand's ruleset says which time zone it thinks in (see app.rules).
        "tap.weekday": outcome.at.strftime("%a").lower(),
        "tap.local_hour": outcome.at.hour,
        "tap.days_since_last": _days(outcome.previous_genuine_at, outcome.at),
        AT_KEY: outcome.at,
    }
    item = outcome.item
    if item is not None:
        product = item.product
        fact.update(
            {
                "item.gtin": product.gtin,
                "item.serial": item.serial,
                "item.market": item.market,
                "item.released": item.released,
                "item.stolen": item.stolen,
                "item.age_days": _days(item.created_at, outcome.at),
                "product.gtin": product.gtin,
                "product.category": product.category,
                "product.name": product.name,
            }
        )
        for key, value in (product.attributes or {}).items():
            if key not in _RESERVED_PRODUCT_KEYS and isinstance(value, str | int | float | bool):
                fact[f"product.{key}"] = value
        if item.market and outcome.country:
            fact["tap.outside_market"] = item.market != outcome.country
        # Ownership, owner, warranty and service facts start from their documented defaults;
        # a genuine tap then overlays the item's real state (app.ownership.service
        # .lifecycle_fact), so a live tap and a ruleset test with the same given agree.
        for path, value in defaults().items():
            if path.split(".", 1)[0] in _LIFECYCLE_PREFIXES:
                fact.setdefault(path, value)
    return fact


# --- Marketer's tools: validate, simulate, test --------------------------------------------------


@dataclass(frozen=True)
class FileReport:
    """The outcome of validating one ruleset file: its problems, or its ruleset when clean."""

    path: str
    problems: tuple[str, ...]
    ruleset: Any = None


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
    from app.rules.service import RulesetError, parse_ruleset

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
    import yaml

    from app.journeys.vocabulary import field_for, parse_duration, suggest

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
    explanation: tuple[Any, ...]
    line: int


def run_ruleset_tests(ruleset: Any) -> list[TestOutcome]:
    """Run a ruleset's own ``tests:``; return one outcome per case, in file order."""
    from app.journeys.vocabulary import complete_fact
    from app.rules.service import decide, explain_fact

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


def format_explanation(rows: Sequence[Any]) -> list[str]:
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


def item_fact(session: Any, tag: Any, at: Any, as_: str | None = None) -> dict[str, Any]:
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


def simulated_outcome(tag: Any, at: Any, verdict: str | None = None) -> Any:
    """Return the TapOutcome a tap of ``tag`` at ``at`` would have, without touching anything."""
    from app.catalog.views import item_view
    from app.verify.service import GENUINE, TagView, TapOutcome

    view = TagView(tag.id, tag.uid, tag.key_version, tag.revoked_at is not None,
                   item_view(tag.item))
    return TapOutcome(verdict or GENUINE, at, tag=view, item=view.item,
                      number=tag.genuine_taps + 1)
