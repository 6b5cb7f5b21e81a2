"""``brands create|list`` and which brand an import is for."""

from __future__ import annotations

import pytest

from app.catalog.brands import BrandInput, brand_for_import, create_brand, list_brands
from app.core.errors import Conflict, DomainError, NotFound
from tests.factories import tagged_item


@pytest.mark.parametrize(("args", "message"), [
    (["Nord"], "slug 'Nord' must be 2 to 64 lowercase"),
    (["nord--wand"], "slug 'nord--wand' must be"),
    (["n"], "slug 'n' must be"),
    (["nordwand", "--name", " "], "name must be 1 to 200 characters on one line"),
    (["nordwand", "--name", "Nord\x00wand"], "name must be 1 to 200 characters on one line"),
    (["nordwand", "--timezone", "Mars/Olympus"], "time zone 'Mars/Olympus' is not an IANA"),
    (["nordwand", "--timezone", "../../etc/passwd"], "is not an IANA time zone"),
    (["nordwand", "--locale", "english"], "locale 'english' must be a language code"),
    (["nordwand", "--locale", "fr-QQ"], "locale 'fr-QQ' must be"),
    (["nordwand", "--market", "XX"], "market 'XX' must be an ISO 3166"),
    (["nordwand", "--market", "ch"], "market 'ch' must be an ISO 3166"),
])
def test_create_refuses_bad_values_in_one_line(runner, db, args, message):
    if "--name" not in args:
        args = [*args, "--name", "Nordwand"]
    result = runner.invoke(args=["brands", "create", *args])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: {result.output.strip()[7:]}"]
    assert message in result.output
    assert list_brands(db) == []


def test_create_and_list(runner, db):
    result = runner.invoke(args=["brands", "create", "nordwand", "--name", "Nordwand",
                                 "--timezone", "Europe/Zurich", "--locale", "fr-CH",
                                 "--market", "CH"])
    assert result.exit_code == 0, result.output
    again = runner.invoke(args=["brands", "create", "nordwand", "--name", "Other"])
    assert again.exit_code == 1 and "brand 'nordwand' exists already" in again.output
    (brand,) = list_brands(db)
    assert (brand.slug, brand.name, brand.timezone, brand.locale, brand.market,
            brand.products) == ("nordwand", "Nordwand", "Europe/Zurich", "fr-CH", "CH", 0)


def test_list_says_how_to_start(runner):
    assert "no brand yet" in runner.invoke(args=["brands", "list"]).output


def test_existing_slug_is_a_conflict(db):
    create_brand(db, BrandInput("nordwand", "Nordwand"))
    with pytest.raises(Conflict):
        create_brand(db, BrandInput("nordwand", "Again"))


def test_brand_for_import(db):
    demo = tagged_item(db, brand="maison-aurelia").item.product
    other = tagged_item(db, brand="nordwand").item.product
    with pytest.raises(NotFound, match="no brand 'nope'; create it first"):
        brand_for_import(db, "nope", [])
    assert brand_for_import(db, "nordwand", [demo.gtin]).slug == "nordwand"
    # Without a slug: only when every product is already one brand's.
    assert brand_for_import(db, None, [other.gtin]).slug == "nordwand"
    with pytest.raises(DomainError, match=r"give --brand SLUG \(the file names no product\)"):
        brand_for_import(db, None, [])
    for gtins in ([other.gtin, demo.gtin], [other.gtin, "07612345000015"]):
        with pytest.raises(DomainError, match="give --brand SLUG: the file names products"):
            brand_for_import(db, None, gtins)
