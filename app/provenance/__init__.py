"""Provenance records: brand-signed (Ed25519) statements about an item, for resale listings."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from app.core.settings import required
from app.provenance.keys import BrandKeys, SigningKey

KEY_EXTENSION = "aftertap.provenance_key"
BRAND_KEYS_EXTENSION = "aftertap.provenance_brand_keys"


def signing_key(app: Flask) -> SigningKey:
    """Return the house signing key (for brands that have no key of their own).

    Raises:
        app.core.settings.MissingSetting: the key file is missing or unusable.
    """
    key: SigningKey = required(app, KEY_EXTENSION)
    return key


def brand_keys(app: Flask) -> BrandKeys:
    """Return every brand's signing keys, current and retired, with the house key.

    Raises:
        app.core.settings.MissingSetting: the house key file is missing or unusable.
    """
    keys: BrandKeys = required(app, BRAND_KEYS_EXTENSION)
    return keys


def init_app(app: Flask) -> None:
    """Load the signing key (``signing_key(app)`` returns it); register routes, CLI and the
    owners' privacy contributor.

    Raises:
        app.core.settings.ConfigurationError: the key file is missing or holds no Ed25519
            private key and the app is built to serve (a command that needs the key says so
            itself), or ``PROVENANCE_VALID_DAYS`` is not a positive whole number.
    """
    from app.core import privacy as privacy_registry
    from app.core.settings import ConfigurationError, defer
    from app.provenance import cli, privacy, views
    from app.provenance.keys import ProvenanceKeyError, load_key_file

    how = ("Set AFTERTAP_PROVENANCE_KEY_FILE to an Ed25519 private key (PKCS#8 PEM), or run "
           "`make run` once to create a random development key.")
    path = Path(app.config["PROVENANCE_KEY_FILE"])
    problem = None
    if not path.is_file():
        problem = f"AFTERTAP_PROVENANCE_KEY_FILE points to {path}, which does not exist. {how}"
    else:
        try:
            house = app.extensions[KEY_EXTENSION] = load_key_file(path)
            app.extensions[BRAND_KEYS_EXTENSION] = BrandKeys(
                house, app.config["PROVENANCE_KEYS_DIR"],
                float(app.config["PROVENANCE_KEYS_RELOAD_SECONDS"]))
        except ProvenanceKeyError as exc:
            problem = f"AFTERTAP_PROVENANCE_KEY_FILE: {exc}. {how}"
    if problem is not None:
        if app.extensions.get("aftertap.serving", True):
            raise ConfigurationError(problem)
        # The flask command: only the commands that sign or publish need the key.
        defer(app, KEY_EXTENSION, problem)
        defer(app, BRAND_KEYS_EXTENSION, problem)
    try:
        days = int(app.config["PROVENANCE_VALID_DAYS"])
    except (TypeError, ValueError):
        days = 0
    if days < 1:
        raise ConfigurationError("AFTERTAP_PROVENANCE_VALID_DAYS must be a whole number of days "
                                 "above zero.")
    app.config["PROVENANCE_VALID_DAYS"] = days

    app.register_blueprint(views.bp)
    app.register_blueprint(views.api_bp)
    app.cli.add_command(cli.provenance_group)
    privacy_registry.register(privacy.PRIVACY)
