"""Rules: journeys compiled to durable_rules. Nothing outside this package imports durable_rules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from app.core import i18n
from app.core.db import make_engine
from app.rules.models import RulesetVersion
from app.rules.registry import RulesetRegistry, StoredVersion
from app.rules.service import (
    Decision,
    Ruleset,
    decide,
    localise,
    parse_ruleset,
    template_names,
)
from app.rules.versions import LATEST_IDS

__all__ = ["FALLBACK_FAILED", "FALLBACK_GENUINE", "Rules", "init_app", "localise"]

# What a tap gets when no journey matches: a page is always served, never an error.
FALLBACK_GENUINE = "authenticity"
FALLBACK_FAILED = "not_verified"


class Rules:
    """The app's live rulesets, by brand slug, with a decision function for taps."""

    def __init__(self, registry: RulesetRegistry) -> None:
        self.registry = registry

    def ruleset_for(self, brand: str | None) -> Ruleset | None:
        """Return the live ruleset that decides ``brand``'s taps, or None.

        None for a tap tied to no brand (forged, unregistered tag) and for a brand with no
        published ruleset: such taps get a neutral page, never another brand's journeys.
        """
        if not brand:
            return None
        return self.registry.rulesets().get(brand)

    def locales_of(self, brand: str) -> tuple[str, ...] | None:
        """Return the locales ``brand``'s live ruleset declares, main one first (``locales:``
        once the content schema has it, else ``locale:``); None without a live ruleset."""
        ruleset = self.ruleset_for(brand)
        if ruleset is None:
            return None
        doc = ruleset.doc
        declared = getattr(doc, "locales", None)
        return tuple(declared) if declared else ((doc.locale,) if doc.locale else None)

    def decide(self, brand: str | None, fact: Mapping[str, Any]) -> Decision:
        """Return the decision for ``fact`` under ``brand``'s live ruleset (see ``decide_with``)."""
        return self.decide_with(self.ruleset_for(brand), fact)

    def decide_with(self, ruleset: Ruleset | None, fact: Mapping[str, Any]) -> Decision:
        """Return the decision for ``fact`` under ``ruleset`` (None: no ruleset).

        A request passes the ruleset it already holds, so it never mixes two versions. Never
        returns None: with no ruleset or no matching journey, a built-in neutral page is chosen.
        """
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


_NEWEST = (
    select(RulesetVersion.id, RulesetVersion.brand, RulesetVersion.source, RulesetVersion.text,
           RulesetVersion.author, RulesetVersion.created_at)
    .where(RulesetVersion.brand == bindparam("brand"), RulesetVersion.id <= bindparam("up_to"))
    .order_by(RulesetVersion.id.desc())
    .limit(bindparam("limit"))
)


class DatabaseVersions:
    """Published versions read from the database, each read in its own short session."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def latest_ids(self) -> Mapping[str, int]:
        with Session(self.engine) as session:
            return {brand: int(newest) for brand, newest in session.execute(LATEST_IDS)}

    def newest(self, brand: str, up_to: int, limit: int) -> Sequence[StoredVersion]:
        with Session(self.engine) as session:
            rows = session.execute(_NEWEST, {"brand": brand, "up_to": up_to, "limit": limit})
            return [StoredVersion(*row) for row in rows]


def _poll_engine(app: Flask) -> Engine:
    engine: Engine = app.extensions["aftertap.db"].engine
    if engine.dialect.name != "sqlite":
        return engine
    # The app's SQLite transactions begin with the write lock (BEGIN IMMEDIATE); the poll only
    # reads, so it gets its own unpooled connection that never queues behind a writer.
    return make_engine(app.config["DATABASE_URL"], sqlite_begin=None, poolclass=NullPool,
                       sqlite_busy_timeout_ms=app.config["SQLITE_BUSY_TIMEOUT_MS"])


def init_app(app: Flask) -> None:
    """Set up the live rulesets: published versions from the database, files as drafts.

    Never raises for a ruleset: a broken file or an unreachable database is logged and shown
    on the preview page, and the last good version (or a neutral page) serves. A server loads
    at start-up, before its first tap; a ``flask`` command only when it asks for rulesets.
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
        Path(app.config["RULESETS_DIR"]), load, float(app.config["RULESETS_RELOAD_SECONDS"]),
        store=DatabaseVersions(_poll_engine(app)),
        serve_files=bool(app.config["RULESETS_SERVE_FILES"]),
    )
    if app.extensions.get("aftertap.serving"):
        registry.refresh()
    rules = app.extensions["aftertap.rules"] = Rules(registry)
    app.extensions[i18n.RESOLVER] = rules.locales_of
