"""The document's header: brand, title, time zone and locale, with their defaults."""

from __future__ import annotations

from dataclasses import dataclass

from app.journeys.language.checks.shapes import did_you_mean, names, text
from app.journeys.language.context import Context
from app.journeys.language.cron import time_zones
from app.journeys.language.words import ID_RE, LOCALE_RE
from app.journeys.language.yamlnodes import Entry, is_null


@dataclass(frozen=True)
class Header:
    brand: str
    title: str
    timezone: str
    locale: str
    locales: tuple[str, ...] = ()


def check_header(ctx: Context, top: dict[str, Entry]) -> Header:
    """Check the header fields of the top-level mapping; a missing one takes its default."""
    brand = text(
        ctx, top.get("brand"), None, ID_RE,
        "lowercase letters, digits and dashes, like maison-aurelia",
    )
    title = text(ctx, top.get("title"), None) or brand or ""
    timezone = check_timezone(ctx, top.get("timezone")) or "UTC"
    locale = text(ctx, top.get("locale"), None, LOCALE_RE, "a language code like en or fr-FR")
    locales = check_locales(ctx, top.get("locales"), locale)
    return Header(brand=brand or "", title=title, timezone=timezone,
                  locale=locale or locales[0], locales=locales)


def check_locales(ctx: Context, entry: Entry | None, locale: str | None) -> tuple[str, ...]:
    """Return the locales the brand writes in (``locales: [en, fr]``), the first the default;
    without the field, ``locale`` alone (or English)."""
    if entry is None or is_null(entry.node):
        return (locale or "en",)
    out: list[str] = []
    for node in names(ctx, entry, "locales", "a list of language codes like [en, fr]"):
        tag = str(node.value)
        if not LOCALE_RE.fullmatch(tag):
            ctx.problem(node, f"locale '{tag}' must be a language code like en or fr-FR")
        elif tag in out:
            ctx.problem(node, f"locale '{tag}' is listed twice")
        else:
            out.append(tag)
    if locale and out and locale != out[0]:
        ctx.problem(entry.node, f"'locale' ({locale}) must be the first of 'locales' "
                    f"({', '.join(out)}): it is the language a page falls back to")
    return tuple(out) or (locale or "en",)


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
