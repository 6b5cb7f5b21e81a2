"""Verify: NTAG 424 DNA SUN messages, the tag registry and the replay defence. No routes: the
tap routes live in ``app.tap``."""

from __future__ import annotations

from pathlib import Path

from flask import Flask


def init_app(app: Flask) -> None:
    """Load the key versions.

    Raises:
        app.core.settings.ConfigurationError: the keys file is missing or invalid.
    """
    from app.core.settings import ConfigurationError
    from app.verify.keys import KeyFileError, load_key_versions

    path = Path(app.config["KEYS_FILE"])
    if not path.is_file():
        raise ConfigurationError(
            f"AFTERTAP_KEYS_FILE points to {path}, which does not exist. Create it (see README, "
            "'Keys'), or run `make run` once to generate random demo keys."
        )
    try:
        app.extensions["aftertap.keys"] = load_key_versions(path)
    except KeyFileError as exc:
        raise ConfigurationError(str(exc)) from exc
