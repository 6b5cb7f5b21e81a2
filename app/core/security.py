"""CSRF protection for HTML forms: a per-browser token in the signed session cookie.

Every state-changing form POST must carry ``csrf_token``; JSON APIs with their own credentials
are exempted explicitly by their blueprints.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, request, session

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


def init_app(app: Flask) -> None:
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.jinja_env.globals["csrf_token"] = csrf_token

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
