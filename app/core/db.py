"""Database: one declarative ``Base``, an engine per app, a session per request.

SQLite is the embedded default and PostgreSQL the production path; the engine is tuned for each so
the same code is correct on both (``make_engine``, in ``app.core.engine``).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from datetime import datetime
from typing import Any

from flask import Flask, g, request
from sqlalchemy import Column, DateTime, MetaData, Table, event, literal_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from app.core.clock import utc
from app.core.engine import make_engine  # here too: most callers import it from app.core.db

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A moment, always UTC and time-zone aware in Python, on both backends.

    PostgreSQL stores ``timestamptz``. SQLite has no time zone type: values are stored as UTC text
    without an offset (so text comparison orders them) and come back aware. Every model's time
    column uses this type, so no code needs its own "make this UTC" helper for stored values.
    """

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else utc(value)


def dialect_insert(conn: Connection | Session) -> Any:
    """Return the backend's ``insert`` (PostgreSQL or SQLite), which has ``on_conflict_*``."""
    name = conn.get_bind().dialect.name if isinstance(conn, Session) else conn.dialect.name
    return postgresql.insert if name == "postgresql" else sqlite.insert


@functools.cache
def _insert_ignore(
    dialect: str,
    table: Table,
    returning: Column[Any] | None,
    index_elements: tuple[Column[Any], ...] | None,
    index_where: ColumnElement[bool] | None,
) -> Insert:
    insert_for = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert_for(table).on_conflict_do_nothing(
        index_elements=list(index_elements) if index_elements else None, index_where=index_where
    )
    # RETURNING, not rowcount: psycopg reports -1 for INSERT ... ON CONFLICT DO NOTHING.
    return statement.returning(returning if returning is not None else literal_column("1"))


def insert_ignore(
    session: Session,
    table: Table,
    values: dict[str, Any] | list[dict[str, Any]],
    *,
    returning: Column[Any] | None = None,
    index_elements: tuple[Column[Any], ...] | None = None,
    index_where: ColumnElement[bool] | None = None,
) -> Any:
    """Insert ``values`` into ``table`` unless a unique key already holds them.

    Returns ``returning``'s value for the new row (None when nothing was inserted) or, without
    ``returning``, the number of rows inserted (0 or 1). ``index_elements`` and ``index_where``
    name a partial unique index as the conflict target. The statement is built once per backend.

    ``values`` may be a list of rows, inserted as one multi-row statement (split only where the
    driver's parameter limit requires): then the result is the list of ``returning``'s values
    of the new rows or, without ``returning``, their number.
    """
    conn = session.connection()
    statement = _insert_ignore(conn.dialect.name, table, returning, index_elements, index_where)
    if isinstance(values, list):
        if not values:
            return [] if returning is not None else 0
        many = conn.execute(statement.execution_options(insertmanyvalues_page_size=len(values)),
                            values).all()
        return len(many) if returning is None else [row[0] for row in many]
    rows = conn.execute(statement, values).all()
    if returning is None:
        return len(rows)
    return rows[0][0] if rows else None


def update_rows(session: Session, statement: Any, params: dict[str, Any] | None = None) -> int:
    """Run an UPDATE or DELETE as one statement (no ORM synchronisation); return rows changed.

    ``params`` fill a statement built once with ``bindparam``. Conditional UPDATEs decide races:
    their row counts say who won.
    """
    result = session.execute(statement, params,
                             execution_options={"synchronize_session": False})
    return int(result.rowcount)  # type: ignore[attr-defined]


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _close(session: Session | None) -> None:
    if session is None:
        return
    try:
        # Anything not committed by the view is abandoned, never half-applied.
        session.rollback()
    except DBAPIError as exc:
        # The connection died after the view's last statement (a database restart): the server
        # has already abandoned that transaction, and the answer the view built stands. Raising
        # here, in the teardown, would turn it into a 500.
        if not exc.connection_invalidated:
            raise
    finally:
        session.close()


class Database:
    """Flask extension holding the engine; ``session`` is the current request's session."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.sessionmaker: sessionmaker[Session] | None = None
        self._writer_lock: threading.RLock | None = None

    def init_app(self, app: Flask) -> None:
        self.engine = make_engine(
            app.config["DATABASE_URL"],
            sqlite_busy_timeout_ms=app.config["SQLITE_BUSY_TIMEOUT_MS"],
        )
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        # Re-entrant: a request that holds its turn (below) may enter writer() again.
        self._writer_lock = threading.RLock() if self.engine.dialect.name == "sqlite" else None
        app.extensions["aftertap.db"] = self

        @app.before_request
        def _writer_turn() -> None:
            # On SQLite every transaction takes the database's write lock at BEGIN, even one that
            # starts with a read (an access check). A request that took it and then waited for
            # this process's writer turn would deadlock with a thread holding the turn and
            # waiting for the database. So a request that may write takes its turn first, for
            # its whole transaction.
            if self._writer_lock is not None and request.method not in _SAFE_METHODS:
                self._writer_lock.acquire()
                g.db_writer_turn = True

        @app.teardown_request
        def _end_turn(_exc: BaseException | None) -> None:
            if g.pop("db_writer_turn", False):
                _close(g.pop("db_session", None))
                assert self._writer_lock is not None
                self._writer_lock.release()

        @app.teardown_appcontext
        def _close_session(_exc: BaseException | None) -> None:
            _close(g.pop("db_session", None))

    def writer(self) -> contextlib.AbstractContextManager[object]:
        """Return a context that serialises this process's write transactions on SQLite.

        SQLite allows one writer; waiting writers poll with growing sleeps (1, 2, 5, 10... ms),
        which turns contention into long tail latency. Queuing this process's writers on a lock
        hands the database over without sleeping. A no-op on PostgreSQL, where rows lock alone.
        """
        return self._writer_lock if self._writer_lock is not None else contextlib.nullcontext()

    @property
    def session(self) -> Session:
        if "db_session" not in g:
            assert self.sessionmaker is not None, "Database.init_app was not called"
            g.db_session = self.sessionmaker()
        session: Session = g.db_session
        return session


db = Database()


def make_read_engine(url: str, *, sqlite_busy_timeout_ms: int = 15000) -> Engine:
    """Return an engine whose every transaction is read-only, for ``url``.

    Read-only here, whatever the URL's role may do, so a dashboard pointed at the main database
    (the default) can never write either: SQLite's ``query_only`` refuses writes on the
    connection, PostgreSQL's ``default_transaction_read_only`` makes each transaction read-only
    (a write fails with ``ReadOnlySqlTransaction``). On SQLite a transaction begins deferred:
    a reader never takes the write lock, and WAL gives it a snapshot beside the writer.
    """
    if url.startswith("sqlite"):
        engine = make_engine(url, sqlite_busy_timeout_ms=sqlite_busy_timeout_ms,
                             sqlite_begin="BEGIN")

        # Registered after make_engine's own listener, which may still set WAL mode.
        @event.listens_for(engine, "connect")
        def _query_only(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA query_only=ON")

        return engine
    return make_engine(url, connect_args={"options": "-c default_transaction_read_only=on"})


class AnalyticsDatabase:
    """Flask extension for the dashboards' reads (insights panels, exports): an engine on
    ``ANALYTICS_DATABASE_URL`` (a read replica), else on ``DATABASE_URL``; read-only either way
    (``make_read_engine``). ``session`` is the current app context's session, rolled back and
    closed when the context ends. A replica lags its primary: what it shows may be seconds old.
    """

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.sessionmaker: sessionmaker[Session] | None = None

    def init_app(self, app: Flask) -> None:
        self.engine = make_read_engine(
            app.config.get("ANALYTICS_DATABASE_URL") or app.config["DATABASE_URL"],
            sqlite_busy_timeout_ms=app.config["SQLITE_BUSY_TIMEOUT_MS"],
        )
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        app.extensions["aftertap.analytics"] = self

        @app.teardown_appcontext
        def _close_session(_exc: BaseException | None) -> None:
            _close(g.pop("analytics_session", None))

    @property
    def session(self) -> Session:
        if "analytics_session" not in g:
            assert self.sessionmaker is not None, "AnalyticsDatabase.init_app was not called"
            g.analytics_session = self.sessionmaker()
        session: Session = g.analytics_session
        return session


analytics = AnalyticsDatabase()


def analytics_session() -> Session:
    """Return the read-only session dashboards read through (one per request or command).

    Only reads: a write raises (``sqlalchemy.exc.OperationalError`` on SQLite,
    ``InternalError`` wrapping ``ReadOnlySqlTransaction`` on PostgreSQL).
    """
    return analytics.session
