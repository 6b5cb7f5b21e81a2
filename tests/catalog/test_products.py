"""``products import``: every problem by line, nothing half-imported, the same file twice
changes nothing, and another brand's GTIN is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from app.catalog.brands import BrandInput, create_brand
from app.catalog.images import MAX_BYTES
from app.catalog.models import Product
from app.catalog.products import (
    ProductsRejected,
    ProductsSummary,
    import_products,
    read_products_file,
)
from app.catalog.views import item_view
from tests.factories import gtin, tagged_item

HEADER = "gtin,name,category,warranty_months,made_in,material,attr:fill,care,owner_content,images"


@pytest.fixture
def assets(tmp_path: Path) -> Path:
    folder = tmp_path / "assets" / "nordwand"
    folder.mkdir(parents=True)
    Image.new("RGB", (40, 30), "red").save(folder / "ok.jpg", "JPEG")
    Image.new("RGB", (40, 30), "red").save(folder / "png-inside.jpg", "PNG")
    Image.new("RGB", (1700, 10), "red").save(folder / "wide.png", "PNG")
    (folder / "huge.jpg").write_bytes(b"\xff" * (MAX_BYTES + 1))
    (folder / "text.webp").write_text("not an image")
    return tmp_path / "assets"


@pytest.fixture
def brand(db):  # type: ignore[no-untyped-def]
    brand = create_brand(db, BrandInput("nordwand", "Nordwand"))
    db.commit()
    return brand


def _csv(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "products.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def _import(db, brand, assets, path):  # type: ignore[no-untyped-def]
    return import_products(db, {"ASSETS_DIR": str(assets)}, brand, read_products_file(path))


def _problems(db, brand, assets, path) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    with pytest.raises(ProductsRejected) as exc:
        _import(db, brand, assets, path)
    db.rollback()
    return exc.value.problems


def test_import_then_the_same_file_again_changes_nothing(db, brand, assets, tmp_path):
    g = gtin()
    path = _csv(tmp_path, f'{g},Eiger Parka,parka,36,"Lucerne, CH",Nylon,800-fill,'
                          f'"Wash **cold**.\n\n- Line two",Owners only,ok.jpg')
    assert _import(db, brand, assets, path) == ProductsSummary(1, 0, 0)
    db.commit()
    assert _import(db, brand, assets, path) == ProductsSummary(0, 0, 1)
    product = db.scalar(select(Product).where(Product.gtin == g))
    assert product.attributes == {"made_in": "Lucerne, CH", "material": "Nylon",
                                  "fill": "800-fill", "warranty_months": 36}
    assert product.provenance_attributes == ["made_in", "material", "fill"]
    assert product.care_text == "Wash **cold**.\n\n- Line two"
    assert product.images == [{"file": "ok.jpg", "width": 40, "height": 30}]
    # A changed file updates the product: the file is its whole description.
    _csv(tmp_path, f"{g},Eiger Parka II,parka,,,,,,,")
    assert _import(db, brand, assets, path) == ProductsSummary(0, 1, 0)
    db.commit()
    db.refresh(product)
    assert (product.name, product.attributes, product.care_text, product.images) == (
        "Eiger Parka II", {}, None, None)


def test_json_file(db, brand, assets, tmp_path):
    g = gtin()
    path = tmp_path / "products.json"
    path.write_text(json.dumps([{"gtin": g, "name": "Beanie", "category": "beanie",
                                 "warranty_months": 12, "images": ["ok.jpg"],
                                 "attributes": {"yarn": "merino", "gauge": 12}}], indent=1))
    assert _import(db, brand, assets, path) == ProductsSummary(1, 0, 0)
    product = db.scalar(select(Product).where(Product.gtin == g))
    assert product.attributes == {"yarn": "merino", "gauge": "12", "warranty_months": 12}


def test_every_problem_is_reported_by_line_and_nothing_is_imported(db, brand, assets, tmp_path):
    good, other_brand = gtin(), tagged_item(db, brand="maison-aurelia").item.product.gtin
    path = _csv(
        tmp_path,
        f"{good},Fine,parka,,,,,,,",                                   # 2: fine
        "12345,Bad GTIN,parka,,,,,,,",                                 # 3
        f"{gtin()},,Parka!,x,,,,,,",                                    # 4
        f"{good},Twice,parka,,,,,,,",                                   # 5
        f"{other_brand},Theirs,bag,,,,,,,",                             # 6
        f"{gtin()},Nul\x00,parka,241,,,,,,",                            # 7
        f'{gtin()},Images,parka,,,,,,,"../x.jpg|a.gif|missing.jpg|huge.jpg|text.webp|'
        'png-inside.jpg|wide.png"',                                     # 8
        f"{gtin()},Short,parka",                                        # 9
        f'{gtin()},Care,parka,,,,,"{"x" * 20_001}",,',                  # 10
        f"{gtin()},{'n' * 201},parka,,,,,,,",                           # 11
    )
    problems = _problems(db, brand, assets, path)
    text = "\n".join(f"{line}: {message}" for line, message in problems)
    for expected in (
        "3: GTIN '12345' must be 8, 12, 13 or 14 digits.",
        "4: name is missing",
        "4: category 'Parka!' must be a lowercase noun",
        "4: warranty_months 'x' must be whole months from 0 to 240",
        "5: GTIN " + good + " is also on line 2",
        "6: GTIN " + other_brand + " belongs to another brand",
        "7: name holds a control character",
        "7: warranty_months 241 must be",
        "8: image '../x.jpg' must be a file name only",
        "8: image 'a.gif' must be .jpg, .jpeg, .png or .webp",
        "8: image 'missing.jpg' is not in",
        "8: image 'huge.jpg' is 600 KB; keep tap-page images under 600 KB",
        "8: image 'text.webp' is not a readable image",
        "8: image 'png-inside.jpg' holds PNG, not what its extension says (JPEG)",
        "8: image 'wide.png' is 1700x10 px; resize it",
        "9: has 3 cells; the header has 10",
        "10: care is 20001 characters; at most 20000",
        "11: name is 201 characters; at most 200",
    ):
        assert expected in text, expected
    assert db.scalar(select(Product).where(Product.gtin == good)) is None


def test_too_many_images_and_bad_attribute_names(db, brand, assets, tmp_path):
    path = tmp_path / "products.json"
    products = [
        {"gtin": gtin(), "name": "A", "category": "parka", "images": ["ok.jpg"] * 9},
        {"gtin": gtin(), "name": "B", "category": "parka", "images": "ok.jpg",
         "attributes": {"Bad Name": "x", "serial": "x"}},
        {"gtin": gtin(), "name": "C", "category": "parka", "attributes": ["x"], "colour": "red"},
        {"gtin": 7612345000015, "name": 3, "category": "parka"},
        ["not", "an", "object"],
    ]
    # One product per line, from line 2.
    path.write_text("[\n" + ",\n".join(json.dumps(p) for p in products) + "\n]\n")
    problems = _problems(db, brand, assets, path)
    assert problems == [
        (2, "9 images; at most 8"),
        (3, "attribute name 'Bad Name' must be lowercase letters, digits and _ (up to 40), "
            "and not a product field"),
        (3, "attribute name 'serial' must be lowercase letters, digits and _ (up to 40), "
            "and not a product field"),
        (3, "images must be a list of file names"),
        (4, "unknown field(s) colour"),
        (4, "attributes must be an object of name: text"),
        (5, "gtin must be text (in quotes: a number loses its leading zeros)"),
        (5, "name must be text"),
        (6, "each product must be a JSON object {...}"),
    ]


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("p.txt", "gtin", (1, "the file must be .csv or .json")),
    ("p.csv", "", (1, "the header lacks gtin, name, category")),
    ("p.csv", "gtin,name,category,colour,name", (1, "unknown column(s) colour")),
    ("p.csv", "gtin,name,category,name", (1, "column(s) name appear twice")),
    ("p.csv", "gtin,name,category\n" + "x" * 200_000, (2, "not valid CSV")),
    ("p.csv", "gtin,name,category\n", (1, "the file holds no product")),
    ("p.json", '{"gtin": "1"}', (1, "the file must be a JSON list")),
    ("p.json", '[\n{"gtin": }]', (2, "not valid JSON")),
    ("p.json", '[{"gtin": "1"} {"x": 1}]', (1, "not valid JSON (expected ',' or ']')")),
    ("p.json", '[]\n[]', (2, "not valid JSON (extra data after the list)")),
])
def test_unreadable_files(db, brand, assets, tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content)
    line, message = _problems(db, brand, assets, path)[0]
    assert line == expected[0] and message.startswith(expected[1]), (line, message)


def test_not_utf8(db, brand, assets, tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(b"gtin,name,category\n1,caf\xe9,bag\n")
    assert _problems(db, brand, assets, path) == [(2, "the file is not UTF-8 text")]


def test_cli_reports_file_line_and_rolls_back(runner, db, brand, tmp_path):
    path = _csv(tmp_path, f"{gtin()},Fine,parka,,,,,,,", "1,Bad,parka,,,,,,,")
    result = runner.invoke(args=["products", "import", "--brand", "nordwand", str(path)])
    assert result.exit_code == 1
    assert f"{path}:3: GTIN '1' must be" in result.output
    assert "nothing imported: 1 problem(s)" in result.output
    assert db.scalar(select(Product.id)) is None
    # Without --brand, new products cannot say whose they are.
    result = runner.invoke(args=["products", "import", str(_csv(tmp_path, f"{gtin()},A,b,,,,,,,"))])
    assert result.exit_code == 1 and "give --brand SLUG" in result.output


def test_provenance_attributes_are_what_the_item_card_lists(db, brand, assets, tmp_path):
    g = gtin()
    _import(db, brand, assets, _csv(tmp_path, f"{g},Parka,parka,24,Bern,,Down,,,"))
    db.commit()
    tag = tagged_item(db, brand="nordwand", product_gtin=g)
    assert item_view(tag.item).product.provenance() == [("made_in", "Bern"), ("fill", "Down")]


def test_plural_products_say_so_and_anything_but_true_or_false_is_refused(
    db, brand, assets, tmp_path
):
    path = tmp_path / "products.json"
    pair, bag, odd = gtin(), gtin(), gtin()
    path.write_text(json.dumps([
        {"gtin": pair, "name": "Trail Runner", "category": "trail shoes", "plural": True},
        {"gtin": bag, "name": "Summit Pack", "category": "backpack"},
    ]), encoding="utf-8")
    _import(db, brand, assets, path)
    db.commit()
    products = {p.gtin: p for p in db.scalars(select(Product))}
    # Pages read it through app.core.wording.is_plural: "Are these trail shoes yours?"
    assert products[pair].attributes.get("plural") is True
    assert "plural" not in products[bag].attributes
    # Not a provenance attribute: never shown on the item card or signed.
    assert "plural" not in (products[pair].provenance_attributes or [])

    path.write_text(json.dumps([
        {"gtin": odd, "name": "Odd", "category": "sock", "plural": "several"},
    ]), encoding="utf-8")
    assert _problems(db, brand, assets, path) == [(1, "plural 'several' must be true or false")]
