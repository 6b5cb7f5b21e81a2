"""Provenance routes: the public record page and JSON, the published key, owner and admin actions.

Anyone may read a record (it holds no personal data); creating and withdrawing one needs the
item's current owner with the product in hand (a live tap session in this browser).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from app.catalog import access
from app.core import clock
from app.core.db import db
from app.core.errors import DomainError
from app.core.web import api_blueprint, current_principal, json_body
from app.provenance import brand_keys
from app.provenance.document import format_time
from app.provenance.keys import SigningKey
from app.provenance.models import ProvenanceRecord
from app.provenance.records import (
    REVOKED,
    current_status,
    get_record,
    issue_record,
    record_brand,
    record_item,
    revoke_record,
)
from app.provenance.verification import public_jwks, signed_document

bp = Blueprint("provenance", __name__)
api_bp = api_blueprint("provenance_api", __name__)

KEYS_PATH = "/.well-known/aftertap-provenance-keys.json"
# Short: a withdrawn record must stop looking valid within a minute.
RECORD_CACHE = "public, max-age=60"
KEYS_CACHE = "public, max-age=3600"


def signing_key(brand: str) -> SigningKey:
    """Return the key that signs ``brand``'s records now."""
    return brand_keys(current_app).for_brand(brand)


def _status(session: Session, record: ProvenanceRecord) -> str:
    # Valid only while the key that signed it is still its brand's current key.
    current = signing_key(record_brand(session, record)).key_id
    return current_status(session, record, current, clock.now())


@contextmanager
def _write() -> Iterator[Session]:
    """Yield the request session for one write transaction; commit it, or roll back on error."""
    with db.writer():
        session = db.session
        try:
            yield session
            session.commit()
        except BaseException:
            # Release SQLite's write lock now rather than at teardown.
            session.rollback()
            raise


def _public(response: Response, cache: str) -> Response:
    response.headers["Cache-Control"] = cache
    # Public data without credentials: resale platforms may fetch it from their own pages.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _keys_url() -> str:
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/") + KEYS_PATH


# --- public ---------------------------------------------------------------------------------------


@bp.get(KEYS_PATH)
def public_keys() -> ResponseReturnValue:
    return _public(jsonify(public_jwks(brand_keys(current_app).published())), KEYS_CACHE)


@bp.get("/provenance/<record_id>.json")
def record_json(record_id: str) -> ResponseReturnValue:
    record = get_record(db.session, record_id)
    body: dict[str, Any] = signed_document(record)
    body["status"] = _status(db.session, record)
    body["revoked_at"] = format_time(record.revoked_at) if record.revoked_at else None
    body["keys_url"] = _keys_url()
    return _public(jsonify(body), RECORD_CACHE)


@bp.get("/provenance/<record_id>")
def record_page(record_id: str) -> ResponseReturnValue:
    record = get_record(db.session, record_id)
    document = signed_document(record)["record"]
    status = _status(db.session, record)
    html = render_template(
        "provenance/record.html", doc=document, record=record, status=status,
        keys_path=KEYS_PATH,
    )
    return _public(Response(html, mimetype="text/html"), RECORD_CACHE)


# --- the owner, with the product in hand ----------------------------------------------------------


@bp.post("/items/<gtin>/<serial>/provenance")
def create(gtin: str, serial: str) -> ResponseReturnValue:
    with _write() as session:
        context = access.require_owner_tap(gtin, serial)
        assert context.holding is not None  # require_owner_tap guarantees a current holding
        record = issue_record(session, signing_key(context.view.product.brand.slug),
                              current_app.config, context.view,
                              context.holding.id, clock.now())
    return redirect(url_for("provenance.record_page", record_id=record.id), 303)


@bp.post("/provenance/<record_id>/revoke")
def revoke(record_id: str) -> ResponseReturnValue:
    with _write() as session:
        record = get_record(session, record_id)
        gtin, serial = record_item(session, record)
        context = access.require_owner_tap(gtin, serial)
        assert context.viewer is not None  # require_owner_tap guarantees the owner
        revoke_record(session, record.id, clock.now(), owner_id=context.viewer.id)
    return redirect(url_for("provenance.record_page", record_id=record_id), 303)


# --- the brand ------------------------------------------------------------------------------------


@api_bp.post("/provenance/<record_id>/revoke")
def admin_revoke(record_id: str) -> ResponseReturnValue:
    reason = json_body().get("reason")
    if reason is not None and not isinstance(reason, str):
        raise DomainError("'reason' must be text.")
    acting = current_principal()
    with _write() as session:
        record = revoke_record(session, record_id, clock.now(), admin=True, reason=reason,
                               actor=acting.actor, brand_id=acting.brand_id)
    assert record.revoked_at is not None  # revoke_record returns the record revoked
    return jsonify(id=record.id, status=REVOKED, revoked_at=format_time(record.revoked_at))
