"""Rules: journeys compiled to durable_rules. Nothing outside this package imports durable_rules."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from app.rules.service import Decision, Ruleset, decide, load_rulesets

# What a tap gets when no journey matches: a page is always served, never an error.
FALLBACK_GENUINE = "authenticity"
FALLBACK_FAILED = "not_verified"


class Rules:
    """The app's loaded rulesets, by brand slug, with a decision function for taps."""

    def __init__(self, rulesets: dict[str, Ruleset], default_brand: str | None) -> None:
        self.rulesets = rulesets
        self.default_brand = default_brand

    def decide(self, brand: str | None, fact: Mapping[str, Any]) -> Decision:
        """Return the decision for ``fact`` under ``brand``'s ruleset (or the default one).

        Never returns None: with no matching journey, a built-in fallback experience is chosen.
        """
        ruleset = self.rulesets.get(brand or "") or self.rulesets.get(self.default_brand or "")
        decision = decide(ruleset, fact) if ruleset else None
        if decision is None:
            genuine = fact.get("tap.verdict") == "genuine"
            return Decision(
                journey=None,
                experience=FALLBACK_GENUINE if genuine else FALLBACK_FAILED,
                ruleset_version=ruleset.version if ruleset else None,
            )
        return decision


def available_experiences(templates_dir: Path) -> set[str]:
    """Return the experience names that have a template under ``templates/experiences``."""
    return {p.stem for p in (templates_dir / "experiences").glob("*.html")}


def init_app(app: Flask) -> None:
    """Load and compile every ruleset; a ruleset that does not validate stops start-up."""
    templates_dir = Path(app.root_path).parent / "templates"
    rulesets = load_rulesets(Path(app.config["RULESETS_DIR"]), available_experiences(templates_dir))
    app.extensions["aftertap.rules"] = Rules(rulesets, app.config.get("DEFAULT_BRAND"))
