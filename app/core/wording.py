"""Words shown to people that depend on the thing named: singular or plural agreement, the
article before a name in English, and times in the brand's time zone in the page's language.

Grammar lives in the language catalogue (``translations/``): templates say whole sentences
with ``ngettext`` ("Is this %(name)s yours?" / "Are these %(name)s yours?", counted with
``count_of``), so each language puts its own articles and agreement. What is left here:

- ``count_of``: 2 for a product its catalogue names in the plural (``plural: true`` in the
  products import, stored as the product attribute ``plural``; default false), else 1; the
  count ``ngettext`` picks a sentence with.
- ``a`` and ``agree``: the English-only filters the experience templates still use, until they
  move onto catalogue sentences too ("an Aurelia", "Are these sneakers yours?").
- ``money``: an amount in a currency, in the request's language ("€5.00", "5,00 €").
- ``brand_time``: an aware UTC moment shown in the brand's IANA time zone (``Brand.timezone``)
  with Babel, in the request's language (English outside a request), e.g.
  "30 November 2026, 14:05 (Paris time)" or "30 novembre 2026, 14:05 (heure de Paris)".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_datetime, get_timezone_location
from babel.numbers import format_currency, format_decimal
from flask_babel import get_locale, gettext

# Vowel letters that sound as a consonant ("a unique", "a European", "a one-off") and
# consonant letters that are silent ("an hour", "an honest").
_YOU_OR_WON = re.compile(r"^(?:uni|use|usu|uti|eu|one\b|once\b)", re.IGNORECASE)
_SILENT_H = re.compile(r"^(?:hour|honest|honou?r|heir)", re.IGNORECASE)


def _letters(phrase: str) -> str:
    """Return ``phrase`` without accents or leading punctuation ("Écharpe" -> "Echarpe")."""
    plain = unicodedata.normalize("NFKD", phrase)
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return plain.lstrip(" \"'“‘(")


def article(phrase: str) -> str:
    """Return "a" or "an" for ``phrase`` ("an" before a vowel sound)."""
    word = _letters(phrase)
    if _SILENT_H.match(word):
        return "an"
    if not word or word[0].lower() not in "aeiou" or _YOU_OR_WON.match(word):
        return "a"
    return "an"


def with_article(phrase: str) -> str:
    """Return ``phrase`` after its indefinite article: "an Aurelia Weekender Bag"."""
    return f"{article(phrase)} {phrase}"


class _Product(Protocol):
    @property
    def attributes(self) -> Mapping[str, Any]: ...


def is_plural(product: _Product) -> bool:
    """Return whether the catalogue names ``product`` in the plural (attribute ``plural``)."""
    return product.attributes.get("plural") is True


def count_of(product: _Product) -> int:
    """Return 2 for a product named in the plural, else 1: ``ngettext``'s count."""
    return 2 if is_plural(product) else 1


def agree(product: _Product, singular: str, plural: str) -> str:
    """Return ``plural`` for a plural product, else ``singular``: ``agree(p, "is", "are")``."""
    return plural if is_plural(product) else singular


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # Brands are created with a checked zone; a bad value must not break an owner's page.
        return ZoneInfo("UTC")


def _locale() -> Locale:
    return get_locale() or Locale("en")


def number(value: int | float, signed: bool = False, tenths: bool = False) -> str:
    """Return ``value`` written in the page's language ("1,250"; "1 250" in French), with its
    sign when ``signed`` ("+20", "-5"), with at least one decimal when ``tenths`` ("70.0";
    "70,0" in French)."""
    text = format_decimal(value, "#,##0.0##" if tenths else None, locale=_locale())
    return f"+{text}" if signed and value > 0 else text


def money(amount: Decimal | int, currency: str) -> str:
    """Return ``amount`` of ``currency`` (an ISO 4217 code) written in the page's language:
    "€5.00" in English, "5,00 €" in French (English outside a request). Every page writes
    money through this, so all say it alike."""
    return format_currency(amount, currency, locale=_locale())


def zone_label(name: str) -> str:
    """Return how a zone is named after a time, in the page's language: "Paris time" for
    Europe/Paris ("heure de Paris" in French), "UTC" for UTC."""
    if name in ("UTC", "Etc/UTC", ""):
        return "UTC"
    try:
        city = get_timezone_location(_zone(name), _locale(), return_city=True)
    except LookupError:
        city = name.rsplit("/", 1)[-1].replace("_", " ")
    return str(gettext("%(city)s time", city=city))


class _Brand(Protocol):
    @property
    def timezone(self) -> str: ...


def brand_time(moment: datetime | None, brand: _Brand | str | None, style: str = "datetime") -> str:
    """Return ``moment`` in the brand's time zone, readably; "" for no moment.

    ``brand`` is anything with a ``timezone`` (a brand or its view) or the zone's name; None
    means UTC. ``style`` is ``datetime`` ("30 November 2026, 14:05 (Paris time)"), ``date``
    ("30 November 2026"), ``month`` ("November 2026"), ``short_month`` ("Nov 2026") or
    ``short_datetime`` ("30 Nov 2026, 14:05", for a column whose heading names the zone), in
    the request's language ("30 novembre 2026"). A naive moment is taken as UTC.
    """
    if moment is None:
        return ""
    name = (brand if isinstance(brand, str) else getattr(brand, "timezone", None)) or "UTC"
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    zone = _zone(name)
    locale = _locale()
    if style == "short_month":
        return format_datetime(aware, "LLL y", tzinfo=zone, locale=locale)
    if style == "short_datetime":
        return format_datetime(aware, "d MMM y, HH:mm", tzinfo=zone, locale=locale)
    if style == "month":
        # Stand-alone month name: some languages decline it beside a day.
        return format_datetime(aware, "LLLL y", tzinfo=zone, locale=locale)
    day = format_datetime(aware, "d MMMM y", tzinfo=zone, locale=locale)
    if style == "date":
        return day
    time = format_datetime(aware, "HH:mm", tzinfo=zone, locale=locale)
    return str(gettext("%(date)s, %(time)s (%(zone)s)", date=day, time=time,
                       zone=zone_label(zone.key)))


FILTERS: Mapping[str, Callable[..., str]] = {
    # {{ item.product.name|a }} -> "an Aurelia Weekender Bag"
    "a": with_article,
    # {{ item.product|agree("Is this", "Are these") }}
    "agree": agree,
    # {{ when|brand_time(item.product.brand, "date") }}
    "brand_time": brand_time,
    # {{ points|number }} -> "1,250" ("1 250" in French)
    "number": number,
    # {{ amount|money("EUR") }} -> "€5.00" ("5,00 €" in French)
    "money": money,
}
