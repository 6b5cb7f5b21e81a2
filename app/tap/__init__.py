"""The tap: its routes, the pipeline from a SUN message to a page, and the pages that compose
every domain's part of an item (the owner's home). The only package that composes domains."""

from __future__ import annotations

from flask import Flask

from app.core import boundary


def init_app(app: Flask) -> None:
    """Register the tap routes, the owner's pages and the product images."""
    from app.tap import images, views

    app.register_blueprint(views.bp)
    app.register_blueprint(images.bp)
    # A tap's query is a SUN message the pipeline parses strictly: a malformed one (control
    # characters included) is an "invalid" tap, counted and shown as one, not a bare 400.
    boundary.own_query("tap.tap", "tap.tap_digital_link")
