"""The item card shows the catalogue's attribute values in the page's language (``made_in:fr``
on import, ``Product.texts["values"]``), and the plain value where that language has none."""

from __future__ import annotations

from typing import Any

from tests.factories import tagged_item, tap_url


def _page(client: Any, db: Any, keyring: Any, tag: Any, language: str) -> str:
    response = client.get(tap_url(db, keyring, tag), headers={"Accept-Language": language})
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def test_item_card_values_speak_the_pages_language(client, db, keyring):
    tag = tagged_item(db, category="bag", attributes={
        "made_in": "Florence, Italy", "material": "full-grain calfskin", "stitching": "saddle"})
    tag.item.product.provenance_attributes = ["made_in", "material", "stitching"]
    tag.item.product.texts = {"values": {"made_in": {"fr": "Florence, Italie"},
                                         "material": {"fr-FR": "veau pleine fleur"}}}
    db.commit()
    french = _page(client, db, keyring, tag, "fr-FR,fr;q=0.9")
    assert "<dt>Fabriqué à</dt><dd>Florence, Italie</dd>" in french
    assert "<dt>Matière</dt><dd>veau pleine fleur</dd>" in french
    assert "<dd>saddle</dd>" in french  # no French value: the plain one
    assert "Italy" not in french and "calfskin" not in french
    english = _page(client, db, keyring, tag, "en-GB,en;q=0.9")
    assert "<dt>Made in</dt><dd>Florence, Italy</dd>" in english
    assert "<dd>full-grain calfskin</dd>" in english and "Italie" not in english
