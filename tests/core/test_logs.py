"""No personal data in any log: an owner's email address and review text sent through failing
paths never reach the captured logs (SQLAlchemy's included, at DEBUG), while the failure does."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select

from app import create_app
from app.catalog.models import Owner
from app.core import security
from app.rewards.models import ProductReview
from tests.factories import item_path, post_form, tagged_item, tap

EMAIL = "ana.personal@example.org"
REVIEW = "My grandmother's initials are stitched inside"


@pytest.fixture
def logs(caplog):  # type: ignore[no-untyped-def]
    """Every record at DEBUG, SQLAlchemy's statement log included."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    return caplog


def _everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Return each record's message, arguments and traceback text, formatted as handlers would."""
    return caplog.text + "\n".join(repr(r.args) for r in caplog.records)


@pytest.fixture
def failing_inserts(app) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """Make the database itself refuse INSERTs into the tables named in the returned list."""
    tables: list[str] = []
    engine = app.extensions["aftertap.db"].engine

    def _break(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> tuple[str, Any]:
        for table in tables:
            # A real driver error, raised by the database with these very parameters.
            statement = statement.replace(f"INSERT INTO {table} ", f"INSERT INTO missing_{table} ")
        return statement, parameters

    event.listen(engine, "before_cursor_execute", _break, retval=True)
    yield tables
    event.remove(engine, "before_cursor_execute", _break)


def _owner(app, db, keyring):  # type: ignore[no-untyped-def]
    tag = tagged_item(db)
    phone = app.test_client()
    assert tap(phone, db, keyring, tag).status_code == 200
    return tag, phone


def test_an_email_request_that_fails_logs_the_failure_not_the_address(
    app, db, keyring, logs, failing_inserts
):
    tag, phone = _owner(app, db, keyring)
    failing_inserts.append("owner_tokens")
    resp = post_form(phone, item_path(tag, "email"), {"email": EMAIL, "opt_in": "yes"})
    assert resp.status_code >= 500  # the database failed: the owner is asked to try again
    assert EMAIL not in resp.get_data(as_text=True)
    logged = _everything_logged(logs)
    assert [r for r in logs.records if r.name == "app.core.errors" and r.levelno >= logging.ERROR]
    assert "INSERT INTO missing_owner_tokens" in logged  # SQLAlchemy's log was captured ...
    assert EMAIL not in logged  # ... yet the address is nowhere
    assert EMAIL.split("@")[0] not in logged


def test_a_review_that_fails_logs_the_failure_not_the_text(
    app, db, keyring, logs, failing_inserts
):
    tag, phone = _owner(app, db, keyring)
    failing_inserts.append("product_reviews")
    resp = post_form(phone, item_path(tag, "review"), {"rating": "5", "text": REVIEW})
    assert resp.status_code >= 500
    logged = _everything_logged(logs)
    assert [r for r in logs.records if r.name == "app.core.errors" and r.levelno >= logging.ERROR]
    assert "INSERT INTO missing_product_reviews" in logged
    assert REVIEW not in logged
    db.expire_all()
    assert db.scalar(select(ProductReview.id)) is None


def test_an_unhandled_error_logs_its_type_and_stack_but_not_its_message(settings, logs):
    app = create_app(settings)

    @app.post("/_test/bug")
    def _bug() -> str:
        raise ValueError(f"could not parse {EMAIL}")

    security.exempt("_bug")
    try:
        resp = app.test_client().post("/_test/bug")
    finally:
        app.extensions["aftertap.db"].engine.dispose()
    assert resp.status_code == 500
    (record,) = [r for r in logs.records if r.name == "app.core.errors"]
    text = record.getMessage()
    assert "ValueError" in text and "_bug" in text  # the type, and the frame it came from
    assert EMAIL not in _everything_logged(logs)


def test_stored_personal_data_read_back_is_not_logged_either(app, db, keyring, logs, mailbox):
    tag, phone = _owner(app, db, keyring)
    assert post_form(phone, item_path(tag, "email"), {"email": EMAIL}).status_code == 200
    (message,) = mailbox.wait_for(1)
    link = message.get_content().split("http://localhost", 1)[1].split()[0]
    assert post_form(phone, link).status_code == 200
    db.expire_all()
    assert db.scalar(select(Owner.email)) == EMAIL
    logs.clear()
    # The owner's page reads the owner row, address included: SQLAlchemy's row log must not.
    assert phone.get(item_path(tag, "owner")).status_code == 200
    logged = _everything_logged(logs)
    assert "FROM owners" in logged
    assert EMAIL not in logged
