"""Languages: Flask-Babel picks each request's language and time zone; catalogues in
``translations/`` (``messages.pot`` extracted by ``make translations``).

The language of a page is the best match between the phone's ``Accept-Language`` and the
languages the page may speak: the brand's ruleset ``locales:`` once a view has said which brand it
serves (``use_brand``), else every language with a catalogue. Without a match, the brand's first
locale, else English. The time zone is the brand's (``Brand.timezone``) once a view has said so,
else UTC. Staff pages (``for_staff``) speak the staff member's language among every language
with a catalogue, whatever the brand they show speaks to its customers.

Built-in words are wrapped ``{{ _("...") }}`` in templates and ``gettext("...")`` in views; a
brand's own words (ruleset content) carry their locales themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from functools import cache
from pathlib import Path
from typing import Protocol

from babel import Locale, UnknownLocaleError
from flask import Flask, current_app, g, has_request_context, request
from flask_babel import Babel, force_locale, get_locale, get_translations, gettext, refresh

TRANSLATIONS = Path(__file__).resolve().parents[2] / "translations"
DEFAULT_LOCALE = "en"

babel = Babel()


@cache
def available() -> tuple[str, ...]:
    """Return the languages with a catalogue (and English, the templates' own), e.g.
    ``("en", "fr")``."""
    found = {p.name for p in TRANSLATIONS.iterdir() if (p / "LC_MESSAGES").is_dir()} \
        if TRANSLATIONS.is_dir() else set()
    return tuple(sorted(found | {DEFAULT_LOCALE}))


def _language(tag: str) -> str | None:
    """Return the language part of a locale tag (``fr-FR`` -> ``fr``), or None when unknown."""
    try:
        return Locale.parse(tag.replace("-", "_")).language
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def use_brand(locales: Sequence[str] | None, timezone: str | None) -> None:
    """Say which brand this request serves: its ruleset's ``locales`` (tags like ``fr-FR``; the
    page speaks those of them with a catalogue) and its time zone."""
    if not has_request_context():
        return
    spoken = [lang for tag in (locales or ()) if (lang := _language(tag)) in available()]
    g.aftertap_locales = tuple(dict.fromkeys(spoken))
    g.aftertap_timezone = timezone
    # Words may have been chosen before the page knew its brand (a domain error, a reward's
    # label): choose again.
    refresh()


class BrandLike(Protocol):
    """What pages know of a brand (``app.catalog.views.BrandView``)."""

    @property
    def slug(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def locale(self) -> str: ...


# The factory registers, under this key, ``slug -> locales or None``: the locales its live
# ruleset declares (read from the rules registry's cache, no query). Core cannot import rules.
RESOLVER = "aftertap.brand_locales"


def brand_locales(brand: BrandLike) -> tuple[str, ...]:
    """Return the locales ``brand`` speaks, first its main one: its live ruleset's, else
    ``Brand.locale``."""
    resolver: Callable[[str], Sequence[str] | None] | None = (
        current_app.extensions.get(RESOLVER) if has_request_context() else None)
    declared = resolver(brand.slug) if resolver is not None else None
    return tuple(declared or (brand.locale or DEFAULT_LOCALE,))


def serve(brand: BrandLike) -> None:
    """Say this request serves ``brand``: its pages speak its locales, in its time zone. Views
    call it where they build the item's view (``app.catalog.access``, the tap)."""
    if has_request_context():
        use_brand(brand_locales(brand), brand.timezone)


def first_language(brand: BrandLike) -> str:
    """Return the language emails of ``brand`` are written in: its first locale with a
    catalogue, else English."""
    for tag in brand_locales(brand):
        if (lang := _language(tag)) in available():
            return lang
    return DEFAULT_LOCALE


def in_brand_language(brand: BrandLike) -> AbstractContextManager[None]:
    """Return a context in which words come out in ``brand``'s email language (see
    ``first_language``), whatever the phone asked for."""
    forced: AbstractContextManager[None] = force_locale(first_language(brand))
    return forced


def for_staff(staff: bool = True) -> None:
    """Say whether this request serves a staff page (``app.admin``): its words follow the
    browser among every language with a catalogue, not the brand's consumer ``locales``
    (``False``: a page shown as the phone would see it)."""
    if not has_request_context():
        return
    g.aftertap_staff = staff
    refresh()


def select_locale() -> str:
    """Return the request's language (see the module's docstring)."""
    offered: tuple[str, ...] = (available() if getattr(g, "aftertap_staff", False)
                                else getattr(g, "aftertap_locales", ()) or available())
    # By the phone's order of preference, by language: "en-GB, fr;q=0.5" is English, which
    # werkzeug's best_match would not see in "en-GB" before it took the exact "fr".
    for tag, quality in request.accept_languages if has_request_context() else ():
        if quality > 0 and (lang := _language(tag)) in offered:
            return lang
    return DEFAULT_LOCALE if DEFAULT_LOCALE in offered else offered[0]


def current_language() -> str:
    """Return the language words come out in now (``en`` outside a request)."""
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LOCALE


def N_(message: str) -> str:  # the name `make translations` extracts (a default keyword)
    """Return ``message``: marks English text shown translated later, where a person reads it
    (its English text is its catalogue id)."""
    return message


def translate(message: str, params: Mapping[str, object] | None = None) -> str:
    """Return ``message`` (an English catalogue id, marked ``N_`` where it is written) in the
    language words come out in now, its ``%(name)s`` filled from ``params``; as written when
    the catalogue lacks it. Services keep English ids and call this (or let the error mapping
    call it) only when a person is about to read the words, so they need no Flask import."""
    return str(gettext(message, **params)) if params else str(gettext(message))


def translate_count(singular: str, plural: str, count: int, **params: object) -> str:
    """Return the form of ``singular`` / ``plural`` the current language uses for ``count``,
    translated as ``translate`` does; ``%(num)s`` is ``count`` unless ``params`` gives ``num``
    (a number written for the page, like "1,250")."""
    # Not flask_babel.ngettext: it passes ``count`` as ``num`` itself and refuses another.
    words = get_translations().ungettext(singular, plural, count)
    return str(words % {"num": count, **params})


def select_timezone() -> str:
    """Return the request's time zone: the brand's, else UTC."""
    return getattr(g, "aftertap_timezone", None) or "UTC"


def init_app(app: Flask) -> None:
    """Set Flask-Babel up on ``app``: catalogues, language and time zone selectors."""
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
