"""Admin: brand-side pages behind HTTP Basic auth (the marketer's preview, for now)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from app.admin import views

    app.register_blueprint(views.bp)
