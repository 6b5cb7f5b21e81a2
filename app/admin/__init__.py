"""Admin: the brand side. Staff sign-in (``auth``), brand pages (``pages``), the marketer's
preview (``views``) and the ``flask staff`` commands (``cli``)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from app.admin import alerts, auth, cli, drafts, insights, pages, views

    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(drafts.bp)
    app.register_blueprint(alerts.bp)
    app.register_blueprint(insights.bp)
    app.cli.add_command(cli.staff_group)
