"""The brand's ownership API (``/admin/api/...``): sale, theft, reassignment, take-back, and
owners' data requests (export and erasure by verified email)."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify
from flask.typing import ResponseReturnValue

from app.catalog.holdings import current_holding, find_one_owner_by_email, find_owners_by_email
from app.catalog.models import Item
from app.catalog.service import find_item
from app.catalog.views import item_view
from app.core import privacy as registry
from app.core.audit import audit_trail
from app.core.clock import iso, now
from app.core.db import db
from app.core.errors import DomainError, Forbidden
from app.core.signals import item_taken_back
from app.core.staff import SERVICE
from app.core.web import api_blueprint, current_principal, json_body, roles
from app.ownership import brand, lifecycle, privacy

# Routes without ``roles`` are for admins only. Items are looked up within the caller's brand.
api = api_blueprint("ownership_api", __name__)


def _find(gtin: str, serial: str) -> Item:
    """Return the item, if it is the caller's brand's (else the same 404 as no item)."""
    return find_item(db.session, gtin, serial, current_principal().brand_id)


def _all_brands_only() -> None:
    # An owner's data spans every brand they bought from: one brand's staff may neither read
    # nor erase what other brands hold, so these requests are the platform operator's.
    if current_principal().brand_id is not None:
        raise Forbidden("Owners' data requests cover every brand; the platform operator "
                        "answers them (flask owners export|erase).")


def _item_status(item: Item) -> dict[str, Any]:
    """Return the item's sale, theft, warranty, owner, history and audit, JSON-ready."""
    view = item_view(item)
    holding = current_holding(db.session, item.id)
    return {
        "gtin": view.product.gtin,
        "serial": view.serial,
        "released": view.released,
        "stolen": view.stolen,
        "warranty": {"started_at": iso(view.warranty_started_at),
                     "ends_at": iso(view.warranty_ends_at)},
        "owner": {"ordinal": holding.ordinal, "since": iso(holding.started_at),
                  "began_by": holding.began_by} if holding else None,
        "history": [
            {"ordinal": h.ordinal, "began_by": h.began_by, "started_at": iso(h.started_at),
             "ended_at": iso(h.ended_at), "ended_by": h.ended_by}
            for h in lifecycle.history(db.session, item.id)
        ],
        "audit": audit_trail(db.session, item.id),
    }


@api.get("/items/<gtin>/<serial>")
@roles(SERVICE)
def api_item(gtin: str, serial: str) -> ResponseReturnValue:
    return jsonify(_item_status(_find(gtin, serial)))


@api.post("/items/<gtin>/<serial>/release")
def api_release(gtin: str, serial: str) -> ResponseReturnValue:
    body = json_body()
    with db.writer():
        item = _find(gtin, serial)
        changed = brand.release(db.session, item, now(), actor=current_principal().actor,
                                source=str(body.get("source") or "api")[:40])
        db.session.commit()
    return jsonify(released=True, changed=changed, item=_item_status(item))


@api.post("/items/<gtin>/<serial>/stolen")
@roles(SERVICE)
def api_stolen(gtin: str, serial: str) -> ResponseReturnValue:
    body = json_body()
    stolen = body.get("stolen")
    if not isinstance(stolen, bool):
        raise DomainError('Send {"stolen": true} or {"stolen": false}, with a "reason".')
    with db.writer():
        item = _find(gtin, serial)
        brand.set_stolen(db.session, item, stolen, now(), actor=current_principal().actor,
                         reason=str(body.get("reason") or ""))
        db.session.commit()
    return jsonify(_item_status(item))


@api.post("/items/<gtin>/<serial>/reassign")
def api_reassign(gtin: str, serial: str) -> ResponseReturnValue:
    """Move the item to the owner with a verified ``email`` (or to a new, unnamed owner)."""
    body = json_body()
    with db.writer():
        item = _find(gtin, serial)
        to = (find_one_owner_by_email(db.session, str(body["email"])) if body.get("email")
              else None)
        _owner, ordinal = brand.reassign(db.session, item, to, now(),
                                         actor=current_principal().actor,
                                         reason=str(body.get("reason") or ""))
        db.session.commit()
    return jsonify(ordinal=ordinal, item=_item_status(item))


@api.post("/items/<gtin>/<serial>/take-back")
def api_take_back(gtin: str, serial: str) -> ResponseReturnValue:
    """The item came back to the brand (buy-back, recycling): its ownership ends, and the owner
    earns whatever points listeners of ``item_taken_back`` grant (the rewards ledger)."""
    body = json_body()
    at = now()
    with db.writer():
        item = _find(gtin, serial)
        owner_id = brand.take_back(db.session, item, at, actor=current_principal().actor,
                                   reason=str(body.get("reason") or ""))
        # In the transaction: what listeners record commits, or not, with the take-back.
        replies = item_taken_back.send(db.session, settings=current_app.config,
                                       item_id=item.id, owner_id=owner_id, at=at)
        points = sum(int(entry.points) for _listener, entry in replies if entry is not None)
        db.session.commit()
    return jsonify(points=points, item=_item_status(item))


@api.post("/owners/export")
def api_owner_export() -> ResponseReturnValue:
    """Everything every package holds about each owner with the verified ``email``.

    POST with ``{"email": ...}``: in a query string the address would land in access logs.
    Returns ``{"owners": n, "exports": [one document per owner, by owner id]}``; 404 when no
    owner has that verified address, 400 when it is not an address.
    """
    _all_brands_only()
    body = json_body()
    owners = find_owners_by_email(db.session, str(body.get("email") or ""))
    return jsonify(owners=len(owners),
                   exports=[registry.export_owner(db.session, owner.id) for owner in owners])


@api.post("/owners/erase")
def api_owner_erase() -> ResponseReturnValue:
    """Erase every owner with the verified ``email``, one audit entry each, in one transaction.

    Returns ``{"erased": true, "owners": n, "ownerships_ended": total}``; 404 when no owner has
    that verified address, 400 when it is not an address.
    """
    _all_brands_only()
    body = json_body()
    at = now()
    with db.writer():
        owners = find_owners_by_email(db.session, str(body.get("email") or ""))
        ended = sum(privacy.erase_owner(db.session, owner.id, at, actor=current_principal().actor)
                    for owner in owners)
        db.session.commit()
    return jsonify(erased=True, owners=len(owners), ownerships_ended=ended)
