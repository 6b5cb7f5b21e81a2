"""``products import`` carries care text and owner-only content per language (``care:fr``,
JSON ``{"en": ..., "fr": ...}``) and labels for attributes (``label:<name>:<locale>``); a bad
language code or a label for an attribute the product does not show is refused by line.

Attributes' values per language likewise (``made_in:fr``, ``attr:<name>:<locale>``; JSON
``"values": {"made_in": {"fr": ...}}``), kept in ``Product.texts["values"]`` beside the plain
(brand's language) value, which provenance records sign."""

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


def test_csv_value_columns_per_language(db, brand, tmp_path):
    summary = _import(db, brand, tmp_path, "p.csv",
                      "gtin,name,category,made_in,made_in:fr,material,material:fr,attr:cask,"
                      "attr:cask:fr\n"
                      f"{GTIN},Glen 18,whisky,\"Speyside, Scotland\",\"Speyside, Écosse\","
                      "oak,chêne,sherry butt,fût de xérès\n")
    assert summary.created == 1
    product = db.scalar(select(Product).where(Product.gtin == GTIN))
    # The plain values stay the brand's language: what records sign and journeys match.
    assert product.attributes == {"made_in": "Speyside, Scotland", "material": "oak",
                                  "cask": "sherry butt"}
    assert product.texts == {"values": {"made_in": {"fr": "Speyside, Écosse"},
                                        "material": {"fr": "chêne"},
                                        "cask": {"fr": "fût de xérès"}}}
    again = _import(db, brand, tmp_path, "p.csv", (tmp_path / "p.csv").read_text())
    assert again.unchanged == 1


def test_json_values_per_language(db, brand, tmp_path):
    _import(db, brand, tmp_path, "p.json", json.dumps([{
        "gtin": GTIN, "name": "Glen 18", "category": "whisky", "made_in": "Speyside, Scotland",
        "attributes": {"cask": "sherry butt"},
        "values": {"made_in": {"fr": "Speyside, Écosse"}, "cask": {"fr": "fût de xérès"}}}]))
    product = db.scalar(select(Product).where(Product.gtin == GTIN))
    assert product.texts == {"values": {"made_in": {"fr": "Speyside, Écosse"},
                                        "cask": {"fr": "fût de xérès"}}}


def test_a_value_for_no_attribute_or_in_a_bad_language_is_refused(db, brand, tmp_path):
    with pytest.raises(ProductsRejected) as exc:
        _import(db, brand, tmp_path, "p.json", json.dumps([{
            "gtin": GTIN, "name": "Glen 18", "category": "whisky", "made_in": "Speyside",
            "values": {"made_in": {"French": "Speyside, Écosse"},
                       "material": {"fr": "chêne"}}}]))
    messages = [message for _, message in exc.value.problems]
    assert "made_in: 'French' is not a language code like en or fr-FR" in messages
    assert ("material:<locale> gives a value in another language to no attribute this "
            "product has; give its plain value too") in messages
    db.rollback()
    assert db.scalar(select(Product).where(Product.gtin == GTIN)) is None


def test_a_csv_value_column_in_another_language_without_its_plain_one_is_refused(
        db, brand, tmp_path):
    with pytest.raises(ProductsRejected) as exc:
        _import(db, brand, tmp_path, "p.csv",
                f"gtin,name,category,made_in:fr\n{GTIN},Glen 18,whisky,Écosse\n")
    assert "gives a value in another language to no attribute" in exc.value.problems[0][1]
