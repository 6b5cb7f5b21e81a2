"""Rules: journeys compiled to durable_rules. Nothing outside this package imports durable_rules."""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from app.rules.registry import RulesetRegistry
from app.rules.service import Decision, Ruleset, decide, parse_ruleset, template_names

# What a tap gets when no journey matches: a page is always served, never an error.
FALLBACK_GENUINE = "authenticity"
FALLBACK_FAILED = "not_verified"


def localise(fact: Mapping[str, Any], timezone: str) -> Mapping[str, Any]:
    """Return ``fact`` with ``tap.local_hour`` and ``tap.weekday`` in ``timezone``.

    The fact carries the tap's UTC moment under ``_at``; without it the fact is returned as is.
    """
    at = fact.get("_at")
    if at is None:
        return fact
    local = at.astimezone(_zone(timezone))
    return {**fact, "tap.local_hour": local.hour, "tap.weekday": local.strftime("%a").lower()}


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


class Rules:
    """The app's loaded rulesets, by brand slug, with a decision function for taps."""

    def __init__(self, registry: RulesetRegistry, default_brand: str | None) -> None:
        self.registry = registry
        self.default_brand = default_brand

    def ruleset_for(self, brand: str | None) -> Ruleset | None:
        """Return the live ruleset that decides ``brand``'s taps (or the default one), or None."""
        rulesets = self.registry.rulesets()
        return rulesets.get(brand or "") or rulesets.get(self.default_brand or "")

    def decide(self, brand: str | None, fact: Mapping[str, Any]) -> Decision:
        """Return the decision for ``fact`` under ``brand``'s ruleset (or the default one).

        Never returns None: with no matching journey, a built-in fallback experience is chosen.
        """
        rulesets = self.registry.rulesets()
        ruleset = rulesets.get(brand or "") or rulesets.get(self.default_brand or "")
        if ruleset is not None:
            fact = localise(fact, ruleset.doc.timezone)
        decision = decide(ruleset, fact) if ruleset else None
        if decision is None:
            genuine = fact.get("tap.verdict") == "genuine"
            return Decision(
                journey=None,
                experience=FALLBACK_GENUINE if genuine else FALLBACK_FAILED,
                ruleset_version=ruleset.version if ruleset else None,
            )
        return decision


def init_app(app: Flask) -> None:
    """Load and compile every ruleset; a ruleset that does not validate stops start-up.

    After start-up, edited files are picked up every ``RULESETS_RELOAD_SECONDS`` (a negative
    value turns reloading off); an edit that does not validate is refused and logged.
    """
    templates_dir = Path(app.root_path).parent / "templates"

    def load(text: str, source: str) -> Ruleset:
        # Templates are listed at each load, so a new experience can ship with its ruleset.
        return parse_ruleset(
            text,
            source,
            template_names("experiences", templates_dir),
            template_names("messages", templates_dir),
        )

    registry = RulesetRegistry(
        Path(app.config["RULESETS_DIR"]), load, float(app.config["RULESETS_RELOAD_SECONDS"])
    )
    registry.load_initial()
    app.extensions["aftertap.rules"] = Rules(registry, app.config.get("DEFAULT_BRAND"))
