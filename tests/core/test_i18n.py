"""Languages: which one a page speaks, and catalogues that match their sources."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask_babel import get_locale, get_timezone

from app.core import i18n


@pytest.fixture
def bare() -> Flask:
    """An app with only the language setup: selection needs no database."""
    app = Flask(__name__)
    i18n.init_app(app)
    return app


@pytest.mark.parametrize(("accept", "locales", "expected"), [
    ("fr-FR,fr;q=0.9,en;q=0.5", ("en-GB", "fr-FR"), "fr"),  # the phone's first choice
    ("fr-FR,fr;q=0.9", ("en-GB",), "en"),  # the brand does not speak French
    ("de-DE", ("fr-FR", "en"), "en"),  # no match: English when the brand speaks it
    ("de-DE", ("fr-FR",), "fr"),  # else the brand's first language
    ("fr", None, "fr"),  # no brand yet: any language with a catalogue
    ("", None, "en"),
])
def test_a_page_speaks_the_phones_language_among_the_brands(bare, accept, locales, expected):
    with bare.test_request_context(headers={"Accept-Language": accept}):
        if locales is not None:
            i18n.use_brand(locales, "Europe/Paris")
        assert str(get_locale()) == expected


def test_a_locale_without_a_catalogue_is_not_offered(bare):
    with bare.test_request_context(headers={"Accept-Language": "xx,ja"}):
        i18n.use_brand(("ja-JP", "not a locale", "en"), None)
        assert str(get_locale()) == "en"
        assert str(get_timezone()) == "UTC"


def test_times_follow_the_brands_zone(bare):
    with bare.test_request_context():
        i18n.use_brand(("en",), "Asia/Tokyo")
        assert str(get_timezone()) == "Asia/Tokyo"


def _text(string: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return (string,) if isinstance(string, str) else tuple(string)


def _key(message) -> tuple[str | None, tuple[str, ...]]:
    """A message's identity: its context and its singular (and plural) text."""
    return message.context, _text(message.id)


def test_french_is_complete_and_every_compiled_catalogue_matches_its_source():
    """Every built-in string has its French, and the committed .mo files were compiled from the
    .po beside them (``make translations``)."""
    assert "fr" in i18n.available()
    for po_path in sorted(i18n.TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")):
        with po_path.open("rb") as fh:
            # With its language: the .po has no header to say how many plural forms it has.
            po = read_po(fh, locale=po_path.parent.parent.name)
        with Path(po_path.with_suffix(".mo")).open("rb") as fh:
            mo = read_mo(fh)
        wanted = {_key(m): _text(m.string) for m in po if m.id and not m.fuzzy}
        compiled = {_key(m): _text(m.string) for m in mo if m.id}
        assert compiled == wanted, f"{po_path}: run make translations"
        # A plural message is translated when each of its forms is.
        missing = [m.id for m in po if m.id and not all(_text(m.string))]
        assert not missing, f"{po_path.parent.parent.name}: {len(missing)} untranslated"
