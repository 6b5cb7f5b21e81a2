"""What the factory does before a server's first request, and leaves to a command's first use.

The ``flask`` command builds the app for one command (``tags tap`` must start in half a second,
bench/cli_startup.py), so work only requests need is not done then; a server does it at start-up,
so no request pays for it.
"""

from __future__ import annotations

import click
import pytest
from argon2 import PasswordHasher

from app import create_app
from app.api import views
from app.core import staff


@pytest.fixture
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staff, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    monkeypatch.setattr(staff, "_DUMMY_HASH", None)


def _built_by_the_command(settings: dict[str, object]) -> None:
    with click.Context(click.Command("flask")):
        create_app(settings)


def test_a_server_parses_the_openapi_document_before_its_first_request(settings):
    views.document.cache_clear()
    create_app(settings)
    assert views.document.cache_info().currsize == 1


def test_a_command_leaves_the_openapi_document_unparsed(settings):
    views.document.cache_clear()
    _built_by_the_command(settings)
    assert views.document.cache_info().currsize == 0
    assert views.document()["openapi"].startswith("3.1")


def test_a_server_makes_the_dummy_password_hash_before_the_first_sign_in(settings, cheap_hashes):
    create_app(settings)
    made = staff._DUMMY_HASH
    assert made is not None
    assert staff.dummy_hash() == made


def test_a_command_makes_the_dummy_password_hash_only_when_it_signs_someone_in(settings,
                                                                              cheap_hashes):
    _built_by_the_command(settings)
    assert staff._DUMMY_HASH is None
    assert staff.dummy_hash().startswith("$argon2id$")
