"""`insights export`: the cube's cells of a range of days as CSV an analyst can open safely."""

from __future__ import annotations

import csv
import io
from datetime import date

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from app.catalog.models import Brand
from app.catalog.service import get_or_create_brand, get_or_create_product
from app.insights.export import HEADER, safe_cell
from app.insights.models import CubeCell

GTIN = "03760123450003"


def _cells(db: Session) -> tuple[Brand, Brand]:
    aurelia = get_or_create_brand(db, "maison-aurelia", "Maison Aurelia")
    other = get_or_create_brand(db, "other-house", "Other House")
    bag = get_or_create_product(db, aurelia, GTIN, name="Bag", category="bag", attributes={})
    db.flush()
    cell = {"market": "", "country": "", "journey": "", "bucket": ""}
    db.add_all([
        CubeCell(brand_id=aurelia.id, metric="taps", day=date(2026, 11, 1), product_id=bag.id,
                 **{**cell, "market": "FR", "country": "DE", "bucket": "genuine"}, value=12),
        CubeCell(brand_id=aurelia.id, metric="items_d", day=date(2026, 11, 30), product_id=0,
                 **cell, value=3),
        # A channel name from a brand's import that a spreadsheet would run as a formula.
        CubeCell(brand_id=aurelia.id, metric="sold", day=date(2026, 11, 15), product_id=bag.id,
                 **{**cell, "bucket": "=HYPERLINK(\"http://x\")"}, value=1),
        CubeCell(brand_id=aurelia.id, metric="taps", day=date(2026, 10, 31), product_id=0,
                 **cell, value=99),  # the day before the range
        CubeCell(brand_id=aurelia.id, metric="taps", day=date(2026, 12, 1), product_id=0,
                 **cell, value=98),  # the day after
        CubeCell(brand_id=other.id, metric="taps", day=date(2026, 11, 2), product_id=0,
                 **cell, value=7),
    ])
    db.commit()
    return aurelia, other


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_export_writes_the_range_both_days_included(runner, db, tmp_path):
    _cells(db)
    out = tmp_path / "cube.csv"
    result = runner.invoke(args=["insights", "export", "--from", "2026-11-01",
                                 "--to", "2026-11-30", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = _read(out.read_text(encoding="utf-8"))
    assert tuple(rows[0]) == HEADER
    assert rows[1:] == [
        ["maison-aurelia", "items_d", "2026-11-30", "", "", "", "", "", "3"],
        ["maison-aurelia", "sold", "2026-11-15", GTIN, "", "", "", "'=HYPERLINK(\"http://x\")",
         "1"],
        ["maison-aurelia", "taps", "2026-11-01", GTIN, "FR", "DE", "", "genuine", "12"],
        ["other-house", "taps", "2026-11-02", "", "", "", "", "", "7"],
    ]
    assert "4 row(s) written" in result.output


def test_export_of_one_brand_to_standard_output(runner, db):
    _cells(db)
    result = runner.invoke(args=["insights", "export", "--from", "2026-11-02",
                                 "--to", "2026-11-02", "--brand", "other-house"])
    assert result.exit_code == 0, result.output
    assert _read(result.output)[1:] == [["other-house", "taps", "2026-11-02", "", "", "", "",
                                         "", "7"]]
    only_aurelia = runner.invoke(args=["insights", "export", "--from", "2026-11-01",
                                       "--to", "2026-11-30", "--brand", "maison-aurelia"])
    assert {row[0] for row in _read(only_aurelia.output)[1:]} == {"maison-aurelia"}


def test_bad_dates_and_brands_are_refused_and_write_nothing(runner, db, tmp_path):
    _cells(db)
    out = tmp_path / "cube.csv"
    cases = {
        ("--from", "2026-02-30", "--to", "2026-03-01"): (2, "not a day written YYYY-MM-DD"),
        ("--from", "30/11/2026", "--to", "2026-12-01"): (2, "not a day written YYYY-MM-DD"),
        ("--from", "2026-11-01", "--to", "2026-11-01T00:00"): (2, "YYYY-MM-DD"),
        ("--from", "2026-11-01\x00", "--to", "2026-11-02"): (2, "YYYY-MM-DD"),
        ("--from", "2026-12-01", "--to", "2026-11-01"): (1, "ends (2026-11-01) before it starts"),
        ("--from", "2026-11-01", "--to", "2026-11-30", "--brand", "nope"): (
            1, "no brand nope"),
    }
    for args, (code, words) in cases.items():
        result = runner.invoke(args=["insights", "export", *args, "--out", str(out)])
        assert result.exit_code == code, (args, result.output)
        assert words in result.output, (args, result.output)
        assert not out.exists(), args
    missing = runner.invoke(args=["insights", "export", "--from", "2026-11-01"])
    assert missing.exit_code == 2
    assert "--to" in missing.output


def test_an_empty_range_is_a_header_alone(runner, db):
    _cells(db)
    result = runner.invoke(args=["insights", "export", "--from", "2020-01-01",
                                 "--to", "2020-01-31"])
    assert result.exit_code == 0, result.output
    assert _read(result.output) == [list(HEADER)]


@given(st.text())
def test_no_cell_can_start_a_formula(value):
    cell = safe_cell(value)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    # Only the apostrophe is added, so the analyst reads the text as it was.
    assert cell in (value, "'" + value)
