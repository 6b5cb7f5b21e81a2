"""The tap: its routes, the pipeline from a SUN message to a page, and the pages that compose
every domain's part of an item (the owner's home). The only package that composes domains."""

from __future__ import annotations

from flask import Flask

from app.core import boundary


def init_app(app: Flask) -> None:
    """Register the tap routes, the owner's pages and the product images."""
    from app.tap import brand_files, content, images, simulate, views, yardstick

    app.register_blueprint(views.bp)
    # ``journeys simulate --item`` (app.rules.cli) builds its fact here, as a tap would; the
    # rules layer cannot import the tap's.
    app.extensions["aftertap.simulate_tap"] = simulate.simulate_tap
    app.register_blueprint(images.bp)
    # The brand's look on its pages, its logo and fonts, and owner-only media.
    brand_files.init_app(app)
    # The brand's words and media in its journeys' pages (layouts and blocks).
    content.init_app(app)
    # A tap's query is a SUN message the pipeline parses strictly: a malformed one (control
    # characters included) is an "invalid" tap, counted and shown as one, not a bare 400.
    boundary.own_query("tap.tap", "tap.tap_digital_link")
    if app.config["BENCH_VERIFY_ONLY"]:
        # The bench's yardsticks (see app.tap.yardstick); never on outside the bench.
        app.register_blueprint(yardstick.bp)
        boundary.own_query("yardstick.verify_only", "yardstick.verify_and_count")
