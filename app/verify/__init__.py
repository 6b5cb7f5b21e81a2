"""Verify: NTAG 424 DNA SUN messages, the tag registry and the replay defence. No routes: the
tap routes live in ``app.tap``."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from app.core.settings import required
from app.verify.keys import Keyring

KEYS = "aftertap.keys"


def init_app(app: Flask) -> None:
    """Load the key versions (``keyring(app)`` returns them, reloaded when the file changes).

    Raises:
        app.core.settings.ConfigurationError: the keys file is missing or invalid, and the app
            is built to serve (a command that needs keys says so itself).
    """
    from app.core.settings import ConfigurationError, defer
    from app.verify.keys import KeyFileError

    path = Path(app.config["KEYS_FILE"])
    problem = None
    if not path.is_file():
        problem = (
            f"AFTERTAP_KEYS_FILE points to {path}, which does not exist. Create it (see README, "
            "'Keys'), or run `make run` once to generate random demo keys."
        )
    else:
        try:
            app.extensions[KEYS] = Keyring(path, float(app.config["KEYS_RELOAD_SECONDS"]))
        except KeyFileError as exc:
            problem = str(exc)
    if problem is not None:
        if app.extensions.get("aftertap.serving", True):
            raise ConfigurationError(problem)
        defer(app, KEYS, problem)


def keyring(app: Flask) -> Keyring:
    """Return the app's key versions, by name, as the keys file holds them now.

    Raises:
        app.core.settings.MissingSetting: the keys file is missing or invalid.
    """
    keys: Keyring = required(app, KEYS)
    return keys
