"""Fixtures of the provenance tests: the app's signing key and its published form."""

from __future__ import annotations

import json

import pytest

from app.provenance import KEY_EXTENSION
from app.provenance.verification import public_jwks, public_keys_from_text


@pytest.fixture
def key(app):  # type: ignore[no-untyped-def]
    return app.extensions[KEY_EXTENSION]


@pytest.fixture
def public_keys(key):  # type: ignore[no-untyped-def]
    """The verifier's only input besides the file: the published JWK set, as JSON text."""
    return public_keys_from_text(json.dumps(public_jwks([key])))
