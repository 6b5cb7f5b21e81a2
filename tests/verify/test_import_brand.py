"""``tags import`` never guesses the brand: --brand unless the file's products are already one
brand's, and never another brand's GTIN."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from app.catalog.brands import BrandInput, create_brand
from app.verify.models import Tag
from tests.factories import gtin, tagged_item

HEADER = "uid,gtin,serial,key_version,product_name,category"


def _csv(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "tags.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return str(path)


def _tags(db) -> int:  # type: ignore[no-untyped-def]
    return db.scalar(select(func.count()).select_from(Tag))


def test_new_products_need_the_brand_even_when_only_the_demo_exists(runner, db, tmp_path):
    tagged_item(db, brand="maison-aurelia")
    before = _tags(db)
    path = _csv(tmp_path, f"04AABBCCDDEE01,{gtin()},P-1,test-2026,Parka,parka")
    result = runner.invoke(args=["tags", "import", path])
    assert result.exit_code == 1 and "give --brand SLUG" in result.output
    result = runner.invoke(args=["tags", "import", "--brand", "nordwand", path])
    assert result.exit_code == 1 and "no brand 'nordwand'; create it first" in result.output
    assert _tags(db) == before


def test_another_brand_s_gtin_is_refused(runner, db, tmp_path):
    theirs = tagged_item(db, brand="maison-aurelia").item.product.gtin
    create_brand(db, BrandInput("nordwand", "Nordwand"))
    db.commit()
    before = _tags(db)
    path = _csv(tmp_path, f"04AABBCCDDEE02,{theirs},P-2,test-2026,,")
    result = runner.invoke(args=["tags", "import", "--brand", "nordwand", path])
    assert result.exit_code == 1
    assert f"{path}:2: GTIN {theirs} already belongs to another brand." in result.output
    assert _tags(db) == before


def test_the_brand_is_known_when_every_product_is_its_own(runner, db, tmp_path):
    ours = tagged_item(db, brand="nordwand").item.product.gtin
    tagged_item(db, brand="maison-aurelia")
    path = _csv(tmp_path, f"04AABBCCDDEE03,{ours},P-3,test-2026,,")
    result = runner.invoke(args=["tags", "import", path])
    assert result.exit_code == 0, result.output
    assert "1 tag(s) registered" in result.output


def test_a_control_character_is_a_line_not_a_database_error(runner, db, tmp_path):
    create_brand(db, BrandInput("nordwand", "Nordwand"))
    db.commit()
    path = _csv(tmp_path, f"04AABBCCDDEE04,{gtin()},P-4,test-2026,Par\x00ka,parka")
    result = runner.invoke(args=["tags", "import", "--brand", "nordwand", path])
    assert result.exit_code == 1
    assert f"{path}:2: product_name holds a control character" in result.output
