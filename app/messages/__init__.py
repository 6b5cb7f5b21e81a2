"""Messages: Aftertap speaks first. Schedules' ticks, consent, delivery by email and CRM
webhook, one-click unsubscribe."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the unsubscribe and consent pages, the ``messages`` and ``schedules`` CLI groups,
    the privacy contributor and the integrity alerts' listeners."""
    from app.messages import alerts, cli, privacy, views

    app.register_blueprint(views.bp)
    app.cli.add_command(cli.messages_group)
    app.cli.add_command(cli.schedules_group)
    privacy.register()
    alerts.init_app(app)
