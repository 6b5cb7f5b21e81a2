"""Ownership: owners without logins, the ownership history of each item, transfers and recovery."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the owner pages, the brand's ownership API and the CLI."""
    from app.ownership import cli, views

    app.register_blueprint(views.bp)
    app.register_blueprint(views.api)
    app.cli.add_command(cli.items_group)
    app.cli.add_command(cli.owners_group)
