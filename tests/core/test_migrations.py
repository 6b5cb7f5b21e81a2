"""The migrations are the schema: they build every table the models use, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app import models as _models  # noqa: F401 - every table on Base.metadata
from app.core.db import Base, make_engine
from app.core.migrate import current


def test_models_and_migrations_agree(database_url):
    engine = make_engine(database_url, sqlite_begin=None)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_database_is_at_head(database_url):
    # The newest migration file, named by hand so a new one is noticed here too.
    assert current(database_url) == "0019"
