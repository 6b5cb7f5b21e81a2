"""Rewards: loyalty ledger, prize pools, reveal mechanics, limits that hold, audited draws."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the reveal and terms pages, the till's code API, the ``rewards`` CLI group, the
    listeners to other domains' signals and the privacy contributor."""
    from app.rewards import cli, listeners, privacy, views

    app.register_blueprint(views.bp)
    app.register_blueprint(views.api)
    app.cli.add_command(cli.rewards_group)
    listeners.connect()
    privacy.register()
