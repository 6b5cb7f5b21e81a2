"""Engines: ``make_engine`` with the per-backend settings the app relies on.

Apart from ``app.core.db`` (no Flask, no ORM) so a command that must start fast (``aftertap-tap``)
gets the same connection tuning as the app without paying for either.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine


class _NoRowLog(logging.Filter):
    """Drops SQLAlchemy's DEBUG log of each fetched row: rows hold owners' emails and texts."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Row %r" not in str(record.msg)


_NO_ROW_LOG = _NoRowLog()


def make_engine(
    url: str,
    *,
    sqlite_busy_timeout_ms: int = 15000,
    sqlite_begin: str | None = "BEGIN IMMEDIATE",
    **kwargs: Any,
) -> Engine:
    """Return an engine for ``url`` with the per-backend settings the app relies on.

    ``sqlite_begin`` is the statement that opens a SQLite transaction; None runs every statement
    in its own transaction (for observers such as tests, which must never hold the write lock).
    """
    # SQL parameters are owners' emails and texts: never in an error message or the SQL log.
    kwargs = {"hide_parameters": True, **kwargs}
    # Statements may still be logged (echo, or a DEBUG root logger); rows never are.
    logging.getLogger("sqlalchemy.engine.Engine").addFilter(_NO_ROW_LOG)
    if url.startswith("sqlite"):
        engine = create_engine(url, **kwargs)
        _tune_sqlite(engine, sqlite_busy_timeout_ms, sqlite_begin)
        return engine
    # Pre-ping: each checkout first tests its connection (one round trip, measured at 0.2 ms; a
    # request checks out once). Without it, after a database restart or a killed backend, the
    # first request of every worker meets a dead connection and fails with a 503 (SQLAlchemy then
    # invalidates the rest of that pool), however many minutes later it comes. With it, the dead
    # connection is replaced before any request uses it, so none fails (tests/core/test_db_pool).
    return create_engine(url, pool_recycle=1800, pool_pre_ping=True, **kwargs)


def _tune_sqlite(engine: Engine, busy_timeout_ms: int, begin: str | None) -> None:
    # WAL lets readers run beside the single writer; the busy timeout makes writers queue instead of
    # failing. BEGIN IMMEDIATE takes the write lock up front: a deferred transaction that reads and
    # then writes can fail with "database is locked" without waiting, which the timeout cannot help.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    if begin is None:
        return

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # An AUTOCOMMIT connection commits each statement: a BEGIN here would open a transaction
        # that nothing ever commits (its writes lost, the write lock held).
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            conn.exec_driver_sql(begin)
