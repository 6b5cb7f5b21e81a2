"""Provenance records: brand-signed (Ed25519) statements about an item, for resale listings."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Load the signing key, register the routes and CLI (filled in by the provenance work)."""
