"""Turn a tap outcome into the fact journeys are evaluated against.

A fact is a flat mapping of dotted paths to scalars (``tap.verdict``, ``product.category``...).
None means "not known" and is left out of the engine's event.
"""

from __future__ import annotations

from typing import Any

from app.verify.service import TapOutcome

# Catalogue attributes are exposed as product.<name>; these names are reserved for the product's
# own columns so an attribute cannot shadow them.
_RESERVED_PRODUCT_KEYS = {"gtin", "category", "name"}


def tap_fact(outcome: TapOutcome) -> dict[str, Any]:
    """Return the fact for ``outcome``: tap, item and product paths."""
    fact: dict[str, Any] = {
        "tap.verdict": outcome.verdict,
        "tap.number": outcome.number,
        "tap.country": outcome.country,
        "tap.mode": outcome.sun.mode if outcome.sun else None,
        "tap.tamper": outcome.sun.tamper if outcome.sun else None,
        "tap.weekday": outcome.at.strftime("%a").lower(),
        "tap.local_hour": outcome.at.hour,
    }
    item = outcome.item
    if item is not None:
        product = item.product
        fact.update(
            {
                "item.gtin": product.gtin,
                "item.serial": item.serial,
                "item.market": item.market,
                "item.released": item.released,
                "product.gtin": product.gtin,
                "product.category": product.category,
                "product.name": product.name,
            }
        )
        for key, value in (product.attributes or {}).items():
            if key not in _RESERVED_PRODUCT_KEYS and isinstance(value, str | int | float | bool):
                fact[f"product.{key}"] = value
        if item.market and outcome.country:
            fact["tap.outside_market"] = item.market != outcome.country
    return fact
