"""Web helpers every package shares: content negotiation, JSON bodies, ``no-store`` pages and
the brand-side JSON API's blueprints (``/admin/api/...``, HTTP Basic, JSON bodies only).

Each domain package makes its own API blueprint with ``api_blueprint`` and registers it. Browsers
resend cached Basic credentials on their own, so these endpoints accept only requests a plain
cross-site form cannot make: a JSON body (``Content-Type: application/json``) for every write.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, abort, current_app, request

from app.core import limits, security


def wants_json() -> bool:
    """Return True when the client prefers JSON over HTML."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes[
        "text/html"
    ]


def no_store(html: str, status: int = 200) -> Response:
    """Return ``html`` as a page no cache keeps (it carries a person's own state)."""
    response = current_app.response_class(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def require_admin() -> None:
    """Abort unless the request carries the admin's Basic credentials.

    Without ``ADMIN_PASSWORD`` the admin side does not exist (404), so a forgotten setting never
    leaves it open.
    """
    require_user(("admin",))


_PASSWORD_SETTING = {"admin": "ADMIN_PASSWORD", "till": "TILL_PASSWORD"}


def require_user(users: tuple[str, ...]) -> None:
    """Abort unless the request carries Basic credentials of one of ``users`` (admin, till).

    A user whose password setting is unset cannot sign in; with none set, the endpoint does not
    exist (404). Passwords are compared in constant time. Failed passwords are counted per
    account and per address (``app.core.limits``).

    Raises:
        LoginLocked: 429, too many failed passwords lately, even if this one is right.
    """
    configured = {u: current_app.config.get(_PASSWORD_SETTING[u]) for u in users}
    if not any(configured.values()):
        abort(404)
    auth = request.authorization
    user = auth.username if auth and auth.username in configured else None
    expected = str(configured.get(user) or "") if user else ""
    given = (auth.password or "") if auth is not None and user else ""
    if auth is not None:
        # Before the comparison: once locked out, the right password waits like a wrong one.
        limits.check_login()
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        if auth is not None:
            limits.login_failed()
        abort(Response(f"Sign in as {' or '.join(users)}.", 401,
                       {"WWW-Authenticate": 'Basic realm="Aftertap admin", charset="UTF-8"'}))


def json_body() -> dict[str, Any]:
    """Return the request's JSON object.

    Aborts with 415 when the body is not declared JSON, 400 when it is not a JSON object.
    """
    if not request.is_json:
        abort(415, description="Send a JSON body with Content-Type: application/json.")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="The body must be a JSON object.")
    return body


def api_blueprint(
    name: str, import_name: str, users: tuple[str, ...] = ("admin",)
) -> Blueprint:
    """Return a blueprint under ``/admin/api`` whose every endpoint needs one of ``users``."""
    bp = Blueprint(name, import_name, url_prefix="/admin/api")
    bp.before_request(lambda: require_user(users))

    @bp.before_request
    def _json_writes() -> None:
        if request.method not in ("GET", "HEAD", "OPTIONS") and not request.is_json:
            abort(415, description="Send a JSON body with Content-Type: application/json.")

    security.exempt_blueprint(name)
    return bp
