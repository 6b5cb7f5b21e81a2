"""Owner pages: claim, transfer, email and recovery, stolen report, export, erasure, location.

Every owner action is a POST with a CSRF token *and* a live tap session for the item (see
``app.catalog.access``): the product in hand, on this phone, minutes ago. Emailed links open a
page with a button, never act on GET, because mail scanners fetch links.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import LazyString, force_locale, lazy_gettext

from app.catalog import access
from app.catalog.holdings import Holding
from app.catalog.models import Owner
from app.core import i18n, outbox
from app.core import privacy as registry
from app.core.clock import now
from app.core.db import db
from app.core.errors import N_, Conflict, DomainError
from app.core.limits import limiter, per_cookie, per_email, per_item, sent, setting
from app.core.mail import normalize_email
from app.core.web import no_store
from app.ownership import brand, lifecycle, privacy, transfers
from app.ownership import email as emails
from app.ownership import location as locations

bp = Blueprint("ownership", __name__)

_OFFER = "offer"


def _owner_tap(gtin: str, serial: str) -> tuple[access.TapContext, Owner, Holding]:
    """Return ``require_owner_tap``'s context with its owner and holding, both present.

    Raises:
        as ``app.catalog.access.require_owner_tap``.
    """
    ctx = access.require_owner_tap(gtin, serial)
    # require_owner_tap checked that the viewer holds the item: both are set.
    assert ctx.viewer is not None and ctx.holding is not None
    return ctx, ctx.viewer, ctx.holding


# --- claim --------------------------------------------------------------------------------------


@bp.post("/items/<gtin>/<serial>/claim")
def claim(gtin: str, serial: str) -> ResponseReturnValue:
    """The one-tap confirmation: "this is mine"."""
    ctx = access.require_tap(gtin, serial)
    with db.writer():
        owner, created = lifecycle.confirm_claim(db.session, ctx.view, ctx.viewer, now())
        public_id = owner.public_id
        db.session.commit()
    response = make_response(
        redirect(url_for("tap.owner", gtin=gtin, serial=serial, welcome="first"), 303)
    )
    if created:
        access.set_owner_cookie(response, public_id)
    return response


# --- transfer -----------------------------------------------------------------------------------


@bp.post("/items/<gtin>/<serial>/transfer")
def transfer(gtin: str, serial: str) -> ResponseReturnValue:
    ctx, owner, _holding = _owner_tap(gtin, serial)
    with db.writer():
        token, offer = transfers.create_offer(db.session, current_app.config, ctx.view, owner,
                                              now())
        expires_at = offer.expires_at
        db.session.commit()
    link = _absolute("ownership.offer", token=token)
    return no_store(render_template("ownership/offer_created.html", item=ctx.view, link=link,
                                     expires_at=expires_at), 201)


@bp.post("/items/<gtin>/<serial>/transfer/cancel")
def cancel_transfer(gtin: str, serial: str) -> ResponseReturnValue:
    _ctx, _owner, holding = _owner_tap(gtin, serial)
    with db.writer():
        transfers.cancel_offers(db.session, holding.id, now())
        db.session.commit()
    return redirect(url_for("tap.owner", gtin=gtin, serial=serial), 303)


@bp.get("/transfer/<token>")
def offer(token: str) -> ResponseReturnValue:
    """The buyer opens the seller's link: remember it here, then ask for a tap of the item."""
    offer = transfers.find_offer(db.session, token, now())
    offer_item = transfers.offer_item(db.session, offer)
    session[_OFFER] = {"token": token, "item_id": offer_item.id}
    live, _ = access.live_tap(offer_item.id)
    return no_store(render_template("ownership/offer.html", item=access.page_view(offer_item),
                                     token=token, live=live, expires_at=offer.expires_at))


@bp.post("/transfer/<token>/accept")
@limiter.limit(setting("TRANSFER_ACCEPT_PER_ADDRESS"))
def accept(token: str) -> ResponseReturnValue:
    offer = transfers.find_offer(db.session, token, now())
    item = transfers.offer_item(db.session, offer)
    ctx = access.require_tap(item.product.gtin, item.serial)
    with db.writer():
        buyer, _ordinal = transfers.accept_offer(db.session, token, ctx.view, ctx.viewer, now())
        public_id = buyer.public_id
        db.session.commit()
    session.pop(_OFFER, None)
    response = make_response(redirect(
        url_for("tap.owner", gtin=item.product.gtin, serial=item.serial, welcome="new"), 303))
    if ctx.viewer is None or ctx.viewer.public_id != public_id:
        access.set_owner_cookie(response, public_id)
    return response


# --- email, recovery ------------------------------------------------------------------------


def _mail(to: str, owner_id: int, template: str, subject: str | LazyString, *,
          valid_until: datetime | None = None, **context: Any) -> None:
    """Queue an email in the request's transaction; the outbox worker sends it. It is written in
    the item's brand's first language (``app.core.i18n.first_language``), whatever the phone
    asked for: the mailbox may be read elsewhere, and a brand writes to its owners in its
    language. Without an item (the data link), English."""
    item = context.get("item")
    with (i18n.in_brand_language(item.product.brand) if item is not None
          else force_locale(i18n.DEFAULT_LOCALE)):
        text = render_template(f"mail/{template}.txt", **context)
        subject = str(subject)
    outbox.enqueue(db.session, current_app.config, to=to, subject=subject, text=text,
                   kind=template, at=now(), owner_id=owner_id, valid_until=valid_until)


def _absolute(endpoint: str, **values: Any) -> str:
    return str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/") + url_for(endpoint, **values)


# Every attempt counts against the address; only emails sent count against the owner, the item
# and the recipient, so a stranger's refused attempts cannot use up the owner's allowance.
@bp.post("/items/<gtin>/<serial>/email")
@limiter.limit(setting("CONFIRM_EMAIL_PER_ADDRESS"))
@limiter.limit(setting("CONFIRM_EMAIL_PER_OWNER"), key_func=per_cookie(access.OWNER_COOKIE),
               deduct_when=sent)
@limiter.limit(setting("CONFIRM_EMAIL_PER_ITEM"), key_func=per_item, deduct_when=sent)
@limiter.limit(setting("CONFIRM_EMAIL_PER_RECIPIENT"), key_func=per_email(), deduct_when=sent)
def email(gtin: str, serial: str) -> ResponseReturnValue:
    ctx, owner, _holding = _owner_tap(gtin, serial)
    address = request.form.get("email", "")
    opt_in = request.form.get("opt_in") == "yes"
    with db.writer():
        token = emails.request_email(db.session, current_app.config, owner, address, opt_in,
                                     now())
        _mail(normalize_email(address), owner.id, "confirm_email",
              lazy_gettext("Confirm your email for your %(name)s", name=ctx.view.product.name),
              link=_absolute("ownership.confirm_email", token=token), item=ctx.view,
              opt_in=opt_in)
        db.session.commit()
    return no_store(render_template("ownership/check_inbox.html", item=ctx.view,
                                     purpose="confirm"))


@bp.post("/items/<gtin>/<serial>/messages")
def messages(gtin: str, serial: str) -> ResponseReturnValue:
    _ctx, owner, _holding = _owner_tap(gtin, serial)
    with db.writer():
        emails.set_opt_in(db.session, owner, request.form.get("opt_in") == "yes", now())
        db.session.commit()
    return redirect(url_for("tap.owner", gtin=gtin, serial=serial), 303)


@bp.route("/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str) -> ResponseReturnValue:
    if request.method == "GET":
        return no_store(render_template("ownership/link_button.html", purpose="confirm"))
    with db.writer():
        emails.confirm_email(db.session, token, now())
        db.session.commit()
    return no_store(render_template("ownership/link_done.html", purpose="confirm"))


@bp.post("/items/<gtin>/<serial>/recover")
@limiter.limit(setting("RECOVERY_EMAIL_PER_ADDRESS"))
@limiter.limit(setting("RECOVERY_EMAIL_PER_ITEM"), key_func=per_item, deduct_when=sent)
def recover(gtin: str, serial: str) -> ResponseReturnValue:
    """A new phone, holding the item, asks for a recovery link to the owner's address."""
    ctx = access.require_tap(gtin, serial)
    with db.writer():
        found = emails.request_recovery(db.session, current_app.config, ctx.view,
                                        request.form.get("email", ""), now())
        if found is not None:
            _mail(found.address, found.owner_id, "recover",
                  lazy_gettext("Your %(name)s on a new phone", name=ctx.view.product.name),
                  valid_until=found.expires_at,
                  link=_absolute("ownership.redeem_recovery", token=found.token), item=ctx.view)
        db.session.commit()
    # The same answer whether or not the address matched: the page reveals no one's email.
    return no_store(render_template("ownership/check_inbox.html", item=ctx.view,
                                     purpose="recover"))


@bp.route("/recover/<token>", methods=["GET", "POST"])
def redeem_recovery(token: str) -> ResponseReturnValue:
    if request.method == "GET":
        return no_store(render_template("ownership/link_button.html", purpose="recover"))
    with db.writer():
        owner = emails.redeem_recovery(db.session, token, now())
        public_id = owner.public_id
        db.session.commit()
    response = no_store(render_template("ownership/link_done.html", purpose="recover"))
    access.set_owner_cookie(response, public_id)
    return response


def _download(document: dict[str, Any]) -> ResponseReturnValue:
    """Return ``document`` as a JSON file to save, which no cache keeps."""
    response = jsonify(document)
    response.headers["Content-Disposition"] = 'attachment; filename="my-aftertap-data.json"'
    response.headers["Cache-Control"] = "no-store"
    return response


# --- data links: export or erasure by a confirmed address, for former owners too -----------


@bp.get("/privacy")
def data_request_form() -> ResponseReturnValue:
    return no_store(render_template("ownership/data_request.html"))


# Every request counts against the asking address and the address asked for, whether or not it
# is known: the page answers the same either way, and mail to one person stays a trickle.
@bp.post("/privacy")
@limiter.limit(setting("DATA_LINK_PER_ADDRESS"))
@limiter.limit(setting("DATA_LINK_PER_RECIPIENT"), key_func=per_email())
def data_request() -> ResponseReturnValue:
    action = request.form.get("action", "")
    minutes = int(current_app.config["DATA_LINK_MINUTES"])
    with db.writer():
        link = emails.request_data_link(db.session, current_app.config,
                                        request.form.get("email", ""), action, now())
        if link is not None:
            _mail(link.address, link.owner_id, "data_link",
                  lazy_gettext("Your data: the link you asked for") if action == "export"
                  else lazy_gettext("Erasing your data: the link you asked for"),
                  valid_until=link.expires_at, action=action, minutes=minutes,
                  link=_absolute("ownership.data_link", token=link.token))
        db.session.commit()
    return no_store(render_template("ownership/check_inbox.html", purpose="data",
                                     minutes=minutes))


@bp.route("/privacy/<token>", methods=["GET", "POST"])
def data_link(token: str) -> ResponseReturnValue:
    """The mailed link: a page with a button (scanners follow links), then the export or erasure
    of every owner that confirmed the address, once."""
    if request.method == "GET":
        action = emails.data_link_action(db.session, token, now())
        return no_store(render_template("ownership/data_link.html", action=action))
    at = now()
    with db.writer():
        action, owner_ids = emails.redeem_data_link(db.session, token, at)
        if action == "export":
            document = {"owners": len(owner_ids),
                        "exports": [registry.export_owner(db.session, i) for i in owner_ids]}
        else:
            for owner_id in owner_ids:
                privacy.erase_owner(db.session, owner_id, at, actor="owner")
        db.session.commit()
    if action == "export":
        return _download(document)
    response = no_store(render_template("ownership/erased.html", owners=len(owner_ids),
                                         by_link=True))
    access.clear_owner_cookie(response)
    return response


# --- stolen, privacy, location ---------------------------------------------------------------


@bp.post("/items/<gtin>/<serial>/stolen")
def report_stolen(gtin: str, serial: str) -> ResponseReturnValue:
    ctx, _owner, _holding = _owner_tap(gtin, serial)
    stolen = request.form.get("stolen") == "yes"
    with db.writer():
        brand.set_stolen(db.session, ctx.item, stolen, now(), actor="owner",
                         reason="reported by the owner")
        db.session.commit()
    return redirect(url_for("tap.owner", gtin=gtin, serial=serial), 303)


@bp.get("/items/<gtin>/<serial>/export")
def export(gtin: str, serial: str) -> ResponseReturnValue:
    """Everything every package holds about the owner, as a JSON download."""
    _ctx, owner, _holding = _owner_tap(gtin, serial)
    return _download(registry.export_owner(db.session, owner.id))


@bp.post("/items/<gtin>/<serial>/erase")
def erase(gtin: str, serial: str) -> ResponseReturnValue:
    ctx, owner, _holding = _owner_tap(gtin, serial)
    if request.form.get("confirm") != "yes":
        raise DomainError(N_("Tick the box to confirm that you want your data erased."))
    with db.writer():
        privacy.erase_owner(db.session, owner.id, now(), actor="owner")
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
        raise DomainError(N_("The position could not be read; nothing was stored.")) from exc
    if ctx.tap_event_id is None:
        raise Conflict(N_("This tap was not recorded, so there is nothing to add a place to."))
    with db.writer():
        locations.record_location(db.session, ctx.tap_event_id, ctx.item.id, latitude,
                                  longitude)
        db.session.commit()
    return no_store(render_template("ownership/location_saved.html", item=ctx.view))
