"""``tags import``, ``tags tap``, ``sun inspect`` as a brand engineer uses them."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from app.catalog.models import Item, Product
from app.verify.models import Tag
from app.verify.service import ImportRejected, import_tags
from app.verify.sun import parse_query, verify_any
from tests.factories import gtin, tagged_item

HEADER = "uid,gtin,serial,key_version,market,product_name,category\n"


def write(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "tags.csv"
    path.write_text(header + body)
    return path


def count(db, model) -> int:  # type: ignore[no-untyped-def]
    return db.scalar(select(func.count()).select_from(model))


def test_import_creates_products_items_tags_and_is_idempotent(runner, db, tmp_path):
    tagged_item(db)  # the brand exists; new products name it with --brand
    g1, g2 = gtin(), gtin()
    csv = write(tmp_path, (
        f"04A1B2C3D4E5F6,{g1},A-1,test-2026,FR,Tote,bag\n"
        f"04a1b2c3d4e5f7,{g1},A-2,test-2026,FR,,\n"
        f"04A1B2C3D4E5F8,{g2[1:]},B-1,tamper-2026,,Serum,serum\n"  # GTIN-13 accepted
    ))
    result = runner.invoke(args=["tags", "import", "--brand", "maison-aurelia", str(csv)])
    assert result.exit_code == 0, result.output
    assert "3 tag(s) registered, 0 already registered, 2 product(s) created" in result.output
    assert db.scalar(select(Tag.key_version).where(Tag.uid == "04A1B2C3D4E5F7")) == "test-2026"
    again = runner.invoke(args=["tags", "import", "--brand", "maison-aurelia", str(csv)])
    assert again.exit_code == 0, again.output
    assert "0 tag(s) registered, 3 already registered" in again.output
    assert count(db, Tag) == 4


def test_bad_rows_reported_by_line_and_nothing_imported(runner, db, tmp_path):
    tagged_item(db)
    before = (count(db, Tag), count(db, Item), count(db, Product))
    g = gtin()
    bad_check = g[:-1] + str((int(g[-1]) + 1) % 10)
    csv = write(tmp_path, (
        f"04A1B2C3D4E5F6,{g},OK-1,test-2026,FR,Tote,bag\n"           # line 2: fine
        f"04A1B2C3D4E5,{g},OK-2,test-2026,FR,,\n"                   # line 3: short uid
        f"04A1B2C3D4E5F9,{bad_check},X-1,test-2026,FR,Tote,bag\n"   # line 4: check digit
        f"04A1B2C3D4E5FA,{g},X-2,nope-2026,FR,,\n"                  # line 5: unknown key version
        f"04A1B2C3D4E5FB,{gtin()},X-3,test-2026,FR,,\n"             # line 6: new GTIN, no name
        f"04A1B2C3D4E5F6,{g},OK-3,test-2026,FR,,\n"                 # line 7: uid repeated
        f"04A1B2C3D4E5FC,{g},bad serial!,test-2026,FR,,\n"          # line 8: serial
    ))
    result = runner.invoke(args=["tags", "import", "--brand", "maison-aurelia", str(csv)])
    assert result.exit_code == 1
    out = result.output
    assert "tags.csv:3: uid '04A1B2C3D4E5' must be 7 bytes" in out
    assert "tags.csv:4: GTIN" in out and "wrong check digit" in out
    assert "tags.csv:5: key version 'nope-2026' is not in the keys file" in out
    assert "tags.csv:6:" in out and "give product_name and category" in out
    assert "tags.csv:7: uid 04A1B2C3D4E5F6 is also on line 2" in out
    assert "tags.csv:8: serial" in out
    assert "nothing imported: 6 bad row(s)" in out
    assert (count(db, Tag), count(db, Item), count(db, Product)) == before


def test_header_must_name_the_columns(runner, db, tmp_path):
    tagged_item(db)
    csv = write(tmp_path, "04A1B2C3D4E5F6,x\n", header="uid,gtin_code\n")
    result = runner.invoke(args=["tags", "import", "--brand", "maison-aurelia", str(csv)])
    assert result.exit_code == 1
    assert "line 1: header must have uid, gtin, serial, key_version" in result.output
    assert "missing gtin, serial, key_version" in result.output


def test_uid_already_on_another_item_is_refused(db, keyring):
    tag = tagged_item(db)
    brand = tag.item.product.brand
    rows = [(2, {"uid": tag.uid, "gtin": tag.item.product.gtin, "serial": "OTHER",
                 "key_version": "test-2026"})]
    try:
        import_tags(db, keyring, brand, rows)
    except ImportRejected as exc:
        assert exc.problems == [(2, f"uid {tag.uid} is already registered to another item")]
    else:
        raise AssertionError("import should have been rejected")


def test_tags_tap_prints_fresh_valid_urls_with_rising_counters(runner, db, keyring):
    tag = tagged_item(db)
    urls = []
    for mode in ("aes", "lrp", "plain"):
        result = runner.invoke(args=["tags", "tap", tag.item.serial, "--mode", mode])
        assert result.exit_code == 0, result.output
        urls.append(result.output.strip())
    counters = []
    for url in urls:
        assert url.startswith(
            f"http://localhost/01/{tag.item.product.gtin}/21/{tag.item.serial}?"
        )
        result = verify_any(parse_query(url.split("?", 1)[1]), keyring.values())
        assert result is not None and result.uid_hex == tag.uid
        counters.append(result.counter)
    assert counters == [1, 2, 3]


def test_tags_tap_refuses_unknown_serial_and_non_simulating_keys(runner, db, tmp_path):
    result = runner.invoke(args=["tags", "tap", "NOPE"])
    assert result.exit_code == 1
    assert "no tagged item has serial 'NOPE'" in result.output


def test_sun_inspect_reports_json_without_a_database(
    tmp_path, keys_file, provenance_key_file, db, keyring, monkeypatch
):
    from app import create_app

    tag = tagged_item(db)
    from app.verify.service import mint_tap_url

    url = mint_tap_url(db, keyring, tag, "https://brand.example", mode="lrp")
    db.commit()
    # An unreachable database: inspect must not need one.
    offline = create_app({
        "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
        "SECRET_KEY": "s" * 40, "KEYS_FILE": str(keys_file),
        "PROVENANCE_KEY_FILE": str(provenance_key_file),
    })
    result = offline.test_cli_runner().invoke(args=["sun", "inspect", url])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["valid"] is True
    assert body["uid"] == tag.uid
    assert body["counter"] == 1
    assert body["mode"] == "lrp"
    assert body["key_version"] == "test-2026"
    forged = url[:-1] + ("1" if url[-1] == "0" else "0")
    bad = offline.test_cli_runner().invoke(args=["sun", "inspect", forged])
    assert bad.exit_code == 1
    assert json.loads(bad.output)["valid"] is False


def test_import_sale_state_column(runner, db, tmp_path):
    tagged_item(db)
    g = gtin()
    header = "uid,gtin,serial,key_version,product_name,category,sold\n"
    csv = write(tmp_path, (
        f"04A1B2C3D4E5E1,{g},S-1,test-2026,Tote,bag,yes\n"
        f"04A1B2C3D4E5E2,{g},S-2,test-2026,,,no\n"
        f"04A1B2C3D4E5E3,{g},S-3,test-2026,,,unknown\n"
        f"04A1B2C3D4E5E4,{g},S-4,test-2026,,,\n"
    ), header=header)
    result = runner.invoke(args=["tags", "import", "--brand", "maison-aurelia", str(csv)])
    assert result.exit_code == 0, result.output
    rows = db.execute(select(Item.serial, Item.released).where(Item.serial.like("S-%")))
    released = {serial: sold for serial, sold in rows}
    assert released == {"S-1": True, "S-2": False, "S-3": None, "S-4": True}

    bad = write(tmp_path, f"04A1B2C3D4E5E5,{g},S-5,test-2026,,,maybe\n", header=header)
    result = runner.invoke(args=["tags", "import", str(bad)])
    assert result.exit_code == 1
    assert "tags.csv:2: sold 'maybe' must be yes, no or unknown" in result.output
