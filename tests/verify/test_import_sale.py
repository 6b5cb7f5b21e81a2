"""The tag import's sale columns: ``sold_at`` (when the item was sold) and ``channel`` (who sold
it), from which activation is measured; bad values are refused per line and nothing is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.catalog.models import Item
from app.verify.service import ImportRejected, import_tags
from tests.factories import gtin, tagged_item

GTIN = gtin()


def row(serial: str, uid: str, **extra: str) -> dict[str, str]:
    return {"uid": uid, "gtin": GTIN, "serial": serial, "key_version": "test-2026",
            "product_name": "Tote", "category": "bag", **extra}


def sale_of(db, serial: str) -> tuple[datetime | None, str | None, bool | None]:  # type: ignore[no-untyped-def]
    item = db.scalars(select(Item).where(Item.serial == serial)).one()
    return item.sold_at, item.channel, item.released


def test_a_sale_day_or_moment_and_the_channel_are_stored_in_utc(db, keyring):
    brand = tagged_item(db).item.product.brand
    rows = [
        (2, row("D-1", "04A1B2C3D4E501", sold_at="2026-11-03", channel=" Le Bon Marché ")),
        (3, row("D-2", "04A1B2C3D4E502", sold_at="2026-11-03T18:30:00Z", channel="")),
        (4, row("D-3", "04A1B2C3D4E503", sold_at="2026-11-03T18:30:00+01:00")),
        (5, row("D-4", "04A1B2C3D4E504", sold_at="2026-11-03 07:00", sold="unknown")),
        (6, row("D-5", "04A1B2C3D4E505")),
    ]

    summary = import_tags(db, keyring, brand, rows)
    db.commit()

    assert summary.created == 5
    assert sale_of(db, "D-1") == (datetime(2026, 11, 3, tzinfo=UTC), "Le Bon Marché", True)
    assert sale_of(db, "D-2") == (datetime(2026, 11, 3, 18, 30, tzinfo=UTC), None, True)
    # An offset is honoured: 18:30 in Paris in winter is 17:30 UTC.
    assert sale_of(db, "D-3") == (datetime(2026, 11, 3, 17, 30, tzinfo=UTC), None, True)
    assert sale_of(db, "D-4") == (datetime(2026, 11, 3, 7, 0, tzinfo=UTC), None, None)
    assert sale_of(db, "D-5") == (None, None, True)


def test_a_channel_of_64_characters_fits_and_65_do_not(db, keyring):
    brand = tagged_item(db).item.product.brand
    import_tags(db, keyring, brand, [(2, row("C-1", "04A1B2C3D4E511", channel="c" * 64))])
    assert sale_of(db, "C-1")[1] == "c" * 64

    with pytest.raises(ImportRejected) as rejected:
        import_tags(db, keyring, brand, [(2, row("C-2", "04A1B2C3D4E512", channel="c" * 65))])

    assert rejected.value.problems == [(2, "channel must be at most 64 characters (got 65)")]


@pytest.mark.parametrize(("extra", "problem"), [
    ({"sold_at": "30/11/2026"},
     "sold_at '30/11/2026' must be an ISO date (2026-11-30) or date and time "
     "(2026-11-30T14:05:00Z)"),
    ({"sold_at": "2026-02-30"},
     "sold_at '2026-02-30' must be an ISO date (2026-11-30) or date and time "
     "(2026-11-30T14:05:00Z)"),
    ({"sold_at": "2026-11-03", "sold": "no"}, "sold_at '2026-11-03' is given but sold is no"),
    ({"channel": "Shop\x00"}, "channel holds a control character"),
    ({"channel": "Shop\nParis"}, "channel holds a control character"),
])
def test_a_bad_sale_is_refused_with_its_line(db, keyring, extra, problem):
    brand = tagged_item(db).item.product.brand
    rows = [(2, row("B-1", "04A1B2C3D4E521", sold_at="2026-11-01")),
            (3, row("B-2", "04A1B2C3D4E522", **extra))]

    with pytest.raises(ImportRejected) as rejected:
        import_tags(db, keyring, brand, rows)

    assert rejected.value.problems == [(3, problem)]


def test_a_sale_in_the_future_is_refused(db, keyring):
    brand = tagged_item(db).item.product.brand
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()

    with pytest.raises(ImportRejected) as rejected:
        import_tags(db, keyring, brand, [(2, row("F-1", "04A1B2C3D4E531", sold_at=tomorrow))])

    assert rejected.value.problems == [(2, f"sold_at {tomorrow!r} is in the future")]


def test_the_command_takes_the_sale_columns_and_imports_nothing_from_a_bad_file(
        runner, db, tmp_path: Path):  # type: ignore[no-untyped-def]
    tagged_item(db)
    g = gtin()
    csv = tmp_path / "tags.csv"
    csv.write_text("uid,gtin,serial,key_version,product_name,category,sold,sold_at,channel\n"
                   f"04A1B2C3D4E541,{g},CLI-1,test-2026,Tote,bag,yes,2026-10-01,Boutique Paris\n")

    result = runner.invoke(args=["tags", "import", "--brand", "maison-aurelia", str(csv)])

    assert result.exit_code == 0, result.output
    assert sale_of(db, "CLI-1") == (datetime(2026, 10, 1, tzinfo=UTC), "Boutique Paris", True)
    bad = tmp_path / "bad.csv"
    bad.write_text("uid,gtin,serial,key_version,sold,sold_at\n"
                   f"04A1B2C3D4E542,{g},CLI-2,test-2026,no,2026-10-01\n")
    result = runner.invoke(args=["tags", "import", str(bad)])
    assert result.exit_code == 1
    assert "bad.csv:2: sold_at '2026-10-01' is given but sold is no" in result.output
    assert db.scalar(select(func.count()).select_from(Item).where(Item.serial == "CLI-2")) == 0
