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
* ``/brand/<slug>/media/<file>``: a public media file, in byte ranges (video on phones).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, abort, current_app, send_from_directory, url_for
from flask.typing import ResponseReturnValue

from app.catalog.brands import SLUG_RE
from app.catalog.themes import (
    FILE_RE,
    MEDIA_TYPES,
    owner_media_path,
    public_media_path,
)
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


def page_blocks(content: dict[str, Any] | None) -> tuple[str, ...]:
    """Return the blocks of a journey's page, in order."""
    return tuple((content or {}).get("blocks") or DEFAULT_BLOCKS)


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
    ``journey_media``, ``cta_url``, ``prize_label`` and ``reward_words``."""
    app.register_blueprint(bp)
    app.jinja_env.globals.update(
        words=words, page_blocks=page_blocks, journey_media=journey_media, cta_url=cta_url,
        prize_label=prize_label, reward_words=reward_words,
    )
