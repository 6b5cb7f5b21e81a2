"""Shared fixtures: ``app``, ``client``, ``runner``, ``db`` — on SQLite and on PostgreSQL.

Every test that uses ``app`` runs once per backend. The schema is built by running the Alembic
migrations once per backend into a template, which each test then copies, so tests are isolated
and still exercise the real migrations. PostgreSQL is required when ``CI=true``; elsewhere its
tests skip with the reason when no server answers.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app import create_app
from app.core import outbox
from app.core.db import make_engine
from app.core.migrate import upgrade
from app.provenance.keys import write_key_file
from app.verify.keys import load_key_versions, write_demo_keys_file

REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get(
    "AFTERTAP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ["sqlite", "postgresql"]
_db_names = itertools.count()


def _pg_admin_engine():  # type: ignore[no-untyped-def]
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    try:
        admin = _pg_admin_engine()
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        message = f"PostgreSQL is not reachable at {PG_URL} ({type(exc).__name__})"
        if IN_CI:
            pytest.fail(f"{message}; CI requires it", pytrace=False)
        pytest.skip(f"{message}; set AFTERTAP_TEST_PG_URL to run these tests")
    name = f"aftertap_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    upgrade(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test, on the parametrised backend."""
    if request.param == "sqlite":
        path = tmp_path / "aftertap.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"aftertap_t_{os.getpid()}_{next(_db_names)}"
    admin = _pg_admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A keys file with random keys: a simulating demo version, a tamper one and a retired one."""
    path = tmp_path_factory.mktemp("keys") / "keys.toml"
    write_demo_keys_file(path, name="test-2026")
    extra = tmp_path_factory.mktemp("keys2") / "more.toml"
    write_demo_keys_file(extra, name="tamper-2026")
    tamper = extra.read_text().replace("tag_tamper = false", "tag_tamper = true")
    extra2 = tmp_path_factory.mktemp("keys3") / "more.toml"
    write_demo_keys_file(extra2, name="old-2025")
    retired = extra2.read_text().replace("retired = false", "retired = true")
    path.write_text(path.read_text() + "\n" + tamper + "\n" + retired)
    assert set(load_key_versions(path)) == {"test-2026", "tamper-2026", "old-2025"}
    return path


@pytest.fixture(scope="session")
def provenance_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random Ed25519 signing key for provenance records."""
    path = tmp_path_factory.mktemp("provenance") / "provenance_ed25519.pem"
    write_key_file(path)
    return path


@pytest.fixture
def settings(
    database_url: str, keys_file: Path, provenance_key_file: Path, tmp_path: Path
) -> dict[str, object]:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-" + "x" * 40,
        "KEYS_FILE": str(keys_file),
        "RULESETS_DIR": str(REPO / "rulesets"),
        # A fresh test database has no published ruleset: the repo's files serve their brands.
        "RULESETS_SERVE_FILES": True,
        "PUBLIC_BASE_URL": "http://localhost",
        # Never pick up a developer's instance/admin_password from `make run`.
        "ADMIN_PASSWORD_FILE": str(keys_file.parent / "no-admin-password"),
        "PROVENANCE_KEY_FILE": str(provenance_key_file),
        # Brands' own keys: none until a test rotates one in.
        "PROVENANCE_KEYS_DIR": str(tmp_path / "provenance_keys"),
        # Without an SMTP server, mail lands here (tests that need real SMTP set SMTP_HOST).
        "MAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
    }


@pytest.fixture
def app(settings: dict[str, object]):  # type: ignore[no-untyped-def]
    app = create_app(settings)
    yield app
    app.extensions["aftertap.db"].engine.dispose()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def runner(app):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


@pytest.fixture
def db(app):  # type: ignore[no-untyped-def]
    """A session on the test database, outside any request; closed after the test.

    On SQLite it runs each statement in its own transaction, like PostgreSQL's read committed, so
    it sees what requests commit and never holds the write lock a request is waiting for.
    """
    engine = make_engine(app.config["DATABASE_URL"], sqlite_begin=None)
    session = Session(engine, expire_on_commit=False)
    yield session
    session.rollback()
    session.close()
    engine.dispose()


@pytest.fixture
def keyring(app):  # type: ignore[no-untyped-def]
    return app.extensions["aftertap.keys"]


class Mailbox:
    """Messages received by the loopback SMTP server, in arrival order.

    Set ``refuse`` to a reply (e.g. "550 5.1.1 No such user") to refuse every recipient.
    """

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.host = "127.0.0.1"
        self.port = 0
        self.refuse: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.messages.append(message_from_bytes(envelope.content, policy=email_policy.default))
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        """Return the messages once ``count`` have arrived (fails after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.messages) >= count, f"expected {count} email(s), got {len(self.messages)}"
        return self.messages


@pytest.fixture
def smtp(app) -> Iterator[Mailbox]:  # type: ignore[no-untyped-def]
    """A real SMTP server on loopback that the app's mail goes to (nothing sends by itself)."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        box.port = probe.getsockname()[1]
    controller = Controller(box, hostname=box.host, port=box.port)
    controller.start()
    app.config.update(SMTP_HOST=box.host, SMTP_PORT=box.port)
    yield box
    controller.stop()


@pytest.fixture
def mailbox(app, smtp: Mailbox) -> Iterator[Mailbox]:  # type: ignore[no-untyped-def]
    """The loopback SMTP server, with the outbox's delivery worker running as in production."""
    stop = threading.Event()
    worker = threading.Thread(
        target=outbox.run_worker,
        args=(app.extensions["aftertap.db"].sessionmaker, app.config, stop, 0.02),
        name="mail-worker", daemon=True,
    )
    worker.start()
    yield smtp
    stop.set()
    worker.join(timeout=10)
