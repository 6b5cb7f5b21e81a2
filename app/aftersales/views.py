"""After-sales pages and API.

* Owner pages, ``/items/<gtin>/<serial>/service``: the pre-filled service request form and its
  confirmation; ``.../service/<event id>/feedback``: the owner's word on a service. Every one
  needs the current owner's browser with a live tap session (``require_owner_tap``), so a
  copied link, another browser or a previous owner gets a 403 page.
* Brand API under ``/admin/api`` (roles admin and service, JSON writes): record service events,
  read an item's service file, list requests; each within the caller's brand. Its errors are
  always JSON, whatever the client accepts.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from app.aftersales.events import event_json, item_events, record_event
from app.aftersales.feedback import FEEDBACK_MAX, feedback_event, has_feedback, record_feedback
from app.aftersales.inputs import parse_moment
from app.aftersales.models import ServiceRequest
from app.aftersales.requests import (
    MESSAGE_MAX,
    SERVICE_KINDS,
    create_request,
    list_requests,
    reference,
    request_prefill,
)
from app.catalog.access import TapContext, require_owner_tap
from app.catalog.models import Item
from app.catalog.service import brand_slug, find_item
from app.core import clock
from app.core.db import db
from app.core.errors import N_, DomainError, Forbidden, NotFound
from app.core.staff import SERVICE
from app.core.web import api_blueprint, current_principal, json_body, roles

bp = Blueprint("aftersales", __name__)
api = api_blueprint("aftersales_api", __name__)


# --- owner pages ----------------------------------------------------------------------------------


def _form_page(context: TapContext, *, kind: str = "", message: str = "",
               error: str | None = None, status: int = 200) -> ResponseReturnValue:
    prefill = request_prefill(db.session, context.view, context.viewer, clock.now())
    html = render_template("aftersales/request.html", item=context.view, prefill=prefill,
                           kind=kind, message=message, error=error, message_max=MESSAGE_MAX)
    return html, status, {"Cache-Control": "no-store"}


@bp.route("/items/<gtin>/<serial>/service", methods=["GET", "POST"])
def request_form(gtin: str, serial: str) -> ResponseReturnValue:
    """The pre-filled service request form; a valid POST redirects (303) to its confirmation."""
    if request.method == "GET":
        return _form_page(require_owner_tap(gtin, serial))
    kind = request.form.get("kind", "")
    message = request.form.get("message", "")
    session = db.session
    # The guard runs inside the writer section: on SQLite its reads open the transaction that
    # takes the write lock, which must not happen while another writer of this process waits.
    with db.writer():
        context = require_owner_tap(gtin, serial)
        try:
            row = create_request(session, context.view, context.holding, kind, message,
                                 clock.now())
        except DomainError as err:
            session.rollback()
            if isinstance(err, Forbidden):
                raise
            # Bad input or too many open requests: the form again, with what the owner typed
            # and what to do about it.
            return _form_page(context, kind=kind, message=message, error=err.message,
                              status=err.status)
        request_id = row.id
        session.commit()
    return redirect(url_for(".requested", gtin=gtin, serial=serial, request_id=request_id), 303)


@bp.get("/items/<gtin>/<serial>/service/<int:request_id>")
def requested(gtin: str, serial: str, request_id: int) -> ResponseReturnValue:
    """The confirmation of request ``request_id``, with its reference number (owner only)."""
    context = require_owner_tap(gtin, serial)
    row = db.session.get(ServiceRequest, request_id)
    if (row is None or context.holding is None or row.item_id != context.item.id
            or row.ownership_id != context.holding.id):
        raise NotFound(N_("There is no such service request for this item."))
    prefill = request_prefill(db.session, context.view, context.viewer, clock.now())
    html = render_template("aftersales/requested.html", item=context.view, prefill=prefill,
                           request_row=row, reference=reference(row.id),
                           kind_label=SERVICE_KINDS.get(row.kind, row.kind))
    return html, 200, {"Cache-Control": "no-store"}


def _feedback_page(context: TapContext, event_id: int, *, text: str = "",
                   error: str | None = None, status: int = 200) -> ResponseReturnValue:
    assert context.holding is not None  # require_owner_tap: the viewer holds the item
    event = feedback_event(db.session, context.holding, context.item.id, event_id)
    html = render_template("aftersales/feedback.html", item=context.view, event=event,
                           done=has_feedback(db.session, context.holding, event_id), text=text,
                           error=error, feedback_max=FEEDBACK_MAX)
    return html, status, {"Cache-Control": "no-store"}


@bp.route("/items/<gtin>/<serial>/service/<int:event_id>/feedback", methods=["GET", "POST"])
def feedback(gtin: str, serial: str, event_id: int) -> ResponseReturnValue:
    """The owner's feedback on service ``event_id`` of their item (owner with the item in hand):
    a valid POST answers 201 with thanks; bad input shows the form again with what to fix."""
    if request.method == "GET":
        return _feedback_page(require_owner_tap(gtin, serial), event_id)
    text = request.form.get("text", "")
    session = db.session
    with db.writer():
        context = require_owner_tap(gtin, serial)
        assert context.holding is not None
        try:
            record_feedback(session, current_app.config, context.holding, context.item.id,
                            event_id,
                            request.form.get("rating"), text, clock.now())
        except DomainError as err:
            session.rollback()
            if isinstance(err, Forbidden | NotFound):
                raise
            return _feedback_page(context, event_id, text=text, error=err.message,
                                  status=err.status)
        session.commit()
    html = render_template("aftersales/feedback.html", item=context.view, event=None,
                           done=True, text="", error=None, feedback_max=FEEDBACK_MAX)
    return html, 201, {"Cache-Control": "no-store"}


# --- brand API ----------------------------------------------------------------------------------


@api.errorhandler(DomainError)
def _api_domain_error(err: DomainError) -> ResponseReturnValue:
    return jsonify(error=err.code, message=err.message), err.status


@api.errorhandler(HTTPException)
def _api_http_error(err: HTTPException) -> ResponseReturnValue:
    if err.code is None or err.response is not None:
        return err  # a ready response, e.g. the 401 with its WWW-Authenticate header
    code = (err.name or "error").lower().replace(" ", "_")
    return jsonify(error=code, message=err.description or err.name), err.code


def _item_json(item: Item) -> dict[str, Any]:
    last = item.last_service_at
    return {"gtin": item.product.gtin, "serial": item.serial,
            "service_count": item.service_count or 0,
            "last_service_at": clock.iso(last)}


def _optional_text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise DomainError(f"{key!r} must be a string.")
    return value


@api.post("/items/<gtin>/<serial>/service-events")
@roles(SERVICE)
def api_record_event(gtin: str, serial: str) -> ResponseReturnValue:
    """Record a service event: ``{kind, at?, note?, location?, request_id?}`` → 201 + event."""
    body = json_body()
    unknown = sorted(set(body) - {"kind", "at", "note", "location", "request_id"})
    if unknown:
        raise DomainError(f"Unknown field(s): {', '.join(unknown)}.")
    kind = body.get("kind")
    if not isinstance(kind, str):
        raise DomainError("'kind' is required and must be a string, e.g. \"full service\".")
    at_text = _optional_text(body, "at")
    request_id = body.get("request_id")
    if request_id is not None and (isinstance(request_id, bool) or not isinstance(request_id,
                                                                                   int)):
        raise DomainError("'request_id' must be an integer.")
    now = clock.now()
    at = parse_moment(at_text) if at_text is not None else now
    session = db.session
    acting = current_principal()
    with db.writer():
        item = find_item(session, gtin, serial, acting.brand_id)
        event = record_event(
            session, item, kind, at, note=_optional_text(body, "note"),
            location=_optional_text(body, "location"), request_id=request_id,
            settings=current_app.config, now=now, actor=acting.actor,
        )
        session.commit()
    session.refresh(item)
    return jsonify(event=event_json(event), item=_item_json(item)), 201


@api.get("/items/<gtin>/<serial>/service")
@roles(SERVICE)
def api_item_service(gtin: str, serial: str) -> ResponseReturnValue:
    """The item's service file: its counters, events (newest first) and requests (oldest first)."""
    session = db.session
    item = find_item(session, gtin, serial, current_principal().brand_id)
    return jsonify(
        item=_item_json(item),
        events=[event_json(e) for e in item_events(session, item.id)],
        requests=[r.as_json() for r in list_requests(session, None, item_id=item.id)],
    )


@api.get("/service-requests")
@roles(SERVICE)
def api_service_requests() -> ResponseReturnValue:
    """Service requests, oldest first: ``?status=open|done|cancelled|all`` (default open),
    ``&brand=SLUG``. A brand's staff see their brand's only; naming another brand is a 404,
    like a brand that does not exist."""
    status = request.args.get("status", "open")
    asked = request.args.get("brand") or None
    own = brand_slug(db.session, current_principal().brand_id)
    if own is not None and asked not in (None, own):
        raise NotFound(f"No brand {asked!r}.")
    rows = list_requests(db.session, None if status == "all" else status, own or asked)
    return jsonify(requests=[r.as_json() for r in rows])
