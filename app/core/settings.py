"""Settings: defaults in code, then ``AFTERTAP_*`` environment, then explicit overrides.

Secrets never have a default. A development secret can live in ``instance/secret_key`` (written by
``python -m app.bootstrap``, which ``make run`` calls); production sets ``AFTERTAP_SECRET_KEY``.

A web server checks every secret and file it needs at start-up and refuses to start without
them. The ``flask`` command does not: most commands need none (``journeys validate``,
``sun inspect``, every ``--help``), so each secret or file is checked by the command that uses it
(``required``), which names the missing setting in one line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    # Only a type here: a command that starts without the app (aftertap-tap) never loads Flask.
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
        # The dashboards' reads (insights panels and export), e.g. a read replica; None: the
        # main database. Read-only either way (app.core.db.analytics_session).
        "ANALYTICS_DATABASE_URL": None,
        "SECRET_KEY": None,
        # Password of the brand-side admin pages (user "admin"); unset: those pages do not exist.
        "ADMIN_PASSWORD": None,
        "ADMIN_PASSWORD_FILE": str(INSTANCE_DIR / "admin_password"),
        # Password of user "till" (shops' POS): it may only check and redeem reward codes.
        "TILL_PASSWORD": None,
        # ADMIN_PASSWORD / TILL_PASSWORD (HTTP Basic, all brands) are for development; false
        # refuses them (401) so only staff accounts and API tokens get in. Set false in production.
        "ALLOW_DEV_PASSWORDS": True,
        # -- staff (app.core.staff) -------------------------------------------------------------
        # A staff sign-in lasts this long; a new account's set-password link and a reset link
        # are valid this long.
        "STAFF_SESSION_HOURS": 12,
        "STAFF_SET_LINK_HOURS": 72,
        "STAFF_RESET_LINK_MINUTES": 30,
        "SECRET_KEY_FILE": str(INSTANCE_DIR / "secret_key"),
        "KEYS_FILE": str(INSTANCE_DIR / "keys.toml"),
        # How often each process looks for a changed keys file (a tap that verifies under no
        # known key version looks at once); negative: only on such taps.
        "KEYS_RELOAD_SECONDS": 2.0,
        "RULESETS_DIR": str(PROJECT_ROOT / "rulesets"),
        # How often each process looks for newly published rulesets (and edited files, which
        # are drafts); negative: never after start.
        "RULESETS_RELOAD_SECONDS": 2.0,
        # Development and tests: a valid file in RULESETS_DIR serves its brand while the brand
        # has no published version. Off in production: only published versions serve.
        "RULESETS_SERVE_FILES": False,
        # Name of a header set by a proxy we trust (e.g. "CF-IPCountry"). None: trust nothing.
        "TRUSTED_COUNTRY_HEADER": None,
        # Detail rows kept per hour for failed taps; beyond it only hourly counts grow, so a
        # flood of forged URLs cannot fill the disk.
        "FAILED_TAP_DETAIL_PER_HOUR": 5000,
        # The /demo page mints simulated taps for demo key versions; off unless asked for.
        "DEMO": False,
        # /bench/verify-only: a stateless verifier page (verify the SUN message, render a small
        # page, no database), the yardstick bench/tap_throughput.py holds the tap to. Only the
        # bench turns it on: it would answer any valid URL any number of times.
        "BENCH_VERIFY_ONLY": False,
        # Brand a command assumes when given no --brand (rewards codes import). Never used for
        # taps: a tap tied to no brand, or to a brand with no ruleset, gets a neutral page.
        "DEFAULT_BRAND": "maison-aurelia",
        "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
        # Brands' product images, one folder per brand: <ASSETS_DIR>/<brand-slug>/<file>.
        # `products import` checks the files named there; /assets serves the imported ones.
        "ASSETS_DIR": str(INSTANCE_DIR / "assets"),
        # Brands' looks and owner-only media, one folder per brand: <BRAND_ASSETS_DIR>/<slug>/
        # theme.yaml, its logo and fonts, and owner/ (films, posters). The repository's folder
        # holds the demo brands'; production points it at the brands' own.
        "BRAND_ASSETS_DIR": str(PROJECT_ROOT / "brand-assets"),
        # Seconds between looks at whether a brand's theme files changed (0: at every page).
        "THEME_CHECK_EVERY": 2.0,
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
        # A former owner's link to download or erase their data (sent to a confirmed address).
        "DATA_LINK_MINUTES": 60,
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
        # The delivery worker (app.core.outbox): how often it looks for due mail, how many it
        # takes at once, and how long it owns them (longer than a batch of SMTP timeouts, or a
        # second worker could send the same mail).
        "MAIL_POLL_SECONDS": 1.0,
        "MAIL_BATCH": 20,
        "MAIL_LEASE_SECONDS": 600,
        # Failed sends wait 30 s, 60 s, 120 s... (at most an hour, jittered), then give up after
        # a day, or sooner when the link the mail carries expires.
        "MAIL_RETRY_BASE_SECONDS": 30,
        "MAIL_RETRY_MAX_SECONDS": 3600,
        "MAIL_GIVE_UP_HOURS": 24,
        # -- the scheduler process (app.scheduler) ----------------------------------------------
        # On start, and on each late wake-up, slots missed at most this long ago still run once;
        # older ones are dropped. Also APScheduler's misfire_grace_time.
        "SCHEDULER_CATCH_UP_MINUTES": 360,
        # How often the scheduler's jobs follow newly published ruleset versions.
        "SCHEDULER_SYNC_SECONDS": 10.0,
        # Expired transfer offers and emailed links are deleted this long after they expire.
        "EXPIRED_LINKS_KEEP_DAYS": 7,
        # Failed taps' rows, and genuine taps' facts and shared location, are kept this long.
        "TAP_DETAIL_RETENTION_DAYS": 90,
        # -- provenance records -------------------------------------------------------------------
        # The house Ed25519 private key (PKCS#8 PEM): signs for brands without a key of their own.
        "PROVENANCE_KEY_FILE": str(INSTANCE_DIR / "provenance_ed25519.pem"),
        # Each brand's own keys (``flask provenance rotate-key BRAND``), looked at again every
        # few seconds so a rotation needs no restart; a brand without one uses the key above.
        "PROVENANCE_KEYS_DIR": str(INSTANCE_DIR / "provenance_keys"),
        "PROVENANCE_KEYS_RELOAD_SECONDS": 2.0,
        "PROVENANCE_VALID_DAYS": 90,
        # -- loyalty -------------------------------------------------------------------------
        # Points for behaviour outside journeys; AFTERTAP_LOYALTY_POINTS='{"review": 40, ...}'.
        "LOYALTY_POINTS": {"review": 40, "service": 50, "provenance": 25, "take_back": 200},
        # -- insights ---------------------------------------------------------------------------
        # Activation, funnel and abandonment (cohorts over every item a brand has) are recomputed
        # at most this often; rewards, messages, points and lift every refresh.
        "INSIGHTS_STATE_MINUTES": 15,
        # Taps younger than this are left to the next refresh and alert scan: a tap whose id
        # was drawn earlier may still be committing, and a mark moved past it would skip it.
        "INSIGHTS_SETTLE_SECONDS": 30,
        # Taps (and service requests, resales) one refresh counts at most: a long backlog is
        # caught up over several refreshes, none holding its transaction long.
        "INSIGHTS_REFRESH_MAX_TAPS": 50_000,
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
            "DATA_LINK_PER_ADDRESS": "10 per hour",
            "DATA_LINK_PER_RECIPIENT": "3 per hour",
            "TRANSFER_ACCEPT_PER_ADDRESS": "10 per minute",
            "TAP_PER_ADDRESS": "120 per minute",
            # Commerce events a shop or CRM sends in, per API token (POST /api/v1/events).
            "COMMERCE_EVENTS_PER_TOKEN": "600 per minute",
            # Staff password-reset requests, every attempt (the page answers the same whether
            # or not the account exists).
            "STAFF_RESET_PER_ADDRESS": "10 per hour",
            "STAFF_RESET_PER_RECIPIENT": "3 per hour",
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
    _check_database_url(config)


def _check_database_url(config: Mapping[str, Any]) -> None:
    if not config.get("DATABASE_URL"):
        raise ConfigurationError("AFTERTAP_DATABASE_URL is empty.")


def resolve(names: Iterable[str], environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Return the settings ``names`` as the app resolves them, without building the app.

    Each is its default, unless ``AFTERTAP_<NAME>`` is set: then its value read as JSON, or as
    text when it is not JSON, as ``Config.from_prefixed_env`` reads it for the app. Only the
    settings named are checked, so a command is not refused for a setting it does not use.

    Raises:
        ConfigurationError: ``DATABASE_URL`` is asked for and empty.
    """
    every = defaults()
    config: dict[str, Any] = {}
    for name in names:
        config[name] = every[name]
        if f"AFTERTAP_{name}" in environ:
            raw = environ[f"AFTERTAP_{name}"]
            try:
                config[name] = json.loads(raw)
            except ValueError:
                config[name] = raw
    if "DATABASE_URL" in config:
        _check_database_url(config)
    return config


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
