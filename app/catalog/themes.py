"""A brand's look and its owner-only media, from its folder ``<BRAND_ASSETS_DIR>/<slug>/``.

``theme.yaml`` names a logo, four colours (two optional ones more), self-hosted WOFF2 fonts and
a corner style; the folder's ``owner/`` subfolder holds media (a film, its poster) that only an
item's current owner may fetch. ``load_theme`` reads the file for the pages (cached until a file
it names changes); ``theme_problems`` and ``media_problems`` say, in words a brand can act on,
everything wrong with it (``journeys validate`` and ``brands check-theme`` print them).

Colours are read and compared by ColorAide (any CSS colour a designer writes: ``#1d1b19``,
``rgb(29 27 25)``, ``navy``; contrast by the WCAG 2.1 formula), and written to the page as
``#rrggbb``.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# A bare file name: no folders, so no path can leave the brand's folder.
FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
THEME_FILE = "theme.yaml"
OWNER_DIR = "owner"
PUBLIC_MEDIA_DIR = "media"  # images and films a journey shows anyone (app.tap.content)
REQUIRED_COLOURS = ("background", "text", "accent", "accent_text")
OPTIONAL_COLOURS = ("surface", "muted")
# Pairs read together on a page, (foreground, background): WCAG AA for body text is 4.5:1.
CONTRAST_PAIRS = (("text", "background"), ("accent_text", "accent"), ("text", "surface"),
                  ("muted", "background"), ("muted", "surface"))
MIN_CONTRAST = 4.5
CORNERS = {"square": ("0", "0"), "rounded": ("14px", "12px"), "pill": ("20px", "999px")}
LOGO_TYPES = {".svg", ".png", ".webp"}
# Media an owner may be sent, by extension: the server sends the type from it.
MEDIA_TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".jpg": "image/jpeg",
               ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
FILM_TYPES = {".mp4", ".webm"}
IMAGE_TYPES = {".jpg", ".jpeg", ".png", ".webp"}
# Fonts and logos are on every page of the brand: keep them small for a phone in a shop.
MAX_FONT_BYTES = 150 * 1024
MAX_LOGO_BYTES = 100 * 1024
_TOP_KEYS = {"logo", "colours", "font", "corners"}
_FONT_KEYS = {"family", "fallback", "files"}
_FACE_KEYS = {"file", "weight", "style"}
# A family or fallback list is copied into CSS: letters, digits, spaces, quotes, commas, '-'.
_FAMILY_RE = re.compile(r"^[A-Za-z0-9 \-]{1,60}$")
_FALLBACK_RE = re.compile(r'^[A-Za-z0-9 ,"\-]{1,200}$')
# An SVG logo is an image, never a document: nothing that runs or loads anything.
_SVG_UNSAFE = re.compile(r"<script|<foreignObject|\son[a-z]+\s*=|javascript:|<iframe|<embed|"
                         r"<object|(?:href|src)\s*=\s*[\"']?(?:https?:)?//", re.IGNORECASE)


@dataclass(frozen=True)
class FontFace:
    file: str
    weight: str
    style: str


@dataclass(frozen=True)
class Theme:
    """What a page needs of a brand's look; ``versions`` maps each public file to a content
    digest, added to its URL so a changed file gets a new address (it is cached for a year)."""

    slug: str
    colours: dict[str, str]
    corners: str
    family: str | None
    fallback: str | None
    faces: tuple[FontFace, ...]
    logo: str | None
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def radius(self) -> tuple[str, str]:
        """Return the (card, button) corner radius in CSS."""
        return CORNERS[self.corners]

    def public_files(self) -> set[str]:
        """Return the file names the public route may send: the logo and the fonts."""
        names = {face.file for face in self.faces}
        if self.logo:
            names.add(self.logo)
        return names


class ThemeProblem(Exception):
    """``theme.yaml`` cannot be used; ``problems`` lists why, one sentence each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def brand_assets(settings: Mapping[str, Any], slug: str) -> Path:
    """Return the brand's folder (it may not exist)."""
    return Path(settings["BRAND_ASSETS_DIR"]) / slug


def owner_media_path(settings: Mapping[str, Any], slug: str, name: str) -> Path | None:
    """Return the owner-only media file ``name`` of brand ``slug``, or None when ``name`` is not
    a bare file name of a media type, or no such file exists."""
    if not FILE_RE.match(name) or ".." in name or Path(name).suffix.lower() not in MEDIA_TYPES:
        return None
    path = brand_assets(settings, slug) / OWNER_DIR / name
    return path if path.is_file() else None


def public_media_path(settings: Mapping[str, Any], slug: str, name: str) -> Path | None:
    """Return the public media file ``name`` of brand ``slug`` (its ``media/`` folder), or None
    when ``name`` is not a bare file name of a media type, or no such file exists."""
    if not FILE_RE.match(name) or ".." in name or Path(name).suffix.lower() not in MEDIA_TYPES:
        return None
    path = brand_assets(settings, slug) / PUBLIC_MEDIA_DIR / name
    return path if path.is_file() else None


# --- contrast (WCAG 2.x) ---------------------------------------------------------------------


def _color_class() -> Any:
    # Imported on first use: ColorAide takes ~160 ms to import, and only a theme's first load
    # or a check needs it, never a tap or a CLI command that shows no page.
    from coloraide import Color

    return Color


def parse_colour(value: object) -> str | None:
    """Return a CSS colour as ``#rrggbb`` (fitted into sRGB), or None when ``value`` is not an
    opaque CSS colour: a see-through colour has no contrast of its own."""
    if not isinstance(value, str) or not 0 < len(value) <= 100:
        return None
    try:
        colour = _color_class()(value)
    except ValueError:
        return None
    if colour.alpha() < 1:
        return None
    return str(colour.convert("srgb").fit().to_string(hex=True))


def contrast(a: str, b: str) -> float:
    """Return the WCAG 2.1 contrast ratio of two colours (any CSS colour), 1.0 to 21.0."""
    return float(_color_class()(a).contrast(b, method="wcag21"))


# --- reading and checking ----------------------------------------------------------------------


def _read(folder: Path) -> tuple[dict[str, Any] | None, list[str]]:
    path = folder / THEME_FILE
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{THEME_FILE} cannot be read ({type(exc).__name__})"]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return None, [f"{THEME_FILE} is not valid YAML{where}"]
    if not isinstance(doc, dict):
        return None, [f"{THEME_FILE} must be a mapping (logo:, colours:, font:, corners:)"]
    return doc, []


def _file_problem(folder: Path, what: str, name: object, types: Iterable[str],
                  max_bytes: int) -> str | None:
    if not isinstance(name, str) or not FILE_RE.match(name) or ".." in name:
        return f"{what} {name!r} must be a file name only (letters, digits, '.', '_', '-')"
    if Path(name).suffix.lower() not in types:
        return f"{what} {name!r} must be {' or '.join(sorted(types))}"
    path = folder / name
    if not path.is_file():
        return f"{what} {name!r} is not in the brand's folder"
    size = path.stat().st_size
    if size > max_bytes:
        return f"{what} {name!r} is {size // 1024} KB; keep it under {max_bytes // 1024} KB"
    return None


def _check(folder: Path, doc: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Return (problems, the checked values)."""
    problems: list[str] = []
    for key in sorted(set(doc) - _TOP_KEYS):
        problems.append(f"unknown field {key!r} (known: {', '.join(sorted(_TOP_KEYS))})")
    out: dict[str, Any] = {}

    logo = doc.get("logo")
    if logo is not None:
        if problem := _file_problem(folder, "logo", logo, LOGO_TYPES, MAX_LOGO_BYTES):
            problems.append(problem)
        elif str(logo).lower().endswith(".svg") and _SVG_UNSAFE.search(
                (folder / str(logo)).read_text(encoding="utf-8", errors="replace")):
            problems.append(f"logo {logo!r} contains a script, an event handler or a link to "
                            "another site; an SVG logo must be a plain drawing")
        else:
            out["logo"] = logo

    colours = doc.get("colours")
    parsed: dict[str, str] = {}
    if not isinstance(colours, dict):
        problems.append("colours: must list " + ", ".join(REQUIRED_COLOURS))
        colours = {}
    for key in sorted(set(colours) - set(REQUIRED_COLOURS) - set(OPTIONAL_COLOURS)):
        problems.append(f"colours: unknown colour {key!r} (known: "
                        f"{', '.join(REQUIRED_COLOURS + OPTIONAL_COLOURS)})")
    for key in REQUIRED_COLOURS + OPTIONAL_COLOURS:
        if key not in colours:
            if key in REQUIRED_COLOURS:
                problems.append(f"colours: {key} is missing")
            continue
        hex_colour = parse_colour(colours[key])
        if hex_colour is None:
            problems.append(f"colours: {key} {colours[key]!r} is not a colour like \"#1d1b19\"")
        else:
            parsed[key] = hex_colour
    # Optional colours default to the page's: cards on the background, muted as text.
    if "background" in parsed:
        parsed.setdefault("surface", parsed["background"])
    if "text" in parsed:
        parsed.setdefault("muted", parsed["text"])
    for fg, bg in CONTRAST_PAIRS:
        if fg in parsed and bg in parsed:
            ratio = contrast(parsed[fg], parsed[bg])
            if ratio < MIN_CONTRAST:
                problems.append(f"colours: {fg} on {bg} has a contrast of {ratio:.2f}:1; text "
                                f"needs at least {MIN_CONTRAST}:1 to be readable (WCAG AA)")
    out["colours"] = parsed

    corners = doc.get("corners", "rounded")
    if corners not in CORNERS:
        problems.append(f"corners: {corners!r} must be one of {', '.join(CORNERS)}")
    else:
        out["corners"] = corners

    font = doc.get("font") or {}
    faces: list[FontFace] = []
    if not isinstance(font, dict):
        problems.append("font: must have family, fallback and files")
        font = {}
    for key in sorted(set(font) - _FONT_KEYS):
        problems.append(f"font: unknown field {key!r} (known: {', '.join(sorted(_FONT_KEYS))})")
    family, fallback, files = font.get("family"), font.get("fallback"), font.get("files") or []
    if family is not None and (not isinstance(family, str) or not _FAMILY_RE.match(family)):
        problems.append("font: family must be a name of letters, digits, spaces and '-'")
    if fallback is not None and (not isinstance(fallback, str)
                                 or not _FALLBACK_RE.match(fallback)):
        problems.append("font: fallback must be a list of font names like "
                        "'Georgia, \"Times New Roman\", serif'")
    if files and family is None:
        problems.append("font: files need a family, the name pages use for them")
    if not isinstance(files, list):
        problems.append("font: files must be a list of {file, weight, style}")
        files = []
    for face in files:
        face = face if isinstance(face, dict) else {"file": face}
        for key in sorted(set(face) - _FACE_KEYS):
            problems.append(f"font: unknown field {key!r} in a file entry")
        name = face.get("file")
        if problem := _file_problem(folder, "font", name, {".woff2"}, MAX_FONT_BYTES):
            problems.append(problem)
            continue
        with (folder / str(name)).open("rb") as handle:
            if handle.read(4) != b"wOF2":
                problems.append(f"font {name!r} is not a WOFF2 font (convert it to WOFF2, "
                                "the format every phone reads and the smallest)")
                continue
        weight, style = str(face.get("weight", 400)), str(face.get("style", "normal"))
        if not re.fullmatch(r"[1-9]00", weight) or style not in ("normal", "italic"):
            problems.append(f"font {name!r}: weight must be 100 to 900 and style normal or "
                            "italic")
            continue
        faces.append(FontFace(str(name), weight, style))
    out.update(family=family, fallback=fallback, faces=tuple(faces))
    return problems, out


def theme_problems(folder: Path) -> list[str]:
    """Return every problem of the theme in ``folder`` (empty: usable, or no theme at all)."""
    if not (folder / THEME_FILE).is_file():
        return []
    doc, problems = _read(folder)
    if doc is None:
        return problems
    return _check(folder, doc)[0]


def media_problems(folder: Path, contents: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Return a problem for each ``film`` or ``poster`` a journey's content names that is not
    in the brand's ``owner/`` folder; ``contents`` is (journey id, content) pairs."""
    problems = []
    for journey, content in contents:
        for key, types in (("film", FILM_TYPES), ("poster", {".jpg", ".jpeg", ".png", ".webp"})):
            name = content.get(key)
            if name is None:
                continue
            if (not isinstance(name, str) or Path(name).suffix.lower() not in types
                    or not FILE_RE.match(name)):
                problems.append(f"journey {journey}: content {key} {name!r} must be a file name "
                                f"ending in {' or '.join(sorted(types))}")
            elif not (folder / OWNER_DIR / name).is_file():
                problems.append(f"journey {journey}: content {key} {name!r} is not in "
                                f"{folder / OWNER_DIR}")
        media = content.get("media") or {}
        for key, types in (("image", IMAGE_TYPES), ("video", FILM_TYPES),
                           ("poster", IMAGE_TYPES)):
            name = media.get(key)
            if name is None:
                continue
            if (not isinstance(name, str) or Path(name).suffix.lower() not in types
                    or not FILE_RE.match(name)):
                problems.append(f"journey {journey}: content.media.{key} {name!r} must be a "
                                f"file name ending in {' or '.join(sorted(types))}")
            elif not any((folder / sub / name).is_file()
                         for sub in (PUBLIC_MEDIA_DIR, OWNER_DIR)):
                problems.append(f"journey {journey}: content.media.{key} {name!r} is not in "
                                f"the brand's assets ({folder / PUBLIC_MEDIA_DIR} for everyone, "
                                f"{folder / OWNER_DIR} for owners only)")
    return problems


# folder -> (files' signature, theme, when the signature was last compared: time.monotonic())
_cache: dict[Path, tuple[tuple[float, ...], Theme | None, float]] = {}
_lock = threading.Lock()


def _signature(folder: Path, names: Iterable[str]) -> tuple[float, ...]:
    stamps = []
    for name in (THEME_FILE, *sorted(names)):
        try:
            stamps.append((folder / name).stat().st_mtime)
        except OSError:
            stamps.append(-1.0)
    return tuple(stamps)


def load_theme(settings: Mapping[str, Any], slug: str) -> Theme | None:
    """Return brand ``slug``'s theme, or None when it has none.

    Read again when ``theme.yaml`` or a file it names changes, looked at no more often than
    every ``THEME_CHECK_EVERY`` seconds (a stat of each file costs every page ~0.1 ms).

    Raises:
        ThemeProblem: the theme exists and is unusable (``validate`` says the same).
    """
    folder = brand_assets(settings, slug)
    cached = _cache.get(folder)
    now = time.monotonic()
    if cached is not None:
        signature, theme, checked_at = cached
        if now - checked_at < float(settings.get("THEME_CHECK_EVERY", 2.0)):
            return theme
        if signature == _signature(folder, theme.public_files() if theme else ()):
            with _lock:
                _cache[folder] = (signature, theme, now)
            return theme
    if not (folder / THEME_FILE).is_file():
        theme = None
        names = set()
    else:
        doc, problems = _read(folder)
        if doc is None:
            raise ThemeProblem(problems)
        problems, values = _check(folder, doc)
        if problems:
            raise ThemeProblem(problems)
        theme = Theme(slug=slug, colours=values["colours"], corners=values["corners"],
                      family=values["family"], fallback=values["fallback"],
                      faces=values["faces"], logo=values.get("logo"))
        names = theme.public_files()
        for name in names:
            theme.versions[name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()[:12]
    with _lock:
        _cache[folder] = (_signature(folder, names), theme, now)
    return theme


def look_problems(settings: Mapping[str, Any], slug: str,
                  contents: Iterable[tuple[str, Mapping[str, Any]]] = ()) -> list[str]:
    """Return every problem of brand ``slug``'s theme and of the owner-only media its journeys
    name (``contents``: (journey id, content) pairs), each line starting with the folder."""
    folder = brand_assets(settings, slug)
    return [f"{folder}: {line}" for line in
            theme_problems(folder) + media_problems(folder, contents)]
