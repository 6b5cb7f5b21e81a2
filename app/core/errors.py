"""Domain errors and their one mapping to HTTP.

Services raise ``DomainError`` subclasses; views never build error responses themselves. A client
that asks for JSON gets ``{"error": code, "message": text}``; a browser gets a short human page.
"""

from __future__ import annotations

import logging
import traceback

from flask import Flask, Response, current_app, jsonify, render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException, TooManyRequests

from app.core import limits
from app.core.i18n import N_ as N_  # re-exported: domain errors mark their words with it
from app.core.i18n import translate
from app.core.negotiation import wants_json

log = logging.getLogger(__name__)


# One sentence for a body over the size limit, wherever it is refused.


TOO_LARGE = N_("What you sent is too large. Shorten it and send it again.")


class DomainError(Exception):
    """A failure the user can understand; ``status`` is the HTTP status it maps to."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, **params: object) -> None:
        # ``message`` is English, marked ``N_`` where it is raised (its catalogue id), with
        # ``%(name)s`` for ``params``; ``self.message`` is it filled in, in English (logs, CLI).
        self.template = message
        self.params = params
        self.message = message % params if params else message
        super().__init__(self.message)

    def words(self) -> str:
        """Return the message in the language words come out in now (the page's)."""
        return translate(self.template, self.params)


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
    """Render an error as JSON or as the human error page, with ``status``. ``message`` is in
    the page's language when the catalogue has it (else as given); ``code`` stays English."""
    words = translate(message)
    if wants_json():
        resp = jsonify(error=code, message=words)
        resp.status_code = status
        return resp
    return render_template("error.html", status=status, message=words), status


def stack_only(err: BaseException) -> str:
    """Return the stack of ``err`` and of the exceptions it chains, with types but no messages.

    Messages may quote request data (SQL parameters, an email address); frames and types do not.
    """
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append("".join(traceback.format_tb(current.__traceback__))
                     + type(current).__qualname__)
        current = current.__cause__ or current.__context__
    return "\n-- while handling --\n".join(reversed(parts))


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(err: DomainError) -> ResponseReturnValue:
        # Translated here, where the page's language is known: services raise English ids.
        return error_response(err.status, err.code, err.words())

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> ResponseReturnValue:
        status = err.code or 500
        code = (err.name or "error").lower().replace(" ", "_")
        messages = {
            404: N_("There is nothing at this address."),
            405: N_("This address does not accept that kind of request."),
            413: TOO_LARGE,
        }
        if status not in messages and err.description:
            messages[status] = err.description
        return error_response(status, code, messages.get(status, err.name))

    @app.errorhandler(TooManyRequests)
    def _rate_limited(err: TooManyRequests) -> ResponseReturnValue:
        # Every limit (Flask-Limiter's and the Basic-auth lock-out) answers here: 429, Retry-After.
        wait = int(err.retry_after) if isinstance(err.retry_after, int) else limits.retry_after()
        words = gettext("Too many requests. Please wait %(num)s seconds and try again.",
                        num=wait)
        if wants_json():
            response = jsonify(error="rate_limited", message=words, retry_after=wait)
        else:
            response = current_app.response_class(
                render_template("error.html", status=429, message=words), mimetype="text/html"
            )
        response.status_code = 429
        response.headers["Retry-After"] = str(wait)
        return response

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> ResponseReturnValue:
        # A bug, not the user's fault: log the type and stack (no request data), show a calm page.
        if isinstance(err, HTTPException):
            return _http(err)
        log.error("unhandled %s\n%s", type(err).__name__, stack_only(err))
        return error_response(500, "internal_error", N_("Something went wrong on our side."))

    @app.errorhandler(DataError)
    def _bad_value(err: DataError) -> ResponseReturnValue:
        # The database refused a value (a NUL, an out-of-range number): the client's input, not a
        # bug, so no stack. Logged by type so a gap in app.core.boundary still shows.
        log.warning("database refused a value: %s", type(err.orig).__name__)
        return error_response(400, "bad_request",
                              N_("This request contains a value we cannot store."))

    @app.errorhandler(OperationalError)
    def _db_down(err: OperationalError) -> ResponseReturnValue:
        # The store is busy or unreachable: nothing was acknowledged, so the client may retry.
        log.error("database unavailable: %s", type(err.orig).__name__)
        return error_response(
            503, "unavailable", N_("We could not check this just now. Please try again.")
        )
