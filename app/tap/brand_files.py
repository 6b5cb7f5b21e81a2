"""A brand's look on every page its customers see, its logo and fonts, and owner-only media.

* ``/brand/<slug>/<file>``: the logo and font files the brand's ``theme.yaml`` names, and
  nothing else in its folder. Each URL carries the file's digest (``?v=``), so they are cached
  for a year and a changed file gets a new address; ETag and conditional requests too.
* ``/items/<gtin>/<serial>/media/<file>``: a file from the brand's ``owner/`` folder, sent only
  to the item's current owner with the item in hand (the owner page's own check), in byte
  ranges (a phone's video player asks for ranges, and needs ``206 Partial Content``).
* ``brand_look(item)`` and ``brand_logo(item)`` (Jinja globals): the brand's colours, fonts and
  corners as CSS custom properties for ``base.html``'s head, and its logo for the header.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, abort, current_app, g, send_from_directory, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from app.catalog import access
from app.catalog.brands import SLUG_RE
from app.catalog.themes import (
    FILE_RE,
    MEDIA_TYPES,
    Theme,
    ThemeProblem,
    brand_assets,
    load_theme,
    owner_media_path,
)

log = logging.getLogger(__name__)

bp = Blueprint("brand_files", __name__)
# A logo at most this big may be written into the page itself (``brand_logo(inline=True)``).
INLINE_LOGO_BYTES = 8 * 1024

_YEAR = 365 * 86400
# Owner-only media: kept by the owner's browser for a while, never by a shared cache.
_MEDIA_CACHE = "private, max-age=3600"
# A file sent on its own (an SVG opened directly) runs nothing and loads nothing.
_FILE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def theme_for(slug: str | None) -> Theme | None:
    """Return the brand's theme for this request, or None (no brand, no theme, or a broken one,
    which is logged: the page keeps the default look rather than failing)."""
    if not slug:
        return None
    themes: dict[str, Theme | None] = g.setdefault("aftertap_themes", {})
    if slug not in themes:
        try:
            themes[slug] = load_theme(current_app.config, slug)
        except ThemeProblem as exc:
            log.error("theme of %s is unusable (run `flask brands check-theme %s`): %s",
                      slug, slug, exc)
            themes[slug] = None
    return themes[slug]


def _slug(item: Any) -> str | None:
    try:
        return str(item.product.brand.slug) if item else None
    except AttributeError:
        return None


def file_url(theme: Theme, name: str) -> str:
    """Return the public URL of a theme file, with its digest so it can be cached for ever."""
    return url_for("brand_files.theme_file", slug=theme.slug, name=name,
                   v=theme.versions.get(name, "0"))


def theme_css(theme: Theme, fonts: bool = True) -> str:
    """Return the ``<style>`` that gives a page the brand's look (every value was checked);
    ``fonts=False`` leaves out the font files and uses the theme's fallback fonts."""
    c = theme.colours
    card, button = theme.radius
    faces = "".join(
        f'@font-face{{font-family:"{theme.family}";src:url({file_url(theme, face.file)}) '
        f'format("woff2");font-weight:{face.weight};font-style:{face.style};'
        "font-display:swap}"
        for face in theme.faces
    ) if fonts else ""
    family = ", ".join(x for x in (f'"{theme.family}"' if theme.family and fonts else None,
                                   theme.fallback) if x)
    body = f"body{{font-family:{family}}}" if family else ""
    return (
        f"<style>{faces}:root{{--paper:{c['background']};--ink:{c['text']};"
        f"--card:{c['surface']};--muted:{c['muted']};--accent:{c['accent']};"
        f"--accent-text:{c['accent_text']};--radius:{card};--radius-button:{button};"
        "--line:color-mix(in srgb,var(--ink) 20%,var(--paper))}"
        # Links in the brand's text colour (checked for contrast), never the browser's blue,
        # which a dark theme makes unreadable.
        "a:not(.button){color:var(--ink)}"
        f"{body}</style>"
    )


def brand_look(item: Any = None, fonts: bool = True) -> Markup:
    """Return the brand's ``<style>`` for ``item``'s pages, or nothing (the default look).

    ``fonts=False``: without the font files (the theme's fallback fonts), for a page that must
    answer in one round trip.
    """
    theme = theme_for(_slug(item))
    # theme_css only interpolates checked values (hex colours, safe names, digests).
    return Markup(theme_css(theme, fonts)) if theme else Markup("")  # noqa: S704


def brand_logo(item: Any = None, inline: bool = False) -> Markup | None:
    """Return the brand's logo as an ``<img>`` named after the brand, or None without one.

    ``inline``: a small file (``INLINE_LOGO_BYTES``) itself as a ``data:`` URL, for pages that
    must answer in one round trip (not verified); an ``<img>`` never runs an SVG's script, and
    ``validate`` refuses a logo that has one. Otherwise the cached file's URL.
    """
    theme = theme_for(_slug(item))
    if theme is None or theme.logo is None:
        return None
    src = file_url(theme, theme.logo)
    path = brand_assets(current_app.config, theme.slug) / theme.logo
    if inline and path.is_file() and path.stat().st_size <= INLINE_LOGO_BYTES:
        kind = MEDIA_TYPES.get(path.suffix.lower(), "image/svg+xml")
        src = f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"
    return Markup('<img src="{}" alt="{}" height="32" class="logo">').format(
        src, escape(item.product.brand.name))


@bp.get("/brand/<slug>/<name>")
def theme_file(slug: str, name: str) -> ResponseReturnValue:
    """Send a logo or font the brand's theme names; 404 for any other name or file."""
    if not SLUG_RE.match(slug) or not FILE_RE.match(name):
        abort(404)
    theme = theme_for(slug)
    if theme is None or name not in theme.public_files():
        abort(404)
    response = send_from_directory(brand_assets(current_app.config, slug), name,
                                   max_age=_YEAR, conditional=True, etag=True)
    response.headers["Cache-Control"] = f"public, max-age={_YEAR}, immutable"
    response.headers["Content-Security-Policy"] = _FILE_CSP
    # Fonts are fetched in CORS mode; from this origin only, so no Access-Control header.
    return response


@bp.get("/items/<gtin>/<serial>/media/<name>")
def owner_media(gtin: str, serial: str, name: str) -> ResponseReturnValue:
    """Send the brand's owner-only file ``name``, in byte ranges, to the item's current owner.

    Anyone else gets 403 (as on the owner page), whether or not the file exists.
    """
    ctx = access.require_owner_tap(gtin, serial)
    path = owner_media_path(current_app.config, ctx.view.product.brand.slug, name)
    if path is None:
        abort(404)
    response = send_from_directory(path.parent, path.name, mimetype=MEDIA_TYPES[
        Path(name).suffix.lower()], conditional=True, etag=True, max_age=3600)
    response.headers["Cache-Control"] = _MEDIA_CACHE
    response.headers["Vary"] = "Cookie"
    response.headers["Content-Security-Policy"] = _FILE_CSP
    return response


def media_url(item: Any, name: str | None) -> str | None:
    """Return the owner-only media URL of ``name`` for ``item``, or None without a name."""
    if not name:
        return None
    return url_for("brand_files.owner_media", gtin=item.product.gtin, serial=item.serial,
                   name=name)


def init_app(app: Flask) -> None:
    """Register the routes and the templates' ``brand_look``, ``brand_logo``, ``media_url``."""
    app.register_blueprint(bp)
    app.jinja_env.globals.update(brand_look=brand_look, brand_logo=brand_logo,
                                 media_url=media_url)
