"""Brands: create one from the command line, list them, and tell which brand an import is for.

Every value is checked here, at the boundary, so a bad one is a one-line message and never a
database error (PostgreSQL refuses a NUL byte in text, SQLite would store it).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

import pycountry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.catalog.models import Brand, Product
from app.core.errors import Conflict, DomainError, NotFound

# Also the ruleset's file name (rulesets/<slug>.yaml) and part of image addresses: lowercase
# letters, digits and single hyphens, 2 to 64 characters.
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){1,63}$")
# BCP 47 as brands use it: a language, optionally a region ("en", "fr-FR").
_LOCALE_RE = re.compile(r"^([a-z]{2,3})(?:-([A-Z]{2}))?$")
# Control characters (tab and line breaks included: a name is one line) and lone surrogates.
_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


class InvalidBrand(DomainError):
    code = "invalid_brand"


@dataclass(frozen=True)
class BrandInput:
    slug: str
    name: str
    timezone: str = "UTC"
    locale: str = "en"
    market: str | None = None


@dataclass(frozen=True)
class BrandSummary:
    slug: str
    name: str
    timezone: str
    locale: str
    market: str | None
    products: int


def is_country(code: str) -> bool:
    """Return True when ``code`` is an ISO 3166-1 alpha-2 country code (upper case)."""
    return (len(code) == 2 and code.isascii() and code.isupper()
            and pycountry.countries.get(alpha_2=code) is not None)


def check_slug(slug: str) -> str:
    """Return ``slug`` if it is a usable brand slug.

    Raises:
        InvalidBrand: not 2 to 64 lowercase letters, digits and single inner hyphens.
    """
    if not SLUG_RE.match(slug):
        raise InvalidBrand(f"slug {slug!r} must be 2 to 64 lowercase letters, digits and "
                           "single hyphens, e.g. nordwand or maison-aurelia")
    return slug


def _check(data: BrandInput) -> BrandInput:
    check_slug(data.slug)
    name = data.name.strip()
    if not name or len(name) > 200 or _CONTROL.search(name):
        raise InvalidBrand("name must be 1 to 200 characters on one line")
    # available_timezones() lists the IANA keys; ZoneInfo alone would also take file paths.
    if data.timezone not in zoneinfo.available_timezones():
        raise InvalidBrand(f"time zone {data.timezone!r} is not an IANA time zone, "
                           "e.g. Europe/Zurich or America/New_York")
    locale = _LOCALE_RE.match(data.locale)
    if locale is None or (locale.group(2) and not is_country(locale.group(2))):
        raise InvalidBrand(f"locale {data.locale!r} must be a language code, optionally with "
                           "a country, e.g. en or fr-FR")
    if data.market is not None and not is_country(data.market):
        raise InvalidBrand(f"market {data.market!r} must be an ISO 3166 two-letter country "
                           "code in capitals, e.g. CH")
    return BrandInput(data.slug, name, data.timezone, data.locale, data.market)


def create_brand(session: Session, data: BrandInput) -> Brand:
    """Create the brand (flushed, not committed) and return it.

    Raises:
        InvalidBrand: a value is unusable (the message says which and how).
        Conflict: a brand with that slug exists already.
    """
    data = _check(data)
    if session.scalar(select(Brand.id).where(Brand.slug == data.slug)) is not None:
        raise Conflict(f"brand {data.slug!r} exists already")
    brand = Brand(slug=data.slug, name=data.name, timezone=data.timezone, locale=data.locale,
                  market=data.market)
    session.add(brand)
    session.flush()
    return brand


def list_brands(session: Session) -> list[BrandSummary]:
    """Return every brand with its product count, by slug."""
    counts = (select(Product.brand_id, func.count().label("n"))
              .group_by(Product.brand_id).subquery())
    rows = session.execute(
        select(Brand, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.brand_id == Brand.id)
        .order_by(Brand.slug)
    ).all()
    return [BrandSummary(b.slug, b.name, b.timezone, b.locale, b.market, int(n))
            for b, n in rows]


def brand_for_import(session: Session, slug: str | None, gtins: Iterable[str]) -> Brand:
    """Return the brand a file of products (by normalised GTIN) is imported for.

    With ``slug``, that brand. Without, the one brand that already has every product in the file:
    a file naming a new product, or products of two brands, must say which brand it is for
    (guessing put one brand's products under another).

    Raises:
        NotFound: no brand has ``slug``.
        DomainError: no ``slug`` and the brand cannot be told from the file.
    """
    if slug is not None:
        brand = session.scalar(select(Brand).where(Brand.slug == slug))
        if brand is None:
            raise NotFound(f"no brand {slug!r}; create it first with "
                           f"`flask brands create {slug} --name ...`")
        return brand
    wanted = set(gtins)
    if not wanted:
        raise DomainError("give --brand SLUG (the file names no product)")
    owners = session.execute(
        select(Product.gtin, Product.brand_id).where(Product.gtin.in_(wanted))
    ).all()
    brand_ids = {row.brand_id for row in owners}
    if len(owners) < len(wanted) or len(brand_ids) != 1:
        raise DomainError("give --brand SLUG: the file names products that are not all "
                          "one brand's already")
    return session.get_one(Brand, brand_ids.pop())
