"""Stale connections: pooled PostgreSQL connections killed behind the app's back (as a database
restart does) are replaced before any request uses them, so no request fails with a 503."""

from __future__ import annotations

import pytest
from flask import request
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from tests.factories import JSON_ACCEPT, item_path, tagged_item, tap, tap_url


def _kill_other_connections(url: URL) -> int:
    """Terminate every other backend on ``url``'s database (this test's own); return how many."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return len(conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )).all())
    finally:
        admin.dispose()


@pytest.mark.postgres_only
def test_no_request_fails_after_pooled_connections_are_killed(app, db, keyring):
    engine = app.extensions["aftertap.db"].engine
    if engine.dialect.name != "postgresql":
        pytest.skip("server-side connection loss needs PostgreSQL")
    tag = tagged_item(db)
    phone = app.test_client()
    assert tap(phone, db, keyring, tag).status_code == 200
    urls = [tap_url(db, keyring, tag) for _ in range(6)]
    db.commit()
    # Fill the pool with several idle connections, as a busy worker leaves it.
    held = [engine.connect() for _ in range(3)]
    for conn in held:
        conn.execute(text("SELECT 1"))
        conn.close()
    assert engine.pool.checkedin() >= 3
    assert _kill_other_connections(engine.url) >= 3

    responses = [phone.get(url, headers=JSON_ACCEPT) for url in urls]
    assert [r.status_code for r in responses] == [200] * len(urls)  # not one "try again"
    assert [r.get_json()["verdict"] for r in responses] == ["genuine"] * len(urls)
    assert [r.get_json()["counter"] for r in responses] == list(range(2, 2 + len(urls)))


@pytest.mark.postgres_only
def test_a_page_built_before_its_connection_died_is_still_answered(app, db, keyring):
    """Found by bench/fault_drill.py: when the database restarts after a view's last read, the
    request's teardown rolled back on the dead connection, that raised, and gunicorn answered
    500 instead of the page already built. The server has abandoned that transaction itself."""
    engine = app.extensions["aftertap.db"].engine
    if engine.dialect.name != "postgresql":
        pytest.skip("server-side connection loss needs PostgreSQL")
    terminated: list[bool] = []

    @app.after_request
    def _restart_under_the_owner_page(response):  # type: ignore[no-untyped-def]
        if request.endpoint == "tap.owner":
            # The view's own transaction is still open on this connection: end its backend, as
            # a database restart does, between the view and the teardown.
            conn = app.extensions["aftertap.db"].session.connection()
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            admin = create_engine(engine.url, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as other:
                    terminated.append(bool(other.execute(
                        text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}
                    ).scalar()))
            finally:
                admin.dispose()
        return response

    tag = tagged_item(db)
    phone = app.test_client()
    assert tap(phone, db, keyring, tag).status_code == 200
    page = phone.get(item_path(tag, "owner"))
    assert terminated == [True]
    assert page.status_code == 200
    # The next request gets a fresh connection from the pool (pre-ping) and works.
    assert phone.get(item_path(tag, "owner")).status_code == 200
