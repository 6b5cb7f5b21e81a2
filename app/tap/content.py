"""The brand's words and media on its pages: a journey's content (heading, body, call to action,
media, blocks) and rewards' labels, in the page's language.

* ``words(text)`` (Jinja global): marketer text (``{locale: text}``) in the request's language
  (``flask_babel.get_locale``), else the ruleset's first locale, else any.
* ``journey_media(item, media, is_owner)``: the URL of a journey's image or video. A file in the
  brand's public ``media/`` folder is served to anyone (``/brand/<slug>/media/<file>``); one in
  ``owner/`` only to the item's owner (``brand_files.owner_media``), and the page offers it to
  no one else.
* ``cta_url(cta, item, own)``: where a call to action leads; None when it cannot lead there for
  this person (no owner page for a stranger), so the button is left out.
* ``product_words(item, part)``: the care guidance (``care``) or owner-only content
  (``owner_content``) of the item's product, from the ruleset's ``products:`` or the catalogue
  (see ``product_words`` for which wins), in the page's language.
* ``attribute_label(product, name)``: what the item card calls an attribute, in the page's
  language: the catalogue's own label, else a built-in one, else the name in words.
* ``attribute_value(product, name, value)``: an attribute's value in the page's language (the
  catalogue's ``made_in:fr``), else its plain value.
* ``/brand/<slug>/media/<file>``: a public media file, in byte ranges (video on phones).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    has_request_context,
    send_from_directory,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale, lazy_gettext

from app.catalog.brands import SLUG_RE
from app.catalog.themes import (
    FILE_RE,
    MEDIA_TYPES,
    owner_media_path,
    public_media_path,
)
from app.journeys.language.syntax import RulesetDoc, pick_text
from app.journeys.language.words import DEFAULT_BLOCKS
from app.rewards.words import prize_label, reward_words, ruleset_doc, text_in_locale

bp = Blueprint("brand_media", __name__)

_DAY = 86400
_FILE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def words(text: Any, brand: str | None = None) -> str:
    """Return marketer ``text`` in the page's language (see the module docstring); ""."""
    if not text:
        return ""
    if isinstance(text, str):
        return text
    doc = ruleset_doc(brand) if brand else None
    return text_in_locale(text, doc.locales if doc is not None else ())


# Blocks that say something without an item (a page about a tap that found none).
_ITEMLESS_BLOCKS = ("hero", "body", "note")


def page_blocks(content: dict[str, Any] | None, default: Sequence[str] | None = None,
                item: Any = True) -> tuple[str, ...]:
    """Return the blocks of a journey's page, in order: those its content lists, else the
    experience's ``default``, else ``DEFAULT_BLOCKS``; without an ``item``, only those that
    need none."""
    blocks = tuple((content or {}).get("blocks") or default or DEFAULT_BLOCKS)
    return blocks if item else tuple(b for b in blocks if b in _ITEMLESS_BLOCKS)


# Attributes the catalogue knows (app.catalog.views.DEFAULT_PROVENANCE_ATTRIBUTES), named in
# the page's language; a brand's import may name these and its own (``label:<name>``).
ATTRIBUTE_LABELS = {
    "made_in": lazy_gettext("Made in"),
    "material": lazy_gettext("Material"),
    "formulation": lazy_gettext("Formulation"),
    "cask": lazy_gettext("Cask"),
    "vintage": lazy_gettext("Vintage"),
    "movement": lazy_gettext("Movement"),
}


def _page_language() -> str | None:
    return str(get_locale()) if has_request_context() else None


def _speaks(text: dict[str, str] | None, locale: str | None) -> bool:
    """Whether ``text`` is written in ``locale``'s language (``fr`` for ``fr-FR``)."""
    if not text or not locale:
        return False
    lang = locale.replace("_", "-").split("-")[0].lower()
    return any(tag.replace("_", "-").split("-")[0].lower() == lang for tag in text)


def attribute_label(product: Any, name: str) -> str:
    """Return what the item card calls attribute ``name`` of ``product`` in the page's
    language: the catalogue's label in that language, else the built-in one, else the
    catalogue's in another language, else the name in words (never ``made_in``)."""
    labels: dict[str, str] = ((product.texts or {}).get("labels") or {}).get(name) or {}
    locale = _page_language()
    if _speaks(labels, locale):
        return pick_text(labels, locale) or ""
    if name in ATTRIBUTE_LABELS:
        return str(ATTRIBUTE_LABELS[name])
    if labels:
        return pick_text(labels, locale, (product.brand.locale,)) or ""
    return name.replace("_", " ").capitalize()


def attribute_value(product: Any, name: str, value: Any) -> str:
    """Return attribute ``name``'s value as the item card shows it: the catalogue's value in the
    page's language (``Product.texts["values"]``), else the plain ``value`` (the brand's
    language)."""
    values: dict[str, str] = ((product.texts or {}).get("values") or {}).get(name) or {}
    locale = _page_language()
    if _speaks(values, locale):
        return pick_text(values, locale) or str(value)
    return str(value)


def product_words(item: Any, part: str) -> dict[str, Any]:
    """Return the item's product's ``care`` or ``owner_content`` for this page: {heading, body
    (Markdown), media (as a journey's), from ("ruleset" | "catalogue")}, or {} when nobody
    wrote any.

    Which words win: the most specific first, and at the same level the ruleset's: the
    ruleset's entry for the product's GTIN, then the catalogue's text for the product, then the
    ruleset's entry for its category. The first of these written in the page's language is
    shown; when none is, the first of them in its own first language.
    """
    if item is None or part not in ("care", "owner_content"):
        return {}
    product = item.product
    doc = ruleset_doc(product.brand.slug)
    by_gtin = by_category = None
    for entry in doc.products if doc is not None else ():
        if entry.kind == "gtin" and entry.key == product.gtin:
            by_gtin = getattr(entry, part) or None
        elif entry.kind == "category" and entry.key == product.category:
            by_category = getattr(entry, part) or None
    sources = [("ruleset", by_gtin), ("catalogue", _catalogue_words(product, part)),
               ("ruleset", by_category)]
    found = [(origin, words) for origin, words in sources if words]
    if not found:
        return {}
    locale = _page_language()
    origin, chosen = next(((o, w) for o, w in found
                           if _speaks(w.get("body") or w.get("heading"), locale)
                           or not (w.get("body") or w.get("heading"))), found[0])
    locales = _ruleset_locales(doc) if origin == "ruleset" else (product.brand.locale,)
    return {"heading": pick_text(chosen.get("heading"), locale, locales) or "",
            "body": pick_text(chosen.get("body"), locale, locales) or "",
            "media": chosen.get("media"), "from": origin}


def _ruleset_locales(doc: RulesetDoc | None) -> tuple[str, ...]:
    return doc.locales if doc is not None else ()


def _catalogue_words(product: Any, part: str) -> dict[str, Any] | None:
    """Return the catalogue's care or owner-only text as {heading, body} per locale: the column
    (the brand's language) and the import's other languages (``Product.texts``)."""
    column = product.care_text if part == "care" else product.owner_content
    body = {**({product.brand.locale: column} if column else {}),
            **((product.texts or {}).get(part) or {})}
    if not body:
        return None
    title = product.attributes.get("owner_content_title") if part == "owner_content" else None
    return {"body": body, "heading": {product.brand.locale: str(title)} if title else None}


def journey_media(item: Any, media: dict[str, Any] | None, is_owner: bool) -> dict[str, Any]:
    """Return {url, poster, owner_only} for a journey's media, or {} when this person may not
    see it (owner-only media to anyone else) or the file is gone."""
    if not media or item is None:
        return {}
    slug = item.product.brand.slug
    settings = current_app.config

    def url(name: str | None) -> tuple[str | None, bool]:
        if not name:
            return None, False
        if public_media_path(settings, slug, name) is not None:
            return url_for("brand_media.public_media", slug=slug, name=name), False
        if owner_media_path(settings, slug, name) is not None:
            if not is_owner:
                return None, True
            return url_for("brand_files.owner_media", gtin=item.product.gtin,
                           serial=item.serial, name=name), True
        return None, False

    main, owner_only = url(media.get("video") or media.get("image"))
    if main is None:
        return {}
    poster, _ = url(media.get("poster"))
    return {"url": main, "poster": poster, "owner_only": owner_only,
            "video": "video" in media}


def cta_url(cta: dict[str, Any] | None, item: Any, own: dict[str, Any] | None) -> str | None:
    """Return where the call to action leads for this person, or None (no button)."""
    if not cta or item is None:
        return None
    to = str(cta.get("to", ""))
    owner = bool(own and own.get("is_owner"))
    urls: dict[str, str] = (own or {}).get("urls") or {}
    if to.startswith("/"):
        return to
    if to == "owner":
        return urls.get("owner") if owner else None
    if to == "transfer":
        return f"{urls['owner']}#selling" if owner and urls.get("owner") else None
    if to == "service":
        return url_for("aftersales.request_form", gtin=item.product.gtin,
                       serial=item.serial) if owner else None
    if to == "reveal":
        grant = (own or {}).get("grant")
        return str(url_for("rewards.reveal_page", token=grant.token)) \
            if grant is not None and grant.pending else None
    if to == "review":
        return "#review" if owner else None
    return None


@bp.get("/brand/<slug>/media/<name>")
def public_media(slug: str, name: str) -> ResponseReturnValue:
    """Send a file of the brand's public ``media/`` folder, in byte ranges; 404 otherwise."""
    if not SLUG_RE.match(slug) or not FILE_RE.match(name):
        abort(404)
    path = public_media_path(current_app.config, slug, name)
    if path is None:
        abort(404)
    response = send_from_directory(path.parent, path.name,
                                   mimetype=MEDIA_TYPES[Path(name).suffix.lower()],
                                   conditional=True, etag=True, max_age=_DAY)
    response.headers["Cache-Control"] = f"public, max-age={_DAY}"
    response.headers["Content-Security-Policy"] = _FILE_CSP
    return response


def init_app(app: Flask) -> None:
    """Register the public media route and the templates' ``words``, ``page_blocks``,
    ``journey_media``, ``cta_url``, ``prize_label``, ``reward_words``, ``product_words``,
    ``attribute_label`` and ``attribute_value``."""
    app.register_blueprint(bp)
    app.jinja_env.globals.update(
        words=words, page_blocks=page_blocks, journey_media=journey_media, cta_url=cta_url,
        prize_label=prize_label, reward_words=reward_words, product_words=product_words,
        attribute_label=attribute_label, attribute_value=attribute_value,
    )
