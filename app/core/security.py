"""CSRF protection for HTML forms: a per-browser token in the signed session cookie.

Every state-changing form POST must carry ``csrf_token``; JSON APIs with their own credentials
are exempted explicitly by their blueprints.

Also the transport around it: the session cookie's attributes, the TLS proxy in front
(``PROXY_HOPS``), HSTS, trusted hosts, relative routing redirects and ``no-store`` on ``/admin``.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, request, session
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

_EXEMPT: set[str] = set()
_EXEMPT_BLUEPRINTS: set[str] = set()


def csrf_token() -> str:
    """Return this browser's CSRF token, creating it on first use."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def exempt(endpoint: str) -> None:
    """Exclude ``endpoint`` (e.g. a token-authenticated JSON API) from the CSRF check."""
    _EXEMPT.add(endpoint)


def exempt_blueprint(name: str) -> None:
    """Exclude every endpoint of blueprint ``name`` (JSON-only APIs, see app.core.web)."""
    _EXEMPT_BLUEPRINTS.add(name)


class _SessionInterface(SecureCookieSessionInterface):
    """The signed session cookie, ``Secure`` also whenever the request itself came over TLS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        # Like the owner cookie: a request that arrived over HTTPS never sends it back in clear.
        return bool(app.config.get("COOKIE_SECURE")) or request.is_secure


def trusted_hosts(value: object) -> list[str] | None:
    """Return the host names in ``value`` (a comma-separated string or a list), None for any.

    An empty value means any host, as when the setting is unset.
    """
    if value is None:
        return None
    if isinstance(value, str):
        names = value.split(",")
    elif isinstance(value, list | tuple):
        names = [str(v) for v in value]
    else:
        names = [str(value)]
    hosts = [name.strip().lower() for name in names if name.strip()]
    return hosts or None


def relative_redirect(response: Response) -> Response:
    """Make a redirect to this very host relative, so the Host header is never reflected.

    Werkzeug's routing redirects (``/a//b`` to ``/a/b``, a missing trailing slash) build an
    absolute URL from the Host the client sent; a relative one points to the same place.
    """
    location = response.headers.get("Location")
    if not (300 <= response.status_code < 400) or not location:
        return response
    parts = urlsplit(location)
    if not parts.netloc or parts.netloc.lower() != request.host.lower():
        return response
    # One leading slash: "//x" would be a link to host x.
    path = "/" + parts.path.lstrip("/")
    response.headers["Location"] = path + (f"?{parts.query}" if parts.query else "")
    return response


def init_app(app: Flask) -> None:
    # Flask defines these keys already (SameSite None, Secure False): set them, not setdefault.
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    # Lax, not Strict: a tap opens the page as a top-level navigation from outside the site.
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config.get("COOKIE_SECURE"))
    app.session_interface = _SessionInterface()
    # A forged Host gets 400 from Flask before any view runs.
    app.config["TRUSTED_HOSTS"] = trusted_hosts(app.config.get("TRUSTED_HOSTS"))
    hops = int(app.config.get("PROXY_HOPS") or 0)
    if hops > 0:
        # Only the client address and scheme: the proxy passes the Host header itself, so a
        # client's own X-Forwarded-Host is never believed.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.after_request
    def _transport_headers(response: Response) -> Response:
        hsts_seconds = int(current_app.config.get("HSTS_SECONDS") or 0)
        # Only over TLS: a browser ignores it on plain HTTP, and it must not pin a dev server.
        if hsts_seconds > 0 and request.is_secure:
            response.headers["Strict-Transport-Security"] = f"max-age={hsts_seconds}"
        if request.path == "/admin" or request.path.startswith("/admin/"):
            # Owners' data and brand-side state: no browser or proxy cache keeps any of it.
            response.headers["Cache-Control"] = "no-store"
        return relative_redirect(response)

    @app.before_request
    def _check_csrf() -> None:
        if request.method in ("GET", "HEAD", "OPTIONS") or request.endpoint in _EXEMPT:
            return
        if request.blueprint in _EXEMPT_BLUEPRINTS:
            return
        sent = request.form.get("csrf_token", "")
        expected = session.get("csrf", "")
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            abort(400, description="This form has expired. Go back, reload the page and try again.")
