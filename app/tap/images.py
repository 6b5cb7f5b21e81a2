"""``/assets/<brand>/<file>``: the product images a brand imported, and nothing else.

Only a file that one of the brand's products names is served: the name is checked against the
catalogue before the disk is touched, so neither a crafted path (``..``, an encoded slash) nor
another file left in the folder is ever sent. The type comes from the extension, which
``products import`` checked against the file's content.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, send_from_directory
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from app.catalog.brands import SLUG_RE
from app.catalog.images import FILE_RE, brand_folder
from app.catalog.models import Brand, Product
from app.core.db import db

bp = Blueprint("images", __name__)

# Images change under a new file name (the import names them), so a day of caching is safe.
_MAX_AGE = 86400


@bp.get("/assets/<brand>/<name>")
def product_image(brand: str, name: str) -> ResponseReturnValue:
    """Send the image ``name`` of one of ``brand``'s products; 404 for anything else."""
    if not SLUG_RE.match(brand) or not FILE_RE.match(name):
        abort(404)
    lists = db.session.scalars(
        select(Product.images).join(Brand).where(Brand.slug == brand,
                                                 Product.images.is_not(None))
    )
    if not any(image.get("file") == name for images in lists for image in images or ()):
        abort(404)
    response = send_from_directory(brand_folder(current_app.config, brand), name,
                                   max_age=_MAX_AGE)
    response.headers["Cache-Control"] = f"public, max-age={_MAX_AGE}"
    return response
