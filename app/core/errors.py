"""Domain errors and their one mapping to HTTP.

Services raise ``DomainError`` subclasses; views never build error responses themselves. A client
that asks for JSON gets ``{"error": code, "message": text}``; a browser gets a short human page.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from app.core.web import wants_json

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A failure the user can understand; ``status`` is the HTTP status it maps to."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Gone(DomainError):
    status = 410
    code = "gone"


def error_response(status: int, code: str, message: str) -> Response | tuple[str, int]:
    """Render an error as JSON or as the human error page, with ``status``."""
    if wants_json():
        resp = jsonify(error=code, message=message)
        resp.status_code = status
        return resp
    return render_template("error.html", status=status, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(err: DomainError) -> ResponseReturnValue:
        return error_response(err.status, err.code, err.message)

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> ResponseReturnValue:
        status = err.code or 500
        code = (err.name or "error").lower().replace(" ", "_")
        messages = {
            404: "There is nothing at this address.",
            405: "This address does not accept that kind of request.",
        }
        if status not in messages and err.description:
            messages[status] = err.description
        return error_response(status, code, messages.get(status, err.name))

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> ResponseReturnValue:
        # A bug, not the user's fault: log the type and stack (no request data), show a calm page.
        if isinstance(err, HTTPException):
            return _http(err)
        log.exception("unhandled %s", type(err).__name__)
        return error_response(500, "internal_error", "Something went wrong on our side.")

    @app.errorhandler(OperationalError)
    def _db_down(err: OperationalError) -> ResponseReturnValue:
        # The store is busy or unreachable: nothing was acknowledged, so the client may retry.
        log.error("database unavailable: %s", type(err.orig).__name__)
        return error_response(
            503, "unavailable", "We could not check this just now. Please try again."
        )
