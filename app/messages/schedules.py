"""A brand's live schedules, read from its published ruleset with nothing but a session."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.core.errors import NotFound
from app.journeys.language import RulesetDoc, ScheduleDoc, parse_ruleset_text
from app.rules.service import template_names
from app.rules.versions import live_version

# By the text's hash: version ids repeat across databases (tests, a restored backup).
_cache: dict[str, RulesetDoc] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class LiveSchedule:
    """One schedule of a brand's live ruleset, with the ruleset it belongs to."""

    doc: RulesetDoc
    schedule: ScheduleDoc
    version_id: int


def live_ruleset(session: Session, brand: str) -> tuple[int, RulesetDoc]:
    """Return (version id, checked document) of ``brand``'s live ruleset.

    Parsed once per text: versions never change once stored. Raises NotFound when the
    brand has no published ruleset.
    """
    version = live_version(session, brand)
    if version is None:
        raise NotFound(f"brand {brand!r} has no live ruleset")
    key = hashlib.sha256(version.text.encode()).hexdigest()
    with _cache_lock:
        doc = _cache.get(key)
    if doc is None:
        doc = parse_ruleset_text(version.text, version.source,
                                 experiences=template_names("experiences"),
                                 messages=template_names("messages"))
        with _cache_lock:
            _cache[key] = doc
    return version.id, doc


def live_schedule(session: Session, brand: str, schedule_id: str) -> LiveSchedule:
    """Return ``brand``'s live schedule ``schedule_id``.

    Raises NotFound when the brand has no live ruleset or it has no such schedule.
    """
    version_id, doc = live_ruleset(session, brand)
    for schedule in doc.schedules:
        if schedule.id == schedule_id:
            return LiveSchedule(doc, schedule, version_id)
    raise NotFound(f"brand {brand!r} has no schedule {schedule_id!r}")
