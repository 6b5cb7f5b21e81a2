"""Web helpers every package shares: content negotiation, JSON bodies, ``no-store`` pages and
the brand-side JSON API's blueprints (``/admin/api/...``, JSON bodies only), and who a request
acts as: a staff session, an API token (``Authorization: Bearer``), or a development password
(HTTP Basic). Each route declares the roles that may call it (``roles``).

Each domain package makes its own API blueprint with ``api_blueprint`` and registers it. Browsers
resend cached Basic credentials on their own, so these endpoints accept only requests a plain
cross-site form cannot make: a JSON body (``Content-Type: application/json``) for every write.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, current_app, g, request, session
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import Authorization

from app.core import clock, limits, security, staff
from app.core.db import db
from app.core.negotiation import wants_json as wants_json  # re-exported for views

F = TypeVar("F", bound=Callable[..., Any])


def no_store(html: str, status: int = 200) -> Response:
    """Return ``html`` as a page no cache keeps (it carries a person's own state)."""
    response = current_app.response_class(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


_PASSWORD_SETTING = {"admin": "ADMIN_PASSWORD", "till": "TILL_PASSWORD"}
# Stored on a view function by ``roles``: the staff roles that may call it (admins always may).
ROLES_ATTRIBUTE = "staff_roles"
_SESSION_KEY = "staff"
# Only while a development password may be used: otherwise browsers would prompt for nothing.
_BASIC_CHALLENGE = 'Basic realm="Aftertap admin", charset="UTF-8"'


def roles(*names: str) -> Callable[[F], F]:
    """Declare which staff roles may call the decorated view (admins always may).

    A view under ``/admin`` without this declaration is for admins only, and the isolation
    matrix in ``tests/admin`` fails until the route is given a rule there.
    """
    for name in names:
        staff.check_role(name)

    def mark(view: F) -> F:
        setattr(view, ROLES_ATTRIBUTE, frozenset(names))
        return view

    return mark


def _dev_passwords() -> dict[str, str]:
    """Return the development passwords that are set and allowed, by user name."""
    if not current_app.config.get("ALLOW_DEV_PASSWORDS"):
        return {}
    return {user: str(current_app.config[setting]) for user, setting in _PASSWORD_SETTING.items()
            if current_app.config.get(setting)}


def _unauthorized(message: str) -> Response:
    headers = {"WWW-Authenticate": _BASIC_CHALLENGE} if _dev_passwords() else {}
    return Response(message, 401, headers)


def _basic_principal(auth: Authorization) -> staff.Principal:
    """Return the development user named by Basic ``auth``, or abort 401 (429 when locked)."""
    passwords = _dev_passwords()
    user = auth.username if auth.username in passwords else None
    expected = passwords.get(user or "", "")
    given = (auth.password or "") if user else ""
    # Before the comparison: once locked out, the right password waits like a wrong one.
    limits.check_login()
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        limits.login_failed()
        abort(_unauthorized("Sign in: the user name or password is wrong."))
    assert user is not None
    return staff.Principal("dev", None, user, None, user)


def _bearer_principal(token: str) -> staff.Principal:
    """Return the principal of API ``token``, or abort 401 (429 after many wrong tokens)."""
    limits.check_login(account=limits.TOKEN_ACCOUNT)
    found = staff.token_principal(db.session, token)
    if found is None:
        limits.login_failed(account=limits.TOKEN_ACCOUNT)
        abort(Response("This API token is not valid (unknown or revoked).", 401,
                       {"WWW-Authenticate": 'Bearer realm="Aftertap admin"'}))
    return found


def principal() -> staff.Principal | None:
    """Return who this request acts as (token, development password or staff session), or None.

    Credentials in the request win over the session cookie: a client that sends a token is
    that token, whatever browser it runs in. Resolved once per request.

    Raises:
        LoginLocked: 429, too many failed passwords or tokens lately.
    """
    if "staff_principal" in g:
        found: staff.Principal | None = g.staff_principal
        return found
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        found = _bearer_principal(header[7:].strip())
    elif request.authorization is not None and request.authorization.type == "basic":
        found = _basic_principal(request.authorization)
    else:
        signed_in = session.get(_SESSION_KEY)
        found = None
        if isinstance(signed_in, dict):
            found = _session_principal(signed_in)
            if found is None:
                session.pop(_SESSION_KEY, None)
    g.staff_principal = found
    return found


def _session_principal(signed_in: dict[str, Any]) -> staff.Principal | None:
    try:
        staff_id, epoch, since = int(signed_in["id"]), int(signed_in["epoch"]), float(
            signed_in["at"])
    except (KeyError, TypeError, ValueError):
        return None
    hours = float(current_app.config["STAFF_SESSION_HOURS"])
    if not 0 <= clock.now().timestamp() - since <= hours * 3600:
        return None
    return staff.staff_principal(db.session, staff_id, epoch)


def sign_in(staff_id: int, epoch: int) -> None:
    """Start a new browser session for ``staff_id``: everything the old one held is dropped and
    the CSRF token is new, so a session planted before sign-in carries nothing over."""
    session.clear()
    session[_SESSION_KEY] = {"id": staff_id, "epoch": epoch, "at": clock.now().timestamp()}
    security.csrf_token()
    g.pop("staff_principal", None)


def sign_out() -> None:
    """End this browser's session."""
    session.clear()
    g.pop("staff_principal", None)


def require_staff(
    default: frozenset[str] = frozenset(),
    anonymous: Callable[[], ResponseReturnValue] | None = None,
) -> staff.Principal:
    """Return the request's principal if its role may call this endpoint; abort otherwise.

    The endpoint's roles come from ``roles`` on its view, else ``default`` (admins always
    may). Nobody signed in: ``anonymous()``'s response (a login page), else 401. On a fresh
    install, where nobody could sign in (no development password, no account, no token), the
    brand side does not exist (404), so a forgotten setting never leaves it open.

    Raises:
        LoginLocked: 429, too many failed passwords lately, even if this one is right.
    """
    found = principal()
    if found is None:
        if not _dev_passwords() and not staff.any_credentials(db.session):
            abort(404)
        if anonymous is not None:
            response = current_app.make_response(anonymous())
            if _dev_passwords():
                response.headers["WWW-Authenticate"] = _BASIC_CHALLENGE
            abort(response)
        abort(_unauthorized("Sign in to use this page."))
    allowed = getattr(current_app.view_functions.get(request.endpoint or ""), ROLES_ATTRIBUTE,
                      default)
    if not found.may(frozenset(allowed)):
        abort(403, description="Your role does not allow this.")
    return found


def current_principal() -> staff.Principal:
    """Return the principal ``require_staff`` let in (for views behind it)."""
    found: staff.Principal | None = g.get("staff_principal")
    assert found is not None, "require_staff did not run for this view"
    return found


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


def api_blueprint(name: str, import_name: str) -> Blueprint:
    """Return a blueprint under ``/admin/api`` whose every endpoint needs a principal whose role
    its view declares with ``roles`` (undeclared: admins only)."""
    bp = Blueprint(name, import_name, url_prefix="/admin/api")

    @bp.before_request
    def _authorize() -> None:
        require_staff()

    @bp.before_request
    def _json_writes() -> None:
        if request.method not in ("GET", "HEAD", "OPTIONS") and not request.is_json:
            abort(415, description="Send a JSON body with Content-Type: application/json.")

    security.exempt_blueprint(name)
    return bp
