"""``POST /api/v1/events``: orders and refunds from a brand's shop or CRM
(``app.insights.commerce``).

Machines only: an API token (``Authorization: Bearer atk_...``, role till or admin: the brand's
shop systems) and a Standard Webhooks signature with one of the same brand's commerce secrets,
so a leaked token alone cannot write, and a token of one brand with another brand's secret
verifies nothing. Every refusal this module makes is JSON, whatever the client accepts.

Order of checks: token (401/403), rate limit per token (429), content type (415), size (413),
signature (401/403), JSON (400), fields (422). Then one commit: 201 for a new event, 200 with
the stored one for an id seen before.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from app.core import clock, limits, security, web
from app.core.db import db
from app.core.errors import DomainError, Forbidden
from app.core.staff import TILL
from app.insights import commerce

bp = Blueprint("events", __name__)
security.exempt_blueprint("events")

PATH = "/api/v1/events"
# An order with the most products allowed (100) is about 5 KiB; anything near this is not one.
MAX_EVENT_BYTES = 16 * 1024
_ALLOWED = frozenset({TILL})
_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class TokenRefused(DomainError):
    status = 401
    code = "invalid_token"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Bearer realm="Aftertap events"'}


class NotJson(DomainError):
    status = 415
    code = "unsupported_media_type"


class TooLarge(DomainError):
    status = 413
    code = "too_large"


class Malformed(DomainError):
    status = 400
    code = "bad_request"


@bp.errorhandler(DomainError)
def _refused(err: DomainError) -> ResponseReturnValue:
    body: dict[str, Any] = {"error": err.code, "message": err.message}
    if getattr(err, "details", None):
        body["details"] = err.details  # type: ignore[attr-defined]
    return jsonify(body), err.status, getattr(err, "headers", {})


@bp.before_request
def _token() -> None:
    """Let in a live API token of a role that may send events; nothing else (no cookie, no
    development password: this door is for machines)."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() != "bearer ":
        raise TokenRefused("Send Authorization: Bearer <API token>.")
    try:
        # Counts wrong tokens against the same lock-out as every other door (app.core.web).
        found = web.principal()
    except HTTPException as exc:
        if exc.response is not None and exc.response.status_code == 401:
            raise TokenRefused("This API token is not valid (unknown or revoked).") from None
        raise
    assert found is not None and found.brand_id is not None  # a token always has one brand
    if not found.may(_ALLOWED):
        raise Forbidden("This token's role may not send commerce events (till or admin may).")


@bp.post(PATH)
@limits.limiter.limit(limits.setting("COMMERCE_EVENTS_PER_TOKEN"), key_func=limits.per_account)
def receive() -> ResponseReturnValue:
    acting = web.current_principal()
    assert acting.brand_id is not None
    if not request.is_json:
        raise NotJson("Send the event as JSON with Content-Type: application/json.")
    # Read already, and bounded by MAX_BODY_BYTES, by the input boundary (app.core.boundary).
    raw = request.get_data(cache=True)
    if len(raw) > MAX_EVENT_BYTES:
        raise TooLarge(f"An event is at most {MAX_EVENT_BYTES} bytes.")
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("The body is not UTF-8.") from None
    session = db.session
    headers = {name: request.headers.get(name, "") for name in _HEADERS}
    commerce.verify(session, acting.brand_id, body, headers)
    try:
        payload = json.loads(body)
    except ValueError:
        raise Malformed("The body is not JSON.") from None
    done = commerce.record(session, current_app.config, acting.brand_id, headers["webhook-id"],
                           payload, clock.now())
    session.commit()
    return jsonify(event=done.event), 201 if done.created else 200
