"""``journeys validate`` against the brand's catalogue: a category or GTIN that no product has
is an error with the closest real one; without products or without a database it says what it
did not check."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from app import create_app
from tests.factories import tagged_item

HEAD = "brand: maison-aurelia\njourneys:\n"


def _file(tmp_path: Path, when: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(HEAD + "  - id: j\n    priority: 1\n    when:\n"
                    f"      {when}\n    experience: care\n"
                    "  - {id: rest, priority: 0, experience: care}\n")
    return path


@pytest.fixture
def validate(app, db):  # type: ignore[no-untyped-def]
    tagged_item(db, category="whisky", product_gtin="03760123450027")
    tagged_item(db, category="serum", product_gtin="03760123450010")
    runner = app.test_cli_runner()

    def run(path: Path):  # type: ignore[no-untyped-def]
        return runner.invoke(args=["journeys", "validate", str(path)])

    return run


def test_a_category_no_product_has_is_an_error_with_the_real_one(validate, tmp_path):
    path = _file(tmp_path, "product.category: Whisky")
    result = validate(path)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"{path}:6:7: product.category 'Whisky': no product of maison-aurelia has this "
        "category; did you mean 'whisky'?")


def test_every_value_of_a_list_is_checked(validate, tmp_path):
    result = validate(_file(tmp_path, "product.category: {in: [serum, serums, parfum]}"))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("product.category 'serums': no product of maison-aurelia has this "
                             "category; did you mean 'serum'?")
    assert lines[1].endswith("product.category 'parfum': no product of maison-aurelia has this "
                             "category; its categories are 'serum', 'whisky'")


def test_gtins_too(validate, tmp_path):
    result = validate(_file(tmp_path, "product.gtin: '03760123450028'"))
    assert result.exit_code == 1
    assert result.output.strip().endswith(
        "product.gtin '03760123450028': no product of maison-aurelia has this GTIN; "
        "did you mean '03760123450027'?")


def test_real_values_pass(validate, tmp_path):
    result = validate(_file(tmp_path, "product.category: {in: [serum, whisky]}"))
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("r.yaml: ok (2 journeys, 0 tests)")


def test_a_brand_without_products_is_not_checked_and_says_so(app, db, tmp_path):
    from tests.factories import get_or_create_brand

    get_or_create_brand(db, "maison-aurelia", "Maison Aurelia")
    db.commit()
    result = app.test_cli_runner().invoke(
        args=["journeys", "validate", str(_file(tmp_path, "product.category: Whisky"))])
    assert result.exit_code == 0, result.output
    assert ("(maison-aurelia has no products yet: product categories and GTINs not checked)"
            in result.output)


def test_without_a_database_it_says_what_it_did_not_check(settings, tmp_path):
    with click.Context(click.Command("flask")):
        app = create_app({**settings, "DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"})
    result = app.test_cli_runner().invoke(
        args=["journeys", "validate", str(_file(tmp_path, "product.category: Whisky"))])
    assert result.exit_code == 0, result.output
    assert ("(product categories and GTINs not checked either: they come from the database)"
            in result.output)
    assert not (tmp_path / "none.db").exists()
