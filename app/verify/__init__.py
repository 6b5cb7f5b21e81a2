"""Verify: NTAG 424 DNA SUN messages, the tag registry and the replay defence. No routes: the
tap routes live in ``app.tap``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.core.settings import required
from app.verify.keys import Keyring, KeysUnavailable, open_keyring

if TYPE_CHECKING:
    # Only a type here: aftertap-tap (app.verify.quicktap) starts without Flask.
    from flask import Flask

KEYS = "aftertap.keys"


def init_app(app: Flask) -> None:
    """Load the key versions (``keyring(app)`` returns them, reloaded when the file changes).

    Raises:
        app.core.settings.ConfigurationError: the keys file is missing or invalid, and the app
            is built to serve (a command that needs keys says so itself).
    """
    from app.core.settings import ConfigurationError, defer

    try:
        app.extensions[KEYS] = open_keyring(app.config["KEYS_FILE"],
                                            float(app.config["KEYS_RELOAD_SECONDS"]))
    except KeysUnavailable as exc:
        if app.extensions.get("aftertap.serving", True):
            raise ConfigurationError(str(exc)) from None
        defer(app, KEYS, str(exc))


def keyring(app: Flask) -> Keyring:
    """Return the app's key versions, by name, as the keys file holds them now.

    Raises:
        app.core.settings.MissingSetting: the keys file is missing or invalid.
    """
    keys: Keyring = required(app, KEYS)
    return keys
