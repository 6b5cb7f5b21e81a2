"""Provenance records: brand-signed (Ed25519) statements about an item, for resale listings."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

KEY_EXTENSION = "aftertap.provenance_key"


def init_app(app: Flask) -> None:
    """Load the signing key into ``app.extensions[KEY_EXTENSION]``; register routes and CLI.

    Raises:
        app.core.settings.ConfigurationError: the key file is missing or holds no Ed25519
            private key, or ``PROVENANCE_VALID_DAYS`` is not a positive whole number.
    """
    from app.core.settings import ConfigurationError
    from app.provenance import cli, views
    from app.provenance.keys import ProvenanceKeyError, load_key_file

    how = ("Set AFTERTAP_PROVENANCE_KEY_FILE to an Ed25519 private key (PKCS#8 PEM), or run "
           "`make run` once to create a random development key.")
    path = Path(app.config["PROVENANCE_KEY_FILE"])
    if not path.is_file():
        raise ConfigurationError(
            f"AFTERTAP_PROVENANCE_KEY_FILE points to {path}, which does not exist. {how}"
        )
    try:
        app.extensions[KEY_EXTENSION] = load_key_file(path)
    except ProvenanceKeyError as exc:
        raise ConfigurationError(f"AFTERTAP_PROVENANCE_KEY_FILE: {exc}. {how}") from exc
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
