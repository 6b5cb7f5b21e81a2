"""Product images: files in the brand's asset folder, checked before a product may name them.

The folder is ``<ASSETS_DIR>/<brand-slug>/``. A file is named by its bare name (no folders, so
no path can leave the folder), must decode as the image type its extension says (the server
sends the type from the extension), and must be small enough for a phone on a slow network:
a tap page is opened in a shop or on the street.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from app.catalog.views import ProductImage

# A bare file name: letters, digits, '.', '_' and '-', not starting with a dot.
FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# Extension -> the format Pillow must find in the file.
FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}
# A tap page shows an image at most about 34rem wide: 1600 px covers a 3x phone screen, and
# 600 KB keeps the page quick on a slow network. Bigger files are refused, not shrunk here,
# so the brand's folder holds exactly what is served.
MAX_SIDE = 1600
MAX_BYTES = 600 * 1024
MAX_IMAGES = 8


class ImageProblem(Exception):
    """An image a product names is unusable; ``str()`` says which and why."""


def brand_folder(settings: Mapping[str, Any], brand_slug: str) -> Path:
    """Return the brand's asset folder (it may not exist)."""
    return Path(settings["ASSETS_DIR"]) / brand_slug


def check_image(folder: Path, name: str) -> ProductImage:
    """Return the image ``name`` in ``folder`` with its size.

    Raises:
        ImageProblem: a bad name or extension, no such file, not that image type, too big.
    """
    if not FILE_RE.match(name) or ".." in name:
        raise ImageProblem(f"image {name!r} must be a file name only (letters, digits, "
                           "'.', '_', '-')")
    expected = FORMATS.get(Path(name).suffix.lower())
    if expected is None:
        raise ImageProblem(f"image {name!r} must be .jpg, .jpeg, .png or .webp")
    path = folder / name
    if not path.is_file():
        raise ImageProblem(f"image {name!r} is not in {folder}")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ImageProblem(f"image {name!r} is {size // 1024} KB; keep tap-page images under "
                           f"{MAX_BYTES // 1024} KB (e.g. {MAX_SIDE} px wide, JPEG or WebP)")
    try:
        with warnings.catch_warnings():
            # A decompression bomb is an error here, not a warning.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                found, width, height = image.format, image.width, image.height
                image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageProblem(f"image {name!r} is not a readable image") from None
    if found != expected:
        raise ImageProblem(f"image {name!r} holds {found}, not what its extension says "
                           f"({expected})")
    if max(width, height) > MAX_SIDE:
        raise ImageProblem(f"image {name!r} is {width}x{height} px; resize it to at most "
                           f"{MAX_SIDE} px on its longer side")
    return ProductImage(name, width, height)
