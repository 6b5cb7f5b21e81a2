"""The document's header: brand, title, time zone and locale, with their defaults."""

from __future__ import annotations

from dataclasses import dataclass

from app.journeys.language.checks.shapes import did_you_mean, text
from app.journeys.language.context import Context
from app.journeys.language.cron import time_zones
from app.journeys.language.words import ID_RE, LOCALE_RE
from app.journeys.language.yamlnodes import Entry


@dataclass(frozen=True)
class Header:
    brand: str
    title: str
    timezone: str
    locale: str


def check_header(ctx: Context, top: dict[str, Entry]) -> Header:
    """Check the header fields of the top-level mapping; a missing one takes its default."""
    brand = text(
        ctx, top.get("brand"), None, ID_RE,
        "lowercase letters, digits and dashes, like maison-aurelia",
    )
    title = text(ctx, top.get("title"), None) or brand or ""
    timezone = check_timezone(ctx, top.get("timezone")) or "UTC"
    locale = text(ctx, top.get("locale"), None, LOCALE_RE, "a language code like en or fr-FR")
    return Header(brand=brand or "", title=title, timezone=timezone, locale=locale or "en")


def check_timezone(ctx: Context, entry: Entry | None) -> str | None:
    """Return the time zone name when this machine knows it (or cannot tell)."""
    name = text(ctx, entry, None)
    if name is None or entry is None:
        return None
    known = time_zones()
    if known and name not in known and name != "UTC":
        ctx.problem(
            entry.node,
            f"timezone '{name}' is not a known time zone (like Europe/Paris)"
            f"{did_you_mean(name, known)}",
        )
        return None
    return name
