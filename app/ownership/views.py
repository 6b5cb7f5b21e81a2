"""Owner pages and the brand's ownership API.

Every owner action is a POST with a CSRF token *and* a live tap session for the item (see
``app.catalog.access``): the product in hand, on this phone, minutes ago. Emailed links open a
page with a button, never act on GET, because mail scanners fetch links.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from app.catalog import access
from app.catalog.views import item_view
from app.core.db import db
from app.core.errors import Conflict, DomainError
from app.core.mail import MailNotSent, build_message, send
from app.core.web import api_blueprint, json_body, no_store
from app.ownership import service as svc

bp = Blueprint("ownership", __name__)
api = api_blueprint("ownership_api", __name__)

_OFFER = "offer"


class MailUnavailable(DomainError):
    status = 503
    code = "mail_unavailable"


def _now() -> datetime:
    return datetime.now(UTC)


# --- claim -----------------------------------------------------


@bp.post("/items/<gtin>/<serial>/claim")
def claim(gtin: str, serial: str) -> ResponseReturnValue:
    """The one-tap confirmation: "this is mine"."""
    ctx = access.require_tap(gtin, serial)
    with db.writer():
        owner, created = svc.confirm_claim(db.session, ctx.view, ctx.viewer, _now())
        public_id = owner.public_id
        db.session.commit()
    response = redirect(url_for("tap.owner", gtin=gtin, serial=serial, welcome="first"),
                        303)
    if created:
        access.set_owner_cookie(response, public_id)
    return response


# --- transfer -----------------------------------------------------------------------------------


@bp.post("/items/<gtin>/<serial>/transfer")
def transfer(gtin: str, serial: str) -> ResponseReturnValue:
    ctx = access.require_owner_tap(gtin, serial)
    with db.writer():
        token, offer = svc.create_offer(db.session, current_app.config, ctx.view, ctx.viewer,
                                        _now())
        expires_at = offer.expires_at
        db.session.commit()
    link = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for(
        "ownership.offer", token=token)
    return no_store(render_template("ownership/offer_created.html", item=ctx.view, link=link,
                                     expires_at=expires_at), 201)


@bp.post("/items/<gtin>/<serial>/transfer/cancel")
def cancel_transfer(gtin: str, serial: str) -> ResponseReturnValue:
    ctx = access.require_owner_tap(gtin, serial)
    with db.writer():
        svc.cancel_offers(db.session, ctx.holding.id, _now())
        db.session.commit()
    return redirect(url_for("tap.owner", gtin=gtin, serial=serial), 303)


@bp.get("/transfer/<token>")
def offer(token: str) -> ResponseReturnValue:
    """The buyer opens the seller's link: remember it here, then ask for a tap of the item."""
    offer = svc.find_offer(db.session, token, _now())
    item = item_view(offer_item := svc.offer_item(db.session, offer))
    session[_OFFER] = {"token": token, "item_id": offer_item.id}
    live, _ = access.live_tap(offer_item.id)
    return no_store(render_template("ownership/offer.html", item=item, token=token, live=live,
                                     expires_at=offer.expires_at))


@bp.post("/transfer/<token>/accept")
def accept(token: str) -> ResponseReturnValue:
    offer = svc.find_offer(db.session, token, _now())
    item = svc.offer_item(db.session, offer)
    ctx = access.require_tap(item.product.gtin, item.serial)
    with db.writer():
        buyer, _ordinal = svc.accept_offer(db.session, token, ctx.view, ctx.viewer, _now())
        public_id = buyer.public_id
        db.session.commit()
    session.pop(_OFFER, None)
    response = redirect(url_for("tap.owner", gtin=item.product.gtin, serial=item.serial,
                                welcome="new"), 303)
    if ctx.viewer is None or ctx.viewer.public_id != public_id:
        access.set_owner_cookie(response, public_id)
    return response


# --- email, recovery ------------------------------------------------------------------------


def _mail(to: str, template: str, subject: str, **context: Any) -> None:
    text = render_template(f"mail/{template}.txt", **context)
    try:
        send(current_app.config, build_message(current_app.config, to, subject, text))
    except MailNotSent as exc:
        raise MailUnavailable(
            "We could not send the email just now. Please try again in a few minutes."
        ) from exc


def _absolute(endpoint: str, **values: Any) -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for(endpoint, **values)


@bp.post("/items/<gtin>/<serial>/email")
def email(gtin: str, serial: str) -> ResponseReturnValue:
    ctx = access.require_owner_tap(gtin, serial)
    address = request.form.get("email", "")
    opt_in = request.form.get("opt_in") == "yes"
    with db.writer():
        token = svc.request_email(db.session, current_app.config, ctx.viewer, address, opt_in,
                                  _now())
        db.session.commit()
    address = svc.normalize_email(address)
    _mail(address, "confirm_email", "Confirm your email for your "
          f"{ctx.view.product.name}", link=_absolute("ownership.confirm_email", token=token),
          item=ctx.view, opt_in=opt_in)
    return no_store(render_template("ownership/check_inbox.html", item=ctx.view,
                                     purpose="confirm"))


@bp.post("/items/<gtin>/<serial>/messages")
def messages(gtin: str, serial: str) -> ResponseReturnValue:
    ctx = access.require_owner_tap(gtin, serial)
    with db.writer():
        svc.set_opt_in(db.session, ctx.viewer, request.form.get("opt_in") == "yes", _now())
        db.session.commit()
    return redirect(url_for("tap.owner", gtin=gtin, serial=serial), 303)


@bp.route("/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str) -> ResponseReturnValue:
    if request.method == "GET":
        return no_store(render_template("ownership/link_button.html", purpose="confirm"))
    with db.writer():
        svc.confirm_email(db.session, token, _now())
        db.session.commit()
    return no_store(render_template("ownership/link_done.html", purpose="confirm"))


@bp.post("/items/<gtin>/<serial>/recover")
def recover(gtin: str, serial: str) -> ResponseReturnValue:
    """A new phone, holding the item, asks for a recovery link to the owner's address."""
    ctx = access.require_tap(gtin, serial)
    with db.writer():
        found = svc.request_recovery(db.session, current_app.config, ctx.view,
                                     request.form.get("email", ""), _now())
        db.session.commit()
    if found is not None:
        token, address = found
        _mail(address, "recover", f"Your {ctx.view.product.name} on a new phone",
              link=_absolute("ownership.redeem_recovery", token=token), item=ctx.view)
    # The same answer whether or not the address matched: the page reveals no one's email.
    return no_store(render_template("ownership/check_inbox.html", item=ctx.view,
                                     purpose="recover"))


@bp.route("/recover/<token>", methods=["GET", "POST"])
def redeem_recovery(token: str) -> ResponseReturnValue:
    if request.method == "GET":
        return no_store(render_template("ownership/link_button.html", purpose="recover"))
    with db.writer():
        owner = svc.redeem_recovery(db.session, token, _now())
        public_id = owner.public_id
        db.session.commit()
    response = no_store(render_template("ownership/link_done.html", purpose="recover"))
    access.set_owner_cookie(response, public_id)
    return response


# --- stolen, privacy, location ---------------------------------------------------------------


@bp.post("/items/<gtin>/<serial>/stolen")
def report_stolen(gtin: str, serial: str) -> ResponseReturnValue:
    ctx = access.require_owner_tap(gtin, serial)
    stolen = request.form.get("stolen") == "yes"
    with db.writer():
        svc.set_stolen(db.session, ctx.item, stolen, _now(), actor="owner",
                       reason="reported by the owner")
        db.session.commit()
    return redirect(url_for("tap.owner", gtin=gtin, serial=serial), 303)


@bp.get("/items/<gtin>/<serial>/export")
def export(gtin: str, serial: str) -> ResponseReturnValue:
    ctx = access.require_owner_tap(gtin, serial)
    response = jsonify(svc.export_owner(db.session, ctx.viewer))
    response.headers["Content-Disposition"] = 'attachment; filename="my-aftertap-data.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/items/<gtin>/<serial>/erase")
def erase(gtin: str, serial: str) -> ResponseReturnValue:
    ctx = access.require_owner_tap(gtin, serial)
    if request.form.get("confirm") != "yes":
        raise DomainError("Tick the box to confirm that you want your data erased.")
    with db.writer():
        svc.erase_owner(db.session, ctx.viewer, _now(), actor="owner")
        db.session.commit()
    access.close_tap_session(ctx.item.id)
    response = no_store(render_template("ownership/erased.html"))
    access.clear_owner_cookie(response)
    return response


@bp.post("/items/<gtin>/<serial>/location")
def location(gtin: str, serial: str) -> ResponseReturnValue:
    """The person chose to share where they are: stored rounded, on this tap only."""
    ctx = access.require_tap(gtin, serial)
    try:
        latitude = float(request.form.get("latitude", ""))
        longitude = float(request.form.get("longitude", ""))
    except ValueError as exc:
        raise DomainError("The position could not be read; nothing was stored.") from exc
    if ctx.tap_event_id is None:
        raise Conflict("This tap was not recorded, so there is nothing to add a place to.")
    with db.writer():
        svc.record_location(db.session, ctx.tap_event_id, ctx.item.id, latitude, longitude)
        db.session.commit()
    return no_store(render_template("ownership/location_saved.html", item=ctx.view))


# --- brand side: JSON API ---------------------------------------------------------------------


def _item_status(item: Any) -> dict[str, Any]:
    view = item_view(item)
    holding = svc.current_holding(db.session, item.id)

    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

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
            for h in svc.history(db.session, item.id)
        ],
        "audit": svc.audit_trail(db.session, item.id),
    }


@api.get("/items/<gtin>/<serial>")
def api_item(gtin: str, serial: str) -> ResponseReturnValue:
    return jsonify(_item_status(svc.find_item(db.session, gtin, serial)))


@api.post("/items/<gtin>/<serial>/release")
def api_release(gtin: str, serial: str) -> ResponseReturnValue:
    body = json_body()
    with db.writer():
        item = svc.find_item(db.session, gtin, serial)
        changed = svc.release(db.session, item, _now(), actor="admin",
                              source=str(body.get("source") or "api")[:40])
        db.session.commit()
    return jsonify(released=True, changed=changed, item=_item_status(item))


@api.post("/items/<gtin>/<serial>/stolen")
def api_stolen(gtin: str, serial: str) -> ResponseReturnValue:
    body = json_body()
    stolen = body.get("stolen")
    if not isinstance(stolen, bool):
        raise DomainError('Send {"stolen": true} or {"stolen": false}, with a "reason".')
    with db.writer():
        item = svc.find_item(db.session, gtin, serial)
        svc.set_stolen(db.session, item, stolen, _now(), actor="admin",
                       reason=str(body.get("reason") or ""))
        db.session.commit()
    return jsonify(_item_status(item))


@api.post("/items/<gtin>/<serial>/reassign")
def api_reassign(gtin: str, serial: str) -> ResponseReturnValue:
    """Move the item to the owner with a verified ``email`` (or to a new, unnamed owner)."""
    body = json_body()
    with db.writer():
        item = svc.find_item(db.session, gtin, serial)
        to = (svc.find_owner_by_email(db.session, str(body["email"]))
              if body.get("email") else None)
        _owner, ordinal = svc.reassign(db.session, item, to, _now(), actor="admin",
                                       reason=str(body.get("reason") or ""))
        db.session.commit()
    return jsonify(ordinal=ordinal, item=_item_status(item))


@api.post("/items/<gtin>/<serial>/take-back")
def api_take_back(gtin: str, serial: str) -> ResponseReturnValue:
    """The item came back to the brand (buy-back, recycling): its ownership ends, and the owner
    earns the take-back points."""
    from app.rewards.loyalty import earn_for

    body = json_body()
    with db.writer():
        item = svc.find_item(db.session, gtin, serial)
        owner_id = svc.take_back(db.session, item, _now(), actor="admin",
                                 reason=str(body.get("reason") or ""))
        entry = earn_for(db.session, current_app.config, owner_id, "take_back", item.id, _now())
        db.session.commit()
    return jsonify(points=entry.points if entry else 0, item=_item_status(item))


@api.get("/owners/export")
def api_owner_export() -> ResponseReturnValue:
    owner = svc.find_owner_by_email(db.session, request.args.get("email", ""))
    return jsonify(svc.export_owner(db.session, owner))


@api.post("/owners/erase")
def api_owner_erase() -> ResponseReturnValue:
    body = json_body()
    with db.writer():
        owner = svc.find_owner_by_email(db.session, str(body.get("email") or ""))
        ended = svc.erase_owner(db.session, owner, _now(), actor="admin")
        db.session.commit()
    return jsonify(erased=True, ownerships_ended=ended)
