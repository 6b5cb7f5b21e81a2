"""The tap: its routes, the pipeline from a SUN message to a page, and the pages that compose
every domain's part of an item (the owner's home). The only package that composes domains."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the tap routes and the owner's pages."""
    from app.tap import views

    app.register_blueprint(views.bp)
