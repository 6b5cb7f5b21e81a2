"""Publishing rulesets like code: checked, tested, stored as versions, rolled back, replayed.

A brand's live ruleset is its newest ``RulesetVersion``. ``publish`` stores a new version only
when the text validates (including that ``brand:`` names a brand in the ``brands`` table) and
every one of its own ``tests:`` passes, so the newest version is always one that passed.
``rollback`` publishes an old version's text again as a new version (checked again, with a note
saying which version it restores), so the history only grows and says who did what, when.
``replay`` re-decides the facts recorded with past taps under a draft: the "what if".
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.catalog.models import Brand, Item, Product
from app.core.audit import audit
from app.core.errors import DomainError, NotFound
from app.journeys.facts import AT_KEY
from app.journeys.language import Problem
from app.rules.models import RulesetVersion
from app.rules.service import Ruleset, RulesetError, decide, localise, parse_ruleset
from app.rules.tools import TestOutcome, run_ruleset_tests
from app.verify.models import TapEvent

# The poll every process runs every RULESETS_RELOAD_SECONDS: one short row per brand.
LATEST_IDS = select(RulesetVersion.brand, func.max(RulesetVersion.id)).group_by(
    RulesetVersion.brand)
_BY_ID = select(RulesetVersion).where(RulesetVersion.id == bindparam("id"))
_LIVE = (select(RulesetVersion).where(RulesetVersion.brand == bindparam("brand"))
         .order_by(RulesetVersion.id.desc()).limit(1))
_BRANDS = select(Brand.slug)


class PublishRefused(DomainError):
    """The draft does not validate or one of its tests fails; ``problems`` says each why."""

    status = 422
    code = "ruleset_refused"

    def __init__(self, message: str, problems: Collection[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems) or [message]


@dataclass(frozen=True)
class Draft:
    """A checked draft: its compiled ruleset and its own tests' outcomes (all passed)."""

    ruleset: Ruleset
    tests: tuple[TestOutcome, ...]


@dataclass(frozen=True)
class Published:
    """What ``publish`` did: the version now live (new, or the unchanged live one)."""

    id: int
    brand: str
    digest: str
    created: bool
    diff: str | None


def known_brands(session: Session) -> set[str]:
    """Return every brand slug in the database."""
    return set(session.scalars(_BRANDS))


def known_brands_or_none(session: Session) -> set[str] | None:
    """Return every brand slug, or None when the database cannot say (not migrated, down)."""
    try:
        return known_brands(session)
    except SQLAlchemyError:
        session.rollback()
        return None


def check_brand(ruleset: Ruleset, text: str, brands: Collection[str]) -> None:
    """Refuse a ruleset whose ``brand:`` is not in ``brands``.

    Raises:
        RulesetError: with the problem at the ``brand:`` line.
    """
    if ruleset.brand in brands:
        return
    lines = text.splitlines()
    line = next((i for i, ln in enumerate(lines, 1) if ln.startswith("brand:")), 1)
    close = difflib.get_close_matches(ruleset.brand, list(brands), n=1)
    message = (f"brand '{ruleset.brand}' is not a brand in the database"
               + (f"; did you mean '{close[0]}'?" if close else ""))
    problem = Problem(ruleset.source, line, 1, message)
    raise RulesetError(str(problem), [problem])


def check_draft(
    text: str,
    source: str,
    brands: Collection[str],
    experiences: Collection[str],
    messages: Collection[str],
) -> Draft:
    """Validate ``text`` (brand included) and run its tests; return the draft.

    Raises:
        PublishRefused: a problem or a failing test, each as one line.
    """
    try:
        ruleset = parse_ruleset(text, source, experiences, messages)
        check_brand(ruleset, text, brands)
    except RulesetError as exc:
        raise PublishRefused(f"{source} does not validate",
                             [str(p) for p in exc.problems] or [str(exc)]) from exc
    outcomes = tuple(run_ruleset_tests(ruleset))
    failed = [f"{source}:{o.line}: test '{o.name}' failed: expected {dict(o.expected)}, "
              f"got { {k: o.actual.get(k) for k in o.expected} }"
              for o in outcomes if not o.passed]
    if failed:
        raise PublishRefused(f"{source}: {len(failed)} of its tests fail", failed)
    return Draft(ruleset, outcomes)


def live_version(session: Session, brand: str) -> RulesetVersion | None:
    """Return ``brand``'s live (newest) version, or None when it has none."""
    return session.scalars(_LIVE, {"brand": brand}).first()


def get_version(session: Session, version_id: int) -> RulesetVersion | None:
    """Return the version with id ``version_id``, or None."""
    return session.scalars(_BY_ID, {"id": version_id}).first()


def latest_ids(session: Session) -> dict[str, int]:
    """Return the newest version id of every brand that has one."""
    return {brand: int(newest) for brand, newest in session.execute(LATEST_IDS)}


def list_versions(session: Session, brand: str) -> list[RulesetVersion]:
    """Return ``brand``'s versions, newest first (the first is live)."""
    return list(session.scalars(
        select(RulesetVersion).where(RulesetVersion.brand == brand)
        .order_by(RulesetVersion.id.desc())))


def diff_against(live: RulesetVersion | None, text: str, source: str) -> str:
    """Return the unified diff from ``live``'s text (empty before a first version) to ``text``."""
    before = live.text if live is not None else ""
    label = f"{live.brand} version {live.id}" if live is not None else "(nothing published)"
    return "".join(difflib.unified_diff(
        before.splitlines(keepends=True), text.splitlines(keepends=True),
        fromfile=label, tofile=source))


def publish(
    session: Session,
    text: str,
    source: str,
    *,
    author: str,
    at: datetime,
    experiences: Collection[str],
    messages: Collection[str],
    note: str | None = None,
) -> Published:
    """Check ``text`` and store it as its brand's new live version; the caller commits.

    A text identical to the live version's stores nothing (``created`` False), so publishing a
    folder at every start-up does not grow the history.

    Raises:
        PublishRefused: it does not validate, names no brand in the database, or a test fails.
    """
    draft = check_draft(text, source, known_brands(session), experiences, messages)
    brand = draft.ruleset.brand
    live = live_version(session, brand)
    if live is not None and live.text == text and note is None:
        return Published(live.id, brand, live.digest, False, None)
    diff = diff_against(live, text, source)
    row = RulesetVersion(brand=brand, source=source, text=text, digest=draft.ruleset.version,
                         author=author[:120], created_at=at, note=note, diff=diff or None)
    session.add(row)
    session.flush()
    audit(session, at, "admin", "ruleset_published", brand=brand, version=row.id,
          replaces=live.id if live is not None else None, author=author[:120], note=note)
    return Published(row.id, brand, row.digest, True, diff)


def rollback(
    session: Session,
    brand: str,
    version_id: int,
    *,
    author: str,
    at: datetime,
    experiences: Collection[str],
    messages: Collection[str],
) -> Published:
    """Publish version ``version_id``'s text again as ``brand``'s new live version.

    It is checked again like any draft (a template it used may be gone since). The caller
    commits.

    Raises:
        NotFound: ``brand`` has no version ``version_id``.
        PublishRefused: that text no longer validates or passes its tests.
    """
    old = get_version(session, version_id)
    if old is None or old.brand != brand:
        raise NotFound(f"{brand} has no ruleset version {version_id}")
    return publish(session, old.text, old.source, author=author, at=at, experiences=experiences,
                   messages=messages, note=f"rollback to version {version_id}")


# --- what if: replaying recorded taps under a draft ---------------------------------------------

EXAMPLES = 3


@dataclass(frozen=True)
class Example:
    tap_event_id: int
    at: datetime
    serial: str | None


@dataclass(frozen=True)
class Change:
    """Taps that got ``before`` and would get ``after`` under the draft (None: no journey)."""

    before: str | None
    after: str | None
    count: int
    examples: tuple[Example, ...]


@dataclass(frozen=True)
class ReplayReport:
    brand: str
    since: datetime
    taps: int
    changed: int
    changes: tuple[Change, ...]  # most taps first


def replay_fact(ruleset: Ruleset, facts_json: str, at: datetime) -> dict[str, Any]:
    """Return the fact a recorded tap is re-decided on under ``ruleset``.

    The tap's moment is put back (so local hour and weekday follow the draft's time zone), and a
    reward the draft tests but the tap's ruleset did not is taken as available, its default.
    """
    fact: dict[str, Any] = json.loads(facts_json)
    for reward_id in ruleset.doc.reward_ids:
        fact.setdefault(f"reward.{reward_id}.available", True)
    fact[AT_KEY] = at
    return dict(localise(fact, ruleset.doc.timezone))


Row = tuple[int, datetime, str | None, str, str | None]  # id, at, journey, facts, serial


def replay_rows(ruleset: Ruleset, rows: Iterable[Row]) -> tuple[int, dict[tuple[str | None,
                                                                   str | None], list[Example]],
                                                                   Counter[tuple[str | None,
                                                                                 str | None]]]:
    """Re-decide each recorded ``(id, at, journey, facts, serial)`` under ``ruleset``.

    Returns the number of taps, the first examples of each change and the count of each change
    (``(recorded journey, draft journey)``, only where they differ).
    """
    taps = 0
    counts: Counter[tuple[str | None, str | None]] = Counter()
    examples: dict[tuple[str | None, str | None], list[Example]] = {}
    for event_id, at, before, facts_json, serial in rows:
        taps += 1
        decision = decide(ruleset, replay_fact(ruleset, facts_json, at))
        after = decision.journey if decision is not None else None
        if after == before:
            continue
        key = (before, after)
        counts[key] += 1
        kept = examples.setdefault(key, [])
        if len(kept) < EXAMPLES:
            kept.append(Example(event_id, at, serial))
    return taps, examples, counts


def replay(session: Session, ruleset: Ruleset, since: datetime) -> ReplayReport:
    """Re-decide the recorded facts of ``ruleset``'s brand's taps since ``since`` under it.

    Compares with the journey each tap was recorded with. Taps recorded before facts were kept
    (migration 0010) are not counted.
    """
    query = (
        select(TapEvent.id, TapEvent.at, TapEvent.journey, TapEvent.facts, Item.serial)
        .join(Item, Item.id == TapEvent.item_id)
        .join(Product, Product.id == Item.product_id)
        .join(Brand, Brand.id == Product.brand_id)
        .where(Brand.slug == ruleset.brand, TapEvent.at >= since, TapEvent.facts.is_not(None))
        .order_by(TapEvent.id)
        .execution_options(yield_per=2000)
    )
    # ``facts`` is never None here (the query filters it): '' keeps the tuple's type plain.
    rows = ((r[0], r[1], r[2], r[3] or "", r[4]) for r in session.execute(query))
    taps, examples, counts = replay_rows(ruleset, rows)
    changes = tuple(Change(before, after, n, tuple(examples[(before, after)]))
                    for (before, after), n in counts.most_common())
    return ReplayReport(ruleset.brand, since, taps, sum(counts.values()), changes)


def report_lines(report: ReplayReport) -> list[str]:
    """Return the replay report as lines a marketer can read."""
    lines = [f"{report.taps} taps of {report.brand} since {report.since:%Y-%m-%d %H:%M} UTC "
             f"replayed; {report.changed} would change journey"]
    for change in report.changes:
        lines.append(f"  {change.count:>6}  {change.before or '(no journey)'} -> "
                     f"{change.after or '(no journey)'}")
        for ex in change.examples:
            lines.append(f"          e.g. tap {ex.tap_event_id} of {ex.serial or '?'} "
                         f"at {ex.at:%Y-%m-%d %H:%M}")
    return lines


def versions_as_data(rows: Iterable[RulesetVersion]) -> list[Mapping[str, Any]]:
    """Return versions as JSON-ready rows (newest first, as given)."""
    return [{"id": r.id, "brand": r.brand, "digest": r.digest, "author": r.author,
             "at": r.created_at.isoformat(), "note": r.note, "source": r.source} for r in rows]
