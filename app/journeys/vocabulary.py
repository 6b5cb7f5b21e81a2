"""The fact vocabulary: every path a journey may test, its type, closed values and default.

A *fact* is a flat mapping of dotted paths to scalars (``tap.verdict``, ``ownership.days``...).
This module is the one place that says which paths exist; the ruleset checker, the simulator and
docs/journeys.md (whose table a test holds to ``FACTS``) all read it.

Two families of paths are open-ended:

* ``product.<name>``: any catalogue attribute of the product (``product.material``...).
* ``reward.<reward-id>.available``: whether the ruleset's reward ``<reward-id>`` can still be given
  to this tap (stock, limits, budget), so a journey can fall through when it cannot. Not the
  holdout: a held-out owner gets the journey as anyone would, and the grant withholds the reward.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

TYPES = ("str", "int", "bool", "days", "country", "hour", "weekday", "month", "date", "any")
"""Value types. ``days`` is a whole number of days (durations like 30d are accepted in rulesets),
``country`` an ISO 3166 alpha-2 code, ``hour`` 0-23, ``weekday`` mon..sun, ``month`` 1-12,
``date`` a day written YYYY-MM-DD, ``any`` any scalar."""

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_TYPE_WORDS = {
    "str": "text",
    "int": "whole number",
    "bool": "true / false",
    "days": "days",
    "country": "country code",
    "hour": "hour 0-23",
    "weekday": "weekday",
    "month": "month 1-12",
    "date": "date YYYY-MM-DD",
    "any": "text, number or true / false",
}


@dataclass(frozen=True)
class FactField:
    """One documented fact path."""

    path: str
    type: str  # one of TYPES
    values: tuple[str, ...] | None = None  # closed set of allowed values, when there is one
    default: Any = None  # used when a simulation or ruleset test leaves the path out
    doc: str = ""  # one plain-English sentence for marketers


def _f(
    path: str, type_: str, doc: str, values: tuple[str, ...] | None = None, default: Any = None
) -> FactField:
    return FactField(path=path, type=type_, values=values, default=default, doc=doc)


_FIELDS = (
    # -- the tap itself -----------------------------------------------------------------------
    _f("tap.verdict", "str", "Whether the tap proved the product genuine.",
       ("genuine", "invalid", "replayed", "revoked", "unknown_tag"), "genuine"),
    _f("tap.number", "int", "How many genuine taps this item has had, this one included."),
    _f("tap.mode", "str", "How the tag signed the tap (aes or lrp; plain for unsigned demo tags).",
       ("aes", "lrp", "plain")),
    _f("tap.tamper", "str", "For tags with a tamper seal: intact (secure), or opened and how.",
       ("secure", "tampered_closed", "tampered_open", "not_initialized", "unknown")),
    _f("tap.country", "country", "Country the tap came from (two letters, like FR)."),
    _f("tap.outside_market", "bool",
       "True when the tap came from a country other than the item's market."),
    _f("tap.date", "date",
       "Day of the tap in the ruleset's time zone, written YYYY-MM-DD, like 2026-12-24."),
    _f("tap.month", "month",
       "Month of the tap in the ruleset's time zone, 1 to 12 (12 is December)."),
    _f("tap.weekday", "weekday",
       "Day of the week of the tap in the ruleset's time zone, mon to sun.", WEEKDAYS),
    _f("tap.local_hour", "hour", "Hour of the tap in the ruleset's time zone, 0 to 23."),
    _f("tap.days_since_last", "days", "Days since this item's previous genuine tap."),
    # -- the physical item --------------------------------------------------------------------
    _f("item.gtin", "str", "Trade item number (GTIN) of the item's product."),
    _f("item.serial", "str", "The item's own serial number."),
    _f("item.market", "country", "Country the item was allocated to for sale (two letters)."),
    _f("item.released", "bool", "True once the item is sold; false while still in the boutique.",
       default=True),
    _f("item.age_days", "days", "Days since the item was made."),
    _f("item.stolen", "bool", "True when the item has been reported stolen.", default=False),
    # -- the product (catalogue) --------------------------------------------------------------
    _f("product.category", "str", "The product's category in the catalogue, like serum or watch."),
    _f("product.gtin", "str", "Trade item number (GTIN) of the product."),
    _f("product.name", "str", "The product's name in the catalogue."),
    # -- ownership of this item ---------------------------------------------------------------
    _f("ownership.state", "str", "Whether someone has claimed this item.",
       ("unclaimed", "owned"), "unclaimed"),
    _f("ownership.ordinal", "int", "Which owner this is: 1 for the first buyer, 2 after a resale."),
    _f("ownership.days", "days", "Days since the current owner claimed the item."),
    _f("ownership.anniversary_days", "days",
       "Days until the next anniversary of the claim, in the ruleset's time zone: 0 on the day "
       "(a claim of 29 February has its anniversary on 28 February in other years)."),
    _f("ownership.owner_taps", "int", "Taps by the current owner, this one included."),
    _f("ownership.month_streak", "int",
       "Regular use: consecutive calendar months, this one included, in which the owner "
       "tapped the item."),
    # -- the person tapping -------------------------------------------------------------------
    _f("owner.is_current", "bool", "True when the person tapping is the item's current owner.",
       default=False),
    _f("owner.is_previous", "bool", "True when the person tapping owned the item before.",
       default=False),
    _f("owner.email_opt_in", "bool", "True when the owner agreed to receive emails.",
       default=False),
    _f("owner.points", "int",
       "The owner's loyalty points balance with this ruleset's brand (points are kept per brand).",
       default=0),
    _f("owner.has_reviewed", "bool", "True when the owner has reviewed this product.",
       default=False),
    # -- warranty and service -----------------------------------------------------------------
    _f("warranty.active", "bool", "True while the item's warranty runs.", default=False),
    _f("warranty.days_left", "days", "Days until the warranty ends."),
    _f("service.count", "int", "How many times the item has been serviced.", default=0),
    _f("service.days_since_last", "days", "Days since the item's last service."),
)

FACTS: dict[str, FactField] = {f.path: f for f in _FIELDS}
"""Every fixed fact path, in documentation order."""

TAP_TIME_ONLY: frozenset[str] = frozenset(
    p for p in FACTS if p.startswith("tap.") and p != "tap.days_since_last"
)
"""Facts about a tap as it happens: a schedule runs without one, so it can never test them.
``tap.days_since_last`` is not among them: it is computed from the item's tap history."""

MOMENT_PATH = "tap.unix_time"
"""The tap's moment in whole seconds since 1970 (UTC). Not a fact marketers write (it is not in
``FACTS``): a journey's ``from`` / ``until`` become conditions on it (``journey_when``), which the
engine tests like any number, so a dated journey costs the tap two comparisons."""

PRODUCT_ATTRIBUTE = FactField(
    path="product.<name>",
    type="any",
    doc="Any catalogue attribute of the product, like product.material or product.vintage.",
)
REWARD_AVAILABLE = FactField(
    path="reward.<reward-id>.available",
    type="bool",
    default=True,
    doc="True when this ruleset's reward can still be given to this tap "
    "(stock, limits and budget allow it). Not the holdout: held-out owners get the journey, "
    "without the reward.",
)
WILDCARDS: tuple[FactField, ...] = (PRODUCT_ATTRIBUTE, REWARD_AVAILABLE)
"""The open-ended path families, documented with FACTS."""

PRODUCT_PATTERN = re.compile(r"product\.([A-Za-z_][A-Za-z0-9_]*)")
REWARD_PATTERN = re.compile(r"reward\.([a-z0-9][a-z0-9-]*)\.available")


def field_for(path: str) -> FactField | None:
    """Return the documented field for ``path`` (wildcards included), or None if none fits.

    ``reward.<id>.available`` matches whatever the id; whether the reward exists is a question for
    ``is_known_path`` with the ruleset's reward ids.
    """
    known = FACTS.get(path)
    if known is not None:
        return known
    if PRODUCT_PATTERN.fullmatch(path):
        return PRODUCT_ATTRIBUTE
    if REWARD_PATTERN.fullmatch(path):
        return REWARD_AVAILABLE
    return None


def is_known_path(path: str, reward_ids: Collection[str] = ()) -> bool:
    """Return whether a journey may test ``path``; reward paths only for ``reward_ids``."""
    if path in FACTS or PRODUCT_PATTERN.fullmatch(path):
        return True
    match = REWARD_PATTERN.fullmatch(path)
    return bool(match and match.group(1) in reward_ids)


def known_paths(reward_ids: Collection[str] = ()) -> list[str]:
    """Return every concrete known path: FACTS plus one availability path per reward id."""
    return [*FACTS, *(f"reward.{r}.available" for r in reward_ids)]


def suggest(path: str, reward_ids: Collection[str] = ()) -> str | None:
    """Return the known path closest to ``path`` (for "did you mean"), or None if none is close."""
    matches = difflib.get_close_matches(path, known_paths(reward_ids), n=1, cutoff=0.6)
    return matches[0] if matches else None


def defaults() -> dict[str, Any]:
    """Return the documented defaults: what a simulation assumes for a path it is not given.

    Paths without a default are left out, which means "not known" (``exists: false`` holds).
    ``reward.<id>.available`` defaults are added by ``complete_fact``, which knows the ids.
    """
    return {f.path: f.default for f in FACTS.values() if f.default is not None}


def complete_fact(partial: Mapping[str, Any], reward_ids: Collection[str] = ()) -> dict[str, Any]:
    """Return ``defaults()`` overlaid with ``partial``.

    Each ``reward.<id>.available`` of ``reward_ids`` defaults to true: a ruleset test says when a
    reward has run out, not when it is there.
    """
    fact = defaults()
    fact.update({f"reward.{r}.available": True for r in reward_ids})
    fact.update(partial)
    return fact


_DURATION = re.compile(r"\s*(\d+)\s*([dwmy]?)\s*")
_DAYS_PER_UNIT = {"": 1, "d": 1, "w": 7, "m": 30, "y": 365}


def parse_duration(text: Any) -> int:
    """Return the number of days in a duration: ``30d``, ``12w``, ``6m`` (30 days each), ``1y``
    (365 days), or a plain whole number of days (``77`` or ``"77"``).

    Raises:
        ValueError: ``text`` is not such a duration; the message says what to write instead.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"a duration cannot be negative, got {text}")
        return text
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        shown = f"'{text}'" if isinstance(text, str) else _plain(text)
        raise ValueError(
            f"{shown} is not a duration: write days as a whole number or with a unit, "
            "like 30d, 12w, 6m (months of 30 days) or 1y"
        )
    return int(match.group(1)) * _DAYS_PER_UNIT[match.group(2)]


def type_word(field: FactField) -> str:
    """Return a field's type in plain words, as the docs and error messages say it."""
    return _TYPE_WORDS[field.type]


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing"
    return str(value)


def fact_table_markdown() -> str:
    """Return the Markdown table of the vocabulary that docs/journeys.md carries verbatim."""
    rows = ["| Fact | Type | Values | Default | What it means |", "| --- | --- | --- | --- | --- |"]
    for f in (*FACTS.values(), *WILDCARDS):
        values = ", ".join(f.values) if f.values else ""
        default = "not known" if f.default is None else _plain(f.default)
        rows.append(f"| `{f.path}` | {type_word(f)} | {values} | {default} | {f.doc} |")
    return "\n".join(rows) + "\n"
