"""After-sales: owners' service requests and the brand's service events."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the after-sales routes (owner pages, brand API) and the ``service`` CLI."""
    from app.aftersales import cli, views

    app.register_blueprint(views.bp)
    app.register_blueprint(views.api)
    app.cli.add_command(cli.service_group)
