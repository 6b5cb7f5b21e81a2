"""The last-resort handlers: a bug is a calm 500 and a log line without request data; a database
that cannot answer is a 503 the person may retry."""

from __future__ import annotations

import logging

import pytest
from flask import request
from sqlalchemy.exc import OperationalError

SECRET = "ana@example.com"


class _Boom(RuntimeError):
    pass


@pytest.fixture
def failing(app):  # type: ignore[no-untyped-def]
    """The test app with two routes that fail the way a bug and a lost database do."""

    @app.get("/_test/bug")
    def _bug():  # type: ignore[no-untyped-def]
        # Exception messages quote what the request carried, as SQL errors quote parameters.
        form = request.args
        try:
            raise ValueError(f"owner {form['email']} said: {form.get('review')}")
        except ValueError as exc:
            raise _Boom(f"while saving {form['email']}") from exc

    @app.get("/_test/db-down")
    def _db_down():  # type: ignore[no-untyped-def]
        raise OperationalError("SELECT * FROM owners WHERE email = %(email)s", {"email": SECRET},
                               ConnectionRefusedError(f"server closed the connection ({SECRET})"))

    return app.test_client()


def test_a_bug_is_a_calm_500_and_a_log_line_without_request_data(failing, caplog):
    with caplog.at_level(logging.INFO):
        page = failing.get(f"/_test/bug?email={SECRET}&review=lovely+leather")
        as_json = failing.get(f"/_test/bug?email={SECRET}", headers={"Accept": "application/json"})

    assert page.status_code == 500
    text = page.get_data(as_text=True)
    assert "Please try again" in text and "Something went wrong on our side." in text
    assert "Traceback" not in text and "_Boom" not in text and SECRET not in text
    assert as_json.status_code == 500
    assert as_json.get_json() == {"error": "internal_error",
                                  "message": "Something went wrong on our side."}

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2
    logged = "\n".join(r.getMessage() for r in errors)
    # The type and where it was raised, to find the bug; never what the request carried.
    assert "unhandled _Boom" in logged and "_bug" in logged and "ValueError" in logged
    assert SECRET not in caplog.text and "lovely leather" not in caplog.text
    assert all(r.exc_info is None for r in errors)  # no formatter can print the messages later


def test_a_database_that_cannot_answer_is_a_503_to_retry(failing, caplog):
    with caplog.at_level(logging.INFO):
        page = failing.get("/_test/db-down")
        as_json = failing.get("/_test/db-down", headers={"Accept": "application/json"})

    assert page.status_code == 503
    text = page.get_data(as_text=True)
    assert "Please try again" in text and "We could not check this just now" in text
    assert SECRET not in text and "SELECT" not in text
    assert as_json.status_code == 503
    assert as_json.get_json()["error"] == "unavailable"
    assert "database unavailable: ConnectionRefusedError" in caplog.text
    assert SECRET not in caplog.text and "SELECT" not in caplog.text
