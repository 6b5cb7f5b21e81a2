"""Settings: defaults in code, then ``AFTERTAP_*`` environment, then explicit overrides.

Secrets never have a default. A development secret can live in ``instance/secret_key`` (written by
``python -m app.bootstrap``, which ``make run`` calls); production sets ``AFTERTAP_SECRET_KEY``.

A web server checks every secret and file it needs at start-up and refuses to start without
them. The ``flask`` command does not: most commands need none (``journeys validate``,
``sun inspect``, every ``--help``), so each secret or file is checked by the command that uses it
(``required``), which names the missing setting in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask import Flask

# app.extensions key: what could not be loaded at start-up, by extension name -> message.
_MISSING = "aftertap.missing"

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INSTANCE_DIR = PROJECT_ROOT / "instance"


class ConfigurationError(RuntimeError):
    """Raised at start-up when a required setting is missing or unusable."""


class MissingSetting(click.ClickException, ConfigurationError):
    """A command needs a setting that is missing or unusable.

    Under the ``flask`` command it prints as one line (``Error: ...``) and exits 1.
    """


def defaults() -> dict[str, Any]:
    """Return the built-in settings; every key here may be overridden by ``AFTERTAP_<KEY>``."""
    return {
        "DATABASE_URL": f"sqlite:///{INSTANCE_DIR / 'aftertap.db'}",
        "SECRET_KEY": None,
        # Password of the brand-side admin pages (user "admin"); unset: those pages do not exist.
        "ADMIN_PASSWORD": None,
        "ADMIN_PASSWORD_FILE": str(INSTANCE_DIR / "admin_password"),
        # Password of user "till" (shops' POS): it may only check and redeem reward codes.
        "TILL_PASSWORD": None,
        "SECRET_KEY_FILE": str(INSTANCE_DIR / "secret_key"),
        "KEYS_FILE": str(INSTANCE_DIR / "keys.toml"),
        "RULESETS_DIR": str(PROJECT_ROOT / "rulesets"),
        # How often each process looks for edited ruleset files; negative: never after start.
        "RULESETS_RELOAD_SECONDS": 2.0,
        # Name of a header set by a proxy we trust (e.g. "CF-IPCountry"). None: trust nothing.
        "TRUSTED_COUNTRY_HEADER": None,
        # Detail rows kept per hour for failed taps; beyond it only hourly counts grow, so a
        # flood of forged URLs cannot fill the disk.
        "FAILED_TAP_DETAIL_PER_HOUR": 5000,
        # The /demo page mints simulated taps for demo key versions; off unless asked for.
        "DEMO": False,
        # Ruleset used for taps that cannot be tied to a brand (forged or unregistered tags).
        "DEFAULT_BRAND": "maison-aurelia",
        "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
        "SQLITE_BUSY_TIMEOUT_MS": 15000,
        # Largest request body accepted (413 beyond): the biggest form or JSON body is a few KiB.
        "MAX_BODY_BYTES": 64 * 1024,
        # -- ownership ------------------------------------------------------------------------
        # How long after a genuine tap this browser may act on the item (claim, transfer...).
        "TAP_SESSION_SECONDS": 600,
        "OWNER_COOKIE_DAYS": 730,
        # Mark cookies Secure even when the app sees plain HTTP (behind a TLS-terminating proxy).
        "COOKIE_SECURE": False,
        # Proxies in front that set X-Forwarded-For and -Proto; 0: believe no forwarded header.
        "PROXY_HOPS": 0,
        # Strict-Transport-Security max-age on HTTPS responses; 0: no HSTS header.
        "HSTS_SECONDS": 0,
        # Host names this app answers to ("a.example,.b.example"); None: any Host header.
        "TRUSTED_HOSTS": None,
        "TRANSFER_OFFER_HOURS": 72,
        "EMAIL_LINK_MINUTES": 1440,
        "RECOVERY_LINK_MINUTES": 30,
        # -- mail -------------------------------------------------------------------------------
        # SMTP server for owners' emails; unset: emails are written to MAIL_OUTBOX_DIR instead.
        "SMTP_HOST": None,
        "SMTP_PORT": 25,
        "SMTP_USERNAME": None,
        "SMTP_PASSWORD": None,
        "SMTP_STARTTLS": False,
        "SMTP_TIMEOUT_SECONDS": 10.0,
        "MAIL_FROM": "Aftertap <no-reply@aftertap.invalid>",
        "MAIL_OUTBOX_DIR": str(INSTANCE_DIR / "outbox"),
        # -- provenance records -------------------------------------------------------------------
        # Ed25519 private key (PKCS#8 PEM) the brand signs provenance records with.
        "PROVENANCE_KEY_FILE": str(INSTANCE_DIR / "provenance_ed25519.pem"),
        "PROVENANCE_VALID_DAYS": 90,
        # -- loyalty -------------------------------------------------------------------------
        # Points for behaviour outside journeys; AFTERTAP_LOYALTY_POINTS='{"review": 40, ...}'.
        "LOYALTY_POINTS": {"review": 40, "service": 50, "provenance": 25, "take_back": 200},
        # -- rate limits (app.core.limits) -----------------------------------------------------
        # Where counts live: memory:// is one process only; production uses redis://host:6379/N.
        "RATE_LIMIT_STORAGE": "memory://",
        # Prefix of every key in that storage, so apps sharing one Redis never share counts.
        "RATE_LIMIT_KEY_PREFIX": "aftertap",
        # One limit string per door ("10 per minute; 100 per day"); AFTERTAP_RATE_LIMITS__TAP=...
        # changes one. LOGIN_*: failed Basic-auth passwords, after which even the right one waits.
        "RATE_LIMITS": {
            "LOGIN_FAILURES_PER_ADDRESS": "10 per 15 minutes",
            "LOGIN_FAILURES_PER_ACCOUNT": "30 per 15 minutes",
            "TILL_PER_ADDRESS": "60 per minute",
            "TILL_PER_ACCOUNT": "600 per minute",
            "CONFIRM_EMAIL_PER_OWNER": "5 per hour",
            "CONFIRM_EMAIL_PER_ITEM": "5 per hour",
            "CONFIRM_EMAIL_PER_RECIPIENT": "3 per hour",
            "CONFIRM_EMAIL_PER_ADDRESS": "20 per hour",
            "RECOVERY_EMAIL_PER_ITEM": "3 per hour",
            "RECOVERY_EMAIL_PER_ADDRESS": "10 per hour",
            "TRANSFER_ACCEPT_PER_ADDRESS": "10 per minute",
            "TAP_PER_ADDRESS": "120 per minute",
        },
    }


def finalize(config: dict[str, Any]) -> None:
    """Resolve the secret key and passwords from their files, and check settings, in place.

    A missing secret is not an error here (see ``secret_problem``).

    Raises:
        ConfigurationError: with a message saying which setting is unusable.
    """
    if not config.get("SECRET_KEY"):
        path = Path(config["SECRET_KEY_FILE"])
        if path.is_file():
            config["SECRET_KEY"] = path.read_text().strip()
    if not config.get("ADMIN_PASSWORD"):
        admin = Path(config["ADMIN_PASSWORD_FILE"])
        if admin.is_file():
            config["ADMIN_PASSWORD"] = admin.read_text().strip()
    if not config.get("DATABASE_URL"):
        raise ConfigurationError("AFTERTAP_DATABASE_URL is empty.")


def secret_problem(config: dict[str, Any]) -> str | None:
    """Return why the secret key cannot be used (missing or too short), or None when it can."""
    if config.get("SECRET_KEY") and len(str(config["SECRET_KEY"])) >= 32:
        return None
    return (
        "AFTERTAP_SECRET_KEY is not set (or shorter than 32 characters), and no development "
        f"secret exists at {config['SECRET_KEY_FILE']}. Set AFTERTAP_SECRET_KEY, or run "
        "`make run` once to create a development secret."
    )


def defer(app: Flask, name: str, problem: str) -> None:
    """Record that extension ``name`` could not be loaded, and why, for ``required`` to say."""
    app.extensions.setdefault(_MISSING, {})[name] = problem


def required(app: Flask, name: str) -> Any:
    """Return ``app.extensions[name]`` (a keyring, a signing key...).

    Raises:
        MissingSetting: it could not be loaded at start-up; the message says which setting.
    """
    if name in app.extensions:
        return app.extensions[name]
    problem = app.extensions.get(_MISSING, {}).get(name, f"{name} is not configured.")
    raise MissingSetting(problem)
