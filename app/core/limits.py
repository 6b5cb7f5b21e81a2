"""Rate limits on the costly doors, with Flask-Limiter.

The limiter counts in ``RATE_LIMIT_STORAGE``: ``memory://`` (one process: development, tests) or
``redis://host:6379/N`` (production, shared by every worker). Each door's limit is a setting in
``RATE_LIMITS`` (limit strings such as ``"10 per minute; 100 per day"``), read per request.

Doors decorate their views with ``limiter.limit(...)`` / ``limiter.shared_limit(...)`` and the key
functions below. Basic auth is different: only *failed* passwords count, and once an account or
an address has used up its failures, even the right password answers 429 until the window
passes (``check_login`` before comparing, ``login_failed`` after a wrong one).

Keys hold nothing personal in clear: an email address or a cookie becomes an HMAC under the app
secret. A breach answers 429 with ``Retry-After`` through ``app.core.errors``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from collections.abc import Callable

from flask import Flask, current_app, g, request
from flask_limiter import Limiter
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import TooManyRequests

from app.core import settings

log = logging.getLogger(__name__)

_DEFAULT_LIMITS: dict[str, str] = settings.defaults()["RATE_LIMITS"]


def remote_address() -> str:
    """Return the client's address (behind ProxyFix, the client's, not the proxy's)."""
    return request.remote_addr or "unknown"


def _digest(kind: str, value: str) -> str:
    # Keyed with the app secret: a storage dump cannot be matched against a list of addresses.
    secret = str(current_app.config.get("SECRET_KEY") or "").encode()
    mac = hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}:{mac[:32]}"


# The one account every wrong API token counts against (a token names no account).
TOKEN_ACCOUNT = "account:token"  # noqa: S105 - a counter key, not a secret


def account_key(name: str) -> str:
    """Return the login-failure key of a typed account name (a staff email), hashed."""
    return _digest("account", name.strip().lower())


def per_account() -> str:
    """Return the Basic-auth user this request names (``admin``, ``till``), hashed if unknown."""
    acting = g.get("staff_principal")
    if acting is not None and acting.kind != "dev":
        # A staff member or API token, resolved by app.core.web: ids, never emails.
        return f"account:{acting.actor}"
    auth = request.authorization
    name = (auth.username or "") if auth is not None else ""
    if name in ("admin", "till"):
        return f"account:{name}"
    # Anything else is whatever a client typed, possibly someone's email: never kept in clear.
    return _digest("account", name)


def per_item() -> str:
    """Return the item the URL names (``/items/<gtin>/<serial>/...``)."""
    args = request.view_args or {}
    return f"item:{args.get('gtin', '')}/{args.get('serial', '')}"


def per_email(field: str = "email") -> Callable[[], str]:
    """Return a key function for the email address in form field ``field``, hashed."""

    def key() -> str:
        return _digest("email", request.form.get(field, "").strip().lower())

    return key


def per_cookie(name: str) -> Callable[[], str]:
    """Return a key function for cookie ``name`` (e.g. the signed owner cookie), hashed.

    The owner cookie is deterministic per owner, so this keys by owner; a request without it
    shares one bucket, and is refused by the view anyway.
    """

    def key() -> str:
        return _digest("cookie", request.cookies.get(name, ""))

    return key


def setting(door: str) -> Callable[[], str]:
    """Return the limit string of ``door`` in ``RATE_LIMITS``, read when a request needs it."""

    def value() -> str:
        configured = current_app.config.get("RATE_LIMITS") or {}
        return str(configured.get(door) or _DEFAULT_LIMITS[door])

    return value


def sent(response: object) -> bool:
    """Return True for a response that did the costly thing (any status below 400).

    Used as ``deduct_when``: only what was actually sent counts against an owner or an item,
    so a stranger's refused attempts cannot use up an owner's allowance.
    """
    return int(getattr(response, "status_code", 500)) < 400


limiter = Limiter(
    key_func=remote_address,
    strategy="fixed-window",
    # Retry-After is set on the 429 alone, by app.core.errors; no X-RateLimit headers elsewhere.
    headers_enabled=False,
    # Storage down (Redis restarting): count in this process's memory rather than answer 500.
    in_memory_fallback_enabled=True,
    swallow_errors=True,
)


class LoginLocked(TooManyRequests):
    """Too many failed passwords for this account or address; ``retry_after`` in seconds."""


def _login_limits(account: str | None) -> list[tuple[RateLimitItem, str, str]]:
    limits = [(item, remote_address(), "login-address")
              for item in parse_many(setting("LOGIN_FAILURES_PER_ADDRESS")())]
    limits += [(item, account or per_account(), "login-account")
               for item in parse_many(setting("LOGIN_FAILURES_PER_ACCOUNT")())]
    return limits


def check_login(account: str | None = None) -> None:
    """Refuse a sign-in attempt once its account or address has used up its failures.

    ``account``: the key of the account tried (``account_key(email)``, ``TOKEN_ACCOUNT``);
    None: the Basic-auth user of the request.

    Raises:
        LoginLocked: 429, even when the password is right, until the window passes.
    """
    strategy = limiter.limiter
    try:
        for item, key, scope in _login_limits(account):
            if not strategy.test(item, key, scope):
                reset = strategy.get_window_stats(item, key, scope).reset_time
                raise LoginLocked(
                    description="Too many wrong passwords. Please wait before trying again.",
                    retry_after=max(1, math.ceil(reset - time.time())),
                )
    except LoginLocked:
        raise
    except Exception as exc:
        # The storage is unreachable: fail open (the admin must still get in), and say so.
        log.warning("rate limit storage unavailable for logins: %s", type(exc).__name__)


def login_failed(account: str | None = None) -> None:
    """Count one wrong password against this account (see ``check_login``) and this address."""
    strategy = limiter.limiter
    try:
        for item, key, scope in _login_limits(account):
            strategy.hit(item, key, scope)
    except Exception as exc:
        log.warning("rate limit storage unavailable for logins: %s", type(exc).__name__)


def retry_after() -> int:
    """Return the seconds until the limit this request broke resets (at least 1)."""
    breached = limiter.current_limit
    if breached is None:
        return 60
    return max(1, math.ceil(breached.window.reset_time - time.time()))


def init_app(app: Flask) -> None:
    """Count in ``RATE_LIMIT_STORAGE`` under ``RATE_LIMIT_KEY_PREFIX``."""
    app.config["RATELIMIT_STORAGE_URI"] = app.config["RATE_LIMIT_STORAGE"]
    # Set on every app: the limiter is module-wide and would keep an earlier app's options.
    app.config["RATELIMIT_STORAGE_OPTIONS"] = {"key_prefix": app.config["RATE_LIMIT_KEY_PREFIX"]}
    limiter.init_app(app)
    # A new app has a new storage: an earlier app's unreachable Redis says nothing about it.
    limiter._storage_dead = False
