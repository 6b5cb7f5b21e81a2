"""Run the Alembic migrations programmatically (``flask db upgrade`` and the tests use this)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.db import make_engine

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported by the functions that migrate, not here: every `flask` command loads this
# module (the `db` group), and only `db upgrade` and the tests need Alembic (a fifth of a second).

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    """Return an Alembic config for the database at ``url``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision``.

    Raises:
        sqlalchemy.exc.OperationalError: the database cannot be reached.
    """
    from alembic import command

    _run(url, command.upgrade, revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` back to ``revision`` (tests of a migration's backfill).

    Raises:
        sqlalchemy.exc.OperationalError: the database cannot be reached.
    """
    from alembic import command

    _run(url, command.downgrade, revision)


def _run(url: str, step: Callable[[Config, str], None], revision: str) -> None:
    engine = make_engine(url)
    try:
        # SQLite needs its DDL outside BEGIN IMMEDIATE's implicit handling; a plain connection
        # with Alembic's own transaction works on both backends.
        with engine.begin() as conn:
            config = alembic_config(url)
            config.attributes["connection"] = conn
            step(config, revision)
    finally:
        engine.dispose()


def current(url: str) -> str | None:
    """Return the database's current revision, or None if it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
