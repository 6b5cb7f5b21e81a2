"""``products import`` carries care text and owner-only content per language (``care:fr``,
JSON ``{"en": ..., "fr": ...}``) and labels for attributes (``label:<name>:<locale>``); a bad
language code or a label for an attribute the product does not show is refused by line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from app.catalog.brands import BrandInput, create_brand
from app.catalog.models import Product
from app.catalog.products import ProductsRejected, import_products, read_products_file

GTIN = "03760123450027"


@pytest.fixture
def brand(db):  # type: ignore[no-untyped-def]
    brand = create_brand(db, BrandInput("nordwand", "Nordwand"))
    db.commit()
    return brand


def _import(db, brand, tmp_path: Path, name: str, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return import_products(db, {"ASSETS_DIR": str(tmp_path / "assets")}, brand,
                           read_products_file(path))


def test_csv_columns_per_language_and_attribute_labels(db, brand, tmp_path):
    _import(db, brand, tmp_path, "p.csv",
            "gtin,name,category,attr:cask,label:cask,label:cask:fr,care,care:fr,"
            "owner_content:fr\n"
            f"{GTIN},Glen 18,whisky,sherry butt,Cask,Fût,Store it upright.,"
            "Rangez-la debout.,Une visite de la distillerie.\n")
    product = db.scalar(select(Product).where(Product.gtin == GTIN))
    assert product.care_text == "Store it upright."  # the brand's language (en)
    assert product.owner_content is None
    assert product.texts == {"care": {"fr": "Rangez-la debout."},
                             "owner_content": {"fr": "Une visite de la distillerie."},
                             "labels": {"cask": {"en": "Cask", "fr": "Fût"}}}


def test_json_text_per_language(db, brand, tmp_path):
    _import(db, brand, tmp_path, "p.json", json.dumps([{
        "gtin": GTIN, "name": "Glen 18", "category": "whisky",
        "attributes": {"cask": "sherry butt"},
        "care": {"en": "Store it upright.", "fr": "Rangez-la debout."},
        "labels": {"cask": {"fr": "Fût"}}}]))
    product = db.scalar(select(Product).where(Product.gtin == GTIN))
    assert product.care_text == "Store it upright."
    assert product.texts == {"care": {"fr": "Rangez-la debout."},
                             "labels": {"cask": {"fr": "Fût"}}}


def test_a_bad_language_and_a_label_for_nothing_are_refused(db, brand, tmp_path):
    with pytest.raises(ProductsRejected) as exc:
        _import(db, brand, tmp_path, "p.json", json.dumps([{
            "gtin": GTIN, "name": "Glen 18", "category": "whisky",
            "care": {"French": "Rangez-la debout."},
            "labels": {"colour": {"fr": "Couleur"}}}]))
    messages = [message for _, message in exc.value.problems]
    assert "care: 'French' is not a language code like en or fr-FR" in messages
    assert "label:colour names no attribute this product shows" in messages
    db.rollback()
    assert db.scalar(select(Product).where(Product.gtin == GTIN)) is None


def test_an_unknown_column_names_the_new_ones(db, brand, tmp_path):
    with pytest.raises(ProductsRejected) as exc:
        _import(db, brand, tmp_path, "p.csv", f"gtin,name,category,caer:fr\n{GTIN},G,whisky,x\n")
    assert "care:<locale>" in exc.value.problems[0][1]
