"""``products:``: care guidance and owner-only content per product category or GTIN.

::

    products:
      watch:                      # a category the brand's products have
        care: {heading: ..., body: ..., media: {image: ..., alt: ...}}
        owner_content: {heading: ..., body: ..., media: {video: film.mp4, alt: ...}}
      "03760123450041":           # one product (its GTIN): wins over its category
        care: {body: ...}

Texts are checked as a journey's content is (``checks.content``): every locale, safe Markdown,
file names. That a category or GTIN exists is the catalogue's to say (``journeys validate``,
``app.rules.tools.catalogue_problems``); that a file exists, the brand's assets'
(``app.catalog.themes.look_problems``).
"""

from __future__ import annotations

from yaml.nodes import ScalarNode

from app.journeys.language.checks.content import check_product_content
from app.journeys.language.checks.shapes import entries, mapping
from app.journeys.language.context import Context
from app.journeys.language.syntax import ProductWordsDoc
from app.journeys.language.words import GTIN_KEY_RE, PRODUCT_WORDS_FIELDS
from app.journeys.language.yamlnodes import Entry, is_null, show


def check_products(ctx: Context, entry: Entry | None) -> tuple[ProductWordsDoc, ...]:
    """Return each ``products:`` entry (a category, or a GTIN as 14 digits), in file order."""
    if entry is None or is_null(entry.node):
        return ()
    if not mapping(ctx, entry.node, None, "products",
                   "a category or GTIN, each with care and owner_content"):
        return ()
    out: list[ProductWordsDoc] = []
    seen: dict[str, int] = {}
    for key, item in entries(ctx, entry.node, "products", None, what="category or GTIN").items():
        key_node = item.key_node
        if not isinstance(key_node, ScalarNode) or not key.strip():
            ctx.problem(key_node, f"products: {show(key_node)} is not a category or a GTIN")
            continue
        kind = "gtin" if GTIN_KEY_RE.fullmatch(key) else "category"
        name = key.zfill(14) if kind == "gtin" else key
        label = f"products: {'GTIN' if kind == 'gtin' else 'category'} '{key}'"
        if name in seen:
            ctx.problem(key_node, f"{label} is given twice (first on line {seen[name]})")
            continue
        seen[name] = key_node.start_mark.line + 1
        if not mapping(ctx, item.node, label, key, "care and owner_content"):
            continue
        fields = entries(ctx, item.node, label, PRODUCT_WORDS_FIELDS)
        if not fields:
            ctx.problem(item.node, f"{label} needs 'care' or 'owner_content'")
            continue
        out.append(ProductWordsDoc(
            key=name, kind=kind,
            care=check_product_content(ctx, fields.get("care"), label),
            owner_content=check_product_content(ctx, fields.get("owner_content"), label),
            line=key_node.start_mark.line + 1, column=key_node.start_mark.column + 1))
    return tuple(out)
