"""Aftertap: verified NFC taps turned into post-purchase experiences."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then ``AFTERTAP_*`` environment, then ``overrides``.

    Built to serve (a WSGI server, a test), the app checks every secret and file at once. Built
    by the ``flask`` command, it defers each to the command that uses it
    (``app.core.settings.required``), so commands that need no secret run without one.

    Raises:
        app.core.settings.ConfigurationError: a required secret or file is missing or invalid.
    """
    # Imports live here so that importing a leaf module (e.g. app.verify.sun) stays cheap: every
    # app.* import runs this file first, and aftertap-tap must start without Flask.
    import click
    from flask import Flask, Response, abort

    from app import admin as admin_pkg
    from app import aftersales as aftersales_pkg
    from app import api as api_pkg
    from app import cli
    from app import messages as messages_pkg
    from app import ownership as ownership_pkg
    from app import provenance as provenance_pkg
    from app import rewards as rewards_pkg
    from app import rules as rules_pkg
    from app import tap as tap_pkg
    from app import verify as verify_pkg
    from app.catalog import access
    from app.core import (
        audit,
        boundary,
        errors,
        i18n,
        limits,
        outbox,
        privacy,
        security,
        settings,
        staff,
        wording,
    )
    from app.core.db import analytics, db
    from app.core.markdown import to_html as markdown_to_html
    from app.demo import views as demo_views
    from app.insights import commerce as insights_commerce

    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.from_mapping(settings.defaults())
    app.config.from_prefixed_env("AFTERTAP")
    if overrides:
        app.config.from_mapping(overrides)
    settings.finalize(app.config)
    # Inside a click context means the flask command is loading the app to run one command.
    serving = click.get_current_context(silent=True) is None
    app.extensions["aftertap.serving"] = serving
    problem = settings.secret_problem(app.config)
    if problem is not None:
        if serving:
            raise settings.ConfigurationError(problem)
        settings.defer(app, "aftertap.secret", problem)

        @app.before_request
        def _no_secret_no_pages() -> None:
            # `flask run` without a secret: say why instead of failing on the first cookie.
            abort(503, description=problem)

    if serving:
        # Made before the first sign-in, so the first unknown address costs what a wrong password
        # does; a command makes it only if it signs someone in (app.core.staff).
        staff.dummy_hash()

    # First: input is checked before any other hook or handler, and before any route is added
    # (it bounds the <int:...> converter).
    boundary.init_app(app)
    db.init_app(app)
    analytics.init_app(app)
    privacy.register(audit.PRIVACY)
    privacy.register(outbox.PRIVACY)
    errors.init_app(app)
    i18n.init_app(app)
    limits.init_app(app)
    security.init_app(app)
    verify_pkg.init_app(app)
    rules_pkg.init_app(app)
    ownership_pkg.init_app(app)
    aftersales_pkg.init_app(app)
    provenance_pkg.init_app(app)
    rewards_pkg.init_app(app)
    messages_pkg.init_app(app)
    # After ownership's: erasure runs contributors in reverse, so the address is still there.
    privacy.register(insights_commerce.PRIVACY)
    tap_pkg.init_app(app)
    demo_views.init_app(app)
    admin_pkg.init_app(app)
    api_pkg.init_app(app)
    cli.init_app(app)
    # Brands' care text and owner-only content are Markdown: `{{ text|markdown }}`.
    app.jinja_env.filters["markdown"] = markdown_to_html
    # Articles, plural agreement and brand-local times: one place (app.core.wording).
    app.jinja_env.filters.update(wording.FILTERS)
    # Also callable, as brand_time(moment, brand, style): the same function.
    app.jinja_env.globals["brand_time"] = wording.brand_time
    # ngettext's count for a product named in the plural: {{ ngettext(..., count_of(product)) }}.
    app.jinja_env.globals["count_of"] = wording.count_of
    app.jinja_env.globals["number"] = wording.number
    # English's "a"/"an" for a catalogue sentence's %(article)s (other languages leave it out).
    app.jinja_env.globals["article"] = wording.article
    # The page's language, for <html lang>.
    app.jinja_env.globals["current_locale"] = i18n.current_language
    # The footer's "Verified with the chip" needs the item tapped in this browser (base.html).
    app.jinja_env.globals["live_tap"] = access.live_tap

    @app.after_request
    def _security_headers(response: Response) -> Response:
        # Pages carry their CSS inline and load nothing from anywhere else: images, fonts and
        # films come from this server only.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; connect-src 'self'; "
            "style-src 'unsafe-inline'; "
            "img-src 'self' data:; "
            # The brand's self-hosted fonts and owner-only films; never another site's.
            "font-src 'self'; media-src 'self'; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        )
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app
