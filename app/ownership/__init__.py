"""Ownership: owners without logins, the ownership history of each item, transfers and recovery."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the owner pages, the brand's ownership API, the CLI and the privacy contributor.

    The app factory calls this before the other domains' ``init_app``, so the ownership
    contributor registers first and its erase runs last, after everything referring to owners.
    """
    from app.ownership import api, cli, privacy, returning, views

    privacy.register()
    app.register_blueprint(views.bp)
    app.register_blueprint(api.api)
    returning.init_app(app)
    app.cli.add_command(cli.items_group)
    app.cli.add_command(cli.owners_group)
