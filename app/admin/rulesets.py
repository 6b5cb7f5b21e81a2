"""Which ruleset versions are refused right now, as the brand pages show them.

One small function over what ``app.rules.registry`` reports today (the files it refused, with
why), kept apart so it can be swapped for rulesets stored in the database without touching the
pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePath

from app.rules.registry import RulesetRegistry


@dataclass(frozen=True)
class RefusedRuleset:
    """A ruleset version that is not live: where it came from, why, and since when."""

    source: str
    message: str
    seen_at: datetime


def refused_rulesets(registry: RulesetRegistry, brand_slug: str | None) -> list[RefusedRuleset]:
    """Return the refused rulesets of ``brand_slug`` (None: every brand), oldest first.

    A refused file may not even parse, so its brand is known only by its name: a brand's file is
    ``<slug>.yaml``. A file named otherwise is shown to all-brands admins only.
    """
    rows = [
        RefusedRuleset(error.file, error.message, datetime.fromtimestamp(error.at, UTC))
        for name, error in registry.errors.items()
        if brand_slug is None or PurePath(name).stem == brand_slug
    ]
    return sorted(rows, key=lambda row: row.seen_at)
