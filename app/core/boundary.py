"""One boundary for input: what every request must satisfy before any handler runs.

A client's mistake gets a clear 4xx here instead of reaching the database as a 500:

* no control character (C0 or DEL) in the path, the query string, form field names or JSON keys;
  form and JSON text values may carry tab, LF and CR (a textarea sends them), nothing else;
* ``<int:...>`` route values fit an id column (larger ones do not match: 404), and integers in
  JSON bodies fit a signed 64-bit column (400);
* JSON bodies nest at most ``JSON_MAX_DEPTH`` deep (400, never a ``RecursionError``);
* bodies are at most ``MAX_BODY_BYTES`` (413).
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, current_app, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import IntegerConverter, Map

from app.core.errors import N_, TOO_LARGE, error_response

# Route ids are primary keys: INTEGER, 32 bits on PostgreSQL (SQLite's hold 64).
ROUTE_ID_MAX = 2**31 - 1
# The range of a signed 64-bit column (PostgreSQL BIGINT, SQLite INTEGER).
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
JSON_MAX_DEPTH = 32

# C0 controls and DEL. Text values (a textarea) may hold tab, LF and CR; names never do. Lone
# surrogates (only a JSON "\\ud800" escape can make one) cannot be encoded for the database.
_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


# Endpoints whose handler validates its whole query string itself (see ``own_query``).
_OWN_QUERY: set[str] = set()


def own_query(*endpoints: str) -> None:
    """Leave the query string of ``endpoints`` to their handler, which must refuse bad input.

    For the tap: a malformed SUN message is an "invalid" tap, counted and answered as such.
    """
    _OWN_QUERY.update(endpoints)


class _Refused(Exception):
    """The request breaks a boundary rule; ``message`` says which, for the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BoundedIntegerConverter(IntegerConverter):
    """``<int:...>`` that matches only values an id column can hold (else the route is a 404).

    Werkzeug's own converter accepts any number of digits, which the database then refuses
    (PostgreSQL: a data error past 32 bits; SQLite: an ``OverflowError`` past 64) as a 500.
    """

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = None,
        signed: bool = False,
    ) -> None:
        bound = ROUTE_ID_MAX if max is None else max if max < ROUTE_ID_MAX else ROUTE_ID_MAX
        super().__init__(map, fixed_digits, min, bound, signed)


# What a person reads: they followed a mangled link or pasted something odd into a form.
DAMAGED_LINK = N_("This link is damaged: it holds characters no link of ours contains. Open it "
                  "again from where you found it.")
UNTYPABLE_FORM = N_("The form holds characters that cannot be typed. Go back, correct it and "
                    "send it again.")


def _check_json(value: Any, depth: int = 0) -> None:
    """Walk a parsed JSON value; raise ``_Refused`` at the first rule it breaks."""
    # An explicit stack, not recursion: the depth check must not itself hit the recursion limit.
    stack: list[tuple[Any, int]] = [(value, depth)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list) and level >= JSON_MAX_DEPTH:
            raise _Refused(f"The JSON body nests deeper than {JSON_MAX_DEPTH} levels.")
        if isinstance(node, dict):
            for key, child in node.items():
                if _CONTROL.search(key):
                    raise _Refused("A JSON key contains a control or invalid character.")
                stack.append((child, level + 1))
        elif isinstance(node, list):
            stack.extend((child, level + 1) for child in node)
        elif isinstance(node, str):
            if _CONTROL_IN_TEXT.search(node):
                raise _Refused("A JSON value contains a control or invalid character.")
        elif (isinstance(node, int) and not isinstance(node, bool)
              and not INT64_MIN <= node <= INT64_MAX):
            raise _Refused("A number in the JSON body is out of range.")


def _check_request() -> None:
    """Raise ``_Refused`` when the current request breaks a boundary rule.

    Raises:
        _Refused: a control character, an over-deep or out-of-range JSON value.
        werkzeug.exceptions.RequestEntityTooLarge: the body is over ``MAX_CONTENT_LENGTH``.
    """
    if _CONTROL.search(request.path):
        raise _Refused(DAMAGED_LINK)
    if request.endpoint not in _OWN_QUERY:
        for key, value in request.args.items(multi=True):
            if _CONTROL.search(key) or _CONTROL.search(value):
                raise _Refused(DAMAGED_LINK)
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in request.form.items(multi=True):
            if _CONTROL.search(key) or _CONTROL_IN_TEXT.search(value):
                raise _Refused(UNTYPABLE_FORM)
    if request.is_json:
        data = request.get_data(cache=True)
        if not data:
            return
        try:
            parsed = json.loads(data)
        except RecursionError as exc:
            # The C parser recurses per level: a deep enough body would exhaust the stack.
            raise _Refused(f"The JSON body nests deeper than {JSON_MAX_DEPTH} levels.") from exc
        except ValueError:
            return  # not JSON at all: the handler's own check (json_body) says so
        _check_json(parsed)


def init_app(app: Flask) -> None:
    """Bound ``<int:...>`` route values and check every request before its handler.

    Must run before any blueprint is registered: converters are bound when a rule is added.
    """
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_BODY_BYTES"])
    app.url_map.converters["int"] = BoundedIntegerConverter

    @app.before_request
    def _boundary() -> ResponseReturnValue | None:
        try:
            _check_request()
        except _Refused as refused:
            return error_response(400, "bad_request", refused.message)
        except RequestEntityTooLarge:
            return error_response(413, "too_large", TOO_LARGE)
        return None
