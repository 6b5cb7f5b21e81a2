"""The cube as CSV, for a brand's analysts: one line per cell of ``insight_cube`` in a range of
days, with the brand's slug and the product's GTIN instead of ids (``insights export``).

What each metric's columns hold: ``app.insights.metrics``. Text cells that a spreadsheet would
run as a formula (starting ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) are written
with a leading apostrophe, so a channel or journey name from a brand's import can never become a
formula on the analyst's machine (OWASP, "CSV injection").
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import date
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.models import Brand, Product
from app.core.errors import N_, DomainError, NotFound
from app.insights.models import CubeCell

HEADER = ("brand", "metric", "day", "product_gtin", "market", "country", "journey", "bucket",
          "value")
# One cell: brand slug, metric, day, product GTIN, market, country, journey, bucket, value.
CubeRow = tuple[str, str, date, str, str, str, str, str, int]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Rows fetched from the database at a time: a year of a large brand is millions of cells.
_CHUNK = 5000


class InvalidRange(DomainError):
    """The range of days is not a range (its end is before its start)."""

    code = "invalid_range"


def safe_cell(text: str) -> str:
    """Return ``text`` as a spreadsheet shows it, never as a formula it would run."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def cube_rows(
    session: Session, start: date, end: date, brand: str | None = None
) -> Iterator[CubeRow]:
    """Yield the cube's cells with ``start <= day <= end`` (of one brand, by slug, or all), as
    ``HEADER`` says, ordered by brand, metric, day and the other columns. Product 0 ("none" or
    "all products", per metric) has an empty GTIN.

    Raises:
        InvalidRange: ``end`` is before ``start``.
        NotFound: no brand has the slug ``brand``.
    """
    if end < start:
        raise InvalidRange(N_("The range ends (%(end)s) before it starts (%(start)s)."),
                           start=start.isoformat(), end=end.isoformat())
    query = (
        select(Brand.slug, CubeCell.metric, CubeCell.day, Product.gtin, CubeCell.market,
               CubeCell.country, CubeCell.journey, CubeCell.bucket, CubeCell.value)
        .join(Brand, Brand.id == CubeCell.brand_id)
        .outerjoin(Product, Product.id == CubeCell.product_id)
        .where(CubeCell.day >= start, CubeCell.day <= end)
        .order_by(Brand.slug, CubeCell.metric, CubeCell.day, CubeCell.product_id,
                  CubeCell.market, CubeCell.country, CubeCell.journey, CubeCell.bucket)
    )
    if brand is not None:
        brand_id = session.scalar(select(Brand.id).where(Brand.slug == brand))
        if brand_id is None:
            raise NotFound(N_("There is no brand %(brand)s."), brand=brand)
        query = query.where(CubeCell.brand_id == brand_id)
    result = session.execute(query.execution_options(yield_per=_CHUNK))
    for row in result:
        yield (row.slug, row.metric, row.day, row.gtin or "", row.market, row.country,
               row.journey, row.bucket, int(row.value))


def write_csv(rows: Iterable[CubeRow], out: TextIO) -> int:
    """Write ``HEADER`` then ``rows`` to ``out`` as CSV (text cells made formula-safe); return
    how many rows were written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    count = 0
    for slug, metric, day, gtin, market, country, journey, bucket, value in rows:
        writer.writerow([safe_cell(slug), safe_cell(metric), day.isoformat(), safe_cell(gtin),
                         safe_cell(market), safe_cell(country), safe_cell(journey),
                         safe_cell(bucket), value])
        count += 1
    return count
