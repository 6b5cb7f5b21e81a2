"""AFTERTAP_ANALYTICS_DATABASE_URL: dashboards read through a second, read-only engine (a read
replica), the main database by default."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app import create_app
from app.catalog.models import Brand
from app.catalog.service import get_or_create_brand
from app.core.clock import now
from app.core.db import analytics_session
from app.core.staff import MARKETER
from app.insights.models import CubeCell
from tests.admin.helpers import sign_in_as, staff_member

RO_ROLE = "aftertap_ro"


def _brand_with_a_cell(session: Session, slug: str) -> None:
    brand = Brand(slug=slug, name=slug)
    session.add(brand)
    session.flush()
    session.add(CubeCell(brand_id=brand.id, metric="taps", day=date(2026, 11, 2), product_id=0,
                         market="", country="", journey="", bucket="genuine", value=5))
    session.commit()


def _write_is_refused(app) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        session = analytics_session()
        with pytest.raises(DBAPIError):
            session.execute(text("INSERT INTO brands (slug, name) VALUES ('x', 'x')"))
        session.rollback()


def test_by_default_dashboards_read_the_main_database_and_never_write(app, db):
    _brand_with_a_cell(db, "maison-aurelia")
    with app.app_context():
        assert analytics_session().scalar(select(Brand.slug)) == "maison-aurelia"
    _write_is_refused(app)
    assert db.scalar(select(func.count()).select_from(Brand)) == 1


def test_the_session_is_one_per_context_and_closed_after(app):
    with app.app_context():
        first = analytics_session()
        assert analytics_session() is first
    with app.app_context():
        assert analytics_session() is not first


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_replica_opened_read_only(settings, database_url, db):
    _brand_with_a_cell(db, "maison-aurelia")
    path = make_url(database_url).database
    app = create_app({**settings,
                      "ANALYTICS_DATABASE_URL": f"sqlite:///file:{path}?mode=ro&uri=true"})
    try:
        with app.app_context():
            assert analytics_session().scalar(select(Brand.slug)) == "maison-aurelia"
        _write_is_refused(app)
        export = app.test_cli_runner().invoke(args=["insights", "export", "--from",
                                                    "2026-11-01", "--to", "2026-11-30"])
        assert export.exit_code == 0, export.output
        assert "maison-aurelia,taps,2026-11-02,,,,,genuine,5" in export.output
    finally:
        app.extensions["aftertap.analytics"].engine.dispose()
        app.extensions["aftertap.db"].engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_export_reads_the_analytics_database_not_the_main_one(settings, tmp_path: Path,
                                                             sqlite_template):
    replica = tmp_path / "replica.db"
    shutil.copy(sqlite_template, replica)
    engine = create_engine(f"sqlite:///{replica}")
    with Session(engine) as session:
        _brand_with_a_cell(session, "only-on-the-replica")
    engine.dispose()
    app = create_app({**settings, "ANALYTICS_DATABASE_URL": f"sqlite:///{replica}"})
    try:
        export = app.test_cli_runner().invoke(args=["insights", "export", "--from",
                                                    "2026-11-01", "--to", "2026-11-30"])
        assert export.exit_code == 0, export.output
        assert "only-on-the-replica" in export.output
    finally:
        app.extensions["aftertap.analytics"].engine.dispose()
        app.extensions["aftertap.db"].engine.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_read_only_role_reads_and_cannot_write(settings, database_url, db):
    _brand_with_a_cell(db, "maison-aurelia")
    url = make_url(database_url)
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        # A role of the server (it outlives this test's database): created once, reused.
        conn.execute(text(f"DO $$ BEGIN CREATE ROLE {RO_ROLE} LOGIN; "
                          "EXCEPTION WHEN duplicate_object THEN NULL; END $$"))
        conn.execute(text(f"ALTER ROLE {RO_ROLE} SET default_transaction_read_only = on"))
        conn.execute(text(f'GRANT CONNECT ON DATABASE "{url.database}" TO {RO_ROLE}'))
        conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {RO_ROLE}"))
        conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {RO_ROLE}"))
    admin.dispose()
    replica_url = url.set(username=RO_ROLE, password=None).render_as_string(hide_password=False)

    # The role itself refuses writes, whatever the app does.
    raw = create_engine(replica_url)
    with raw.connect() as conn, pytest.raises(DBAPIError, match="read-only transaction"):
        conn.execute(text("INSERT INTO brands (slug, name) VALUES ('x', 'x')"))
    with raw.connect() as conn, pytest.raises(DBAPIError, match="permission denied"):
        conn.execute(text("SET TRANSACTION READ WRITE"))
        conn.execute(text("INSERT INTO brands (slug, name) VALUES ('x', 'x')"))
    raw.dispose()

    app = create_app({**settings, "ANALYTICS_DATABASE_URL": replica_url})
    try:
        with app.app_context():
            session = analytics_session()
            assert session.scalar(text("SELECT current_user")) == RO_ROLE
            assert session.scalar(select(Brand.slug)) == "maison-aurelia"
        _write_is_refused(app)
        export = app.test_cli_runner().invoke(args=["insights", "export", "--from",
                                                    "2026-11-01", "--to", "2026-11-30",
                                                    "--brand", "maison-aurelia"])
        assert export.exit_code == 0, export.output
        assert "maison-aurelia,taps,2026-11-02,,,,,genuine,5" in export.output
    finally:
        app.extensions["aftertap.analytics"].engine.dispose()
        app.extensions["aftertap.db"].engine.dispose()
    assert db.scalar(select(func.count()).select_from(Brand)) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_dashboard_reads_the_analytics_database_not_the_main_one(settings, db, tmp_path: Path,
                                                                   sqlite_template):
    brand = get_or_create_brand(db, "maison-aurelia", "Maison Aurelia")
    db.commit()
    replica = tmp_path / "replica.db"
    shutil.copy(sqlite_template, replica)
    engine = create_engine(f"sqlite:///{replica}")
    with Session(engine) as session:
        copy = get_or_create_brand(session, "maison-aurelia", "Maison Aurelia")
        assert copy.id == brand.id
        session.add(CubeCell(brand_id=copy.id, metric="taps", day=now().date(), product_id=0,
                             market="", country="", journey="", bucket="genuine", value=424_242))
        session.commit()
    engine.dispose()
    app = create_app({**settings, "ANALYTICS_DATABASE_URL": f"sqlite:///{replica}"})
    try:
        client = app.test_client()
        sign_in_as(client, staff_member(db, brand.id, MARKETER, password=None))
        response = client.get("/admin/insights?grain=day")
        assert response.status_code == 200
        assert "424,242" in response.get_data(as_text=True)
    finally:
        app.extensions["aftertap.analytics"].engine.dispose()
        app.extensions["aftertap.db"].engine.dispose()
