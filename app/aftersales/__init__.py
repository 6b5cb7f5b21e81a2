"""After-sales: owners' service requests and the brand's service events."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the after-sales routes (owner pages, brand API), the ``service`` CLI, the
    provenance ``service`` section and the owners' privacy contributor."""
    from app.aftersales import cli, privacy, summary, views
    from app.core import privacy as privacy_registry
    from app.core.signals import provenance_sections

    app.register_blueprint(views.bp)
    app.register_blueprint(views.api)
    app.cli.add_command(cli.service_group)
    # Strong reference: a module-level function, connected once however many apps are built.
    provenance_sections.connect(summary.provenance_section, weak=False)
    privacy_registry.register(privacy.PRIVACY)
