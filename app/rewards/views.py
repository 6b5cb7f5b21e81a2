"""Reward pages: reveal (click, scratch, unwrap), the public terms, and the till's code API.

A reveal needs the grant's token, a live tap session for the grant's item, and (for owned
rewards) the owner's browser: a forwarded link reveals nothing. A card an email carries (a
message's grant) needs the owner's browser only: the email is read away from the product. The
outcome is decided and stored by ``grants.reveal`` before the page or the scratch animation shows
anything, and a reload shows the stored outcome again.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from app.catalog import access
from app.catalog.holdings import current_holding
from app.catalog.models import Item
from app.catalog.service import brand_slug, find_item
from app.core.clock import iso, now
from app.core.db import db
from app.core.errors import N_, DomainError, Forbidden, NotFound
from app.core.i18n import translate
from app.core.limits import limiter, per_account, setting
from app.core.staff import TILL
from app.core.web import api_blueprint, current_principal, json_body, roles, wants_json
from app.rewards import codes, grants, wallet
from app.rewards.actions import REVIEW, ActionRequired
from app.rewards.grants import GrantView, get_grant, waiting_grant, with_missing
from app.rewards.loyalty import submit_review
from app.rewards.terms import terms as reward_terms
from app.rewards.words import prize_label

bp = Blueprint("rewards", __name__)
# The till (a shop's POS: a till token or staff member, or the development till password) checks
# and redeems its brand's codes and can do nothing else; admins can too.
api = api_blueprint("rewards_api", __name__)

LABELS = {
    grants.PENDING: N_("Your reward is waiting"),
    grants.CONSOLATION: N_("Thank you"),
}


# What a browser without the owner's cookie is told when it opens an emailed card's link: the
# owner reading mail on another device, or someone the link was forwarded to.
MESSAGE_CARD_HOWTO = N_(
    "This card belongs to the owner of the product and opens only in the owner's browser. If it "
    "is yours, open this link on the phone you tap your product with, or tap the product with "
    "this phone first (it restores your owner session), then open the link again."
)


def label(grant: GrantView) -> str:
    """Return the words a person sees for a settled grant: the prize's label from the brand's
    ruleset, never its identifier."""
    if grant.prize_id or grant.points:
        # Its label, else "N points" in the page's language.
        return prize_label(grant.brand, grant.reward_id, grant.prize_id, grant.points)
    return translate(LABELS.get(grant.outcome, N_("Thank you")))


def reward_json(grant: GrantView | None) -> dict[str, Any] | None:
    """Return a tap's reward as JSON: pending ones give only where to reveal them."""
    if grant is None:
        return None
    body: dict[str, Any] = {"reward": grant.reward_id, "mechanic": grant.mechanic,
                            "outcome": grant.outcome}
    if grant.pending:
        body["reveal"] = url_for("rewards.reveal_page", token=grant.token)
        if grant.requires:
            body["locked"] = grant.locked
            if grant.locked:
                body["instruction"] = grant.instruction
    else:
        body.update(prize=grant.prize_id, points=grant.points, code=grant.code,
                    label=label(grant))
    return body


def _grant_for_browser(token: str) -> GrantView:
    """Return the grant behind ``token`` if this browser may see it.

    Raises:
        NotFound: no such grant.
        NeedsTap: no live tap session for the grant's item here (for a message's grant: no
            owner cookie here; the error says how to open it).
        Forbidden: the grant belongs to another owner.
    """
    grant = get_grant(db.session, token)
    viewer = access.viewer()
    if grant.message_key is not None or grant.ledger_entry_id is not None:
        # A card carried by an email (the mailbox is often not the phone that taps) or a code
        # bought with points: no tap made it, so the owner's cookie is what it asks for, not a
        # live tap session.
        if viewer is None:
            raise access.NeedsTap(MESSAGE_CARD_HOWTO if grant.message_key is not None else None)
        if viewer.id != grant.owner_id:
            raise Forbidden(N_("This reward belongs to the item's owner."))
        return grant
    live, _event = access.live_tap(grant.item_id)
    if not live:
        raise access.NeedsTap()
    if grant.owner_id is not None and (viewer is None or viewer.id != grant.owner_id):
        raise Forbidden(N_("This reward belongs to the item's owner."))
    return grant


def _page(grant: GrantView, status: int = 200) -> ResponseReturnValue:
    grant = with_missing(db.session, grant)
    item = access.page_view(db.session.get_one(Item, grant.item_id))
    html = render_template("rewards/reveal.html", grant=grant, item=item, label=label(grant),
                           review=REVIEW)
    response = current_app.response_class(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/rewards/<token>")
def reveal_page(token: str) -> ResponseReturnValue:
    return _page(_grant_for_browser(token))


@bp.post("/rewards/<token>/reveal")
def reveal(token: str) -> ResponseReturnValue:
    with db.writer():
        grant = _grant_for_browser(token)
        try:
            grant = grants.reveal(db.session, grant.id, grant.owner_id, now())
        except ActionRequired:
            # Nothing was drawn or taken; the browser gets the card again, locked, saying what
            # to do (409), and a JSON client the error with the same sentence.
            db.session.rollback()
            if wants_json():
                raise
            return _page(grant, status=409)
        db.session.commit()
    if wants_json():
        return jsonify(outcome=grant.outcome, prize=grant.prize_id, points=grant.points,
                       code=grant.code, label=label(grant),
                       expires_at=iso(grant.expires_at))
    return redirect(url_for("rewards.reveal_page", token=token), 303)


@bp.get("/rewards/terms/<brand>")
def terms(brand: str) -> ResponseReturnValue:
    ruleset = current_app.extensions["aftertap.rules"].registry.rulesets().get(brand)
    if ruleset is None:
        abort(404)
    # Read only: a public page anyone can flood must not write. Seeds are committed to and
    # revealed by ``flask rewards seeds publish|reveal`` (daily); until then the page says so.
    rows = reward_terms(db.session, ruleset.doc, brand, now())
    # End the read before rendering: on SQLite every transaction holds the database's lock.
    db.session.rollback()
    html = render_template("rewards/terms.html", rewards=rows, title=ruleset.title, brand=brand)
    response = current_app.response_class(html, mimetype="text/html")
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


@bp.post("/items/<gtin>/<serial>/review")
def review(gtin: str, serial: str) -> ResponseReturnValue:
    """The owner, with the item in hand, reviews its product (once); review points follow."""
    with db.writer():
        ctx = access.require_owner_tap(gtin, serial)
        # require_owner_tap refused anyone but the item's owner: the viewer is known.
        assert ctx.viewer is not None
        entry = submit_review(db.session, current_app.config, ctx.view, ctx.viewer.id,
                              request.form.get("rating"), request.form.get("text", ""), now())
        # A reward that waited for this review may be revealed now: the thanks page says so.
        unlocked = waiting_grant(db.session, ctx.viewer.id, ctx.view.id)
        db.session.commit()
    html = render_template("rewards/reviewed.html", item=ctx.view,
                           points=entry.points if entry else 0, unlocked=unlocked)
    response = current_app.response_class(html, status=201, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/items/<gtin>/<serial>/points/<catalogue_id>")
def spend(gtin: str, serial: str, catalogue_id: str) -> ResponseReturnValue:
    """The owner, with the item in hand, buys a catalogue item with points (its code shows in
    the wallet); short of points or sold out: 409 with the reason, nothing taken."""
    with db.writer():
        ctx = access.require_owner_tap(gtin, serial)
        assert ctx.viewer is not None  # require_owner_tap refused anyone but the owner
        brand = ctx.view.product.brand.slug
        ruleset = current_app.extensions["aftertap.rules"].registry.rulesets().get(brand)
        if ruleset is None:
            raise NotFound(N_("There is no such item in the points catalogue."))
        view = wallet.spend(db.session, ruleset.doc, brand, ctx.viewer.id, ctx.view.id,
                            catalogue_id, now())
        db.session.commit()
    if wants_json():
        return jsonify(item=catalogue_id, code=view.code, expires_at=iso(view.expires_at)), 201
    return redirect(url_for("tap.owner", gtin=gtin, serial=serial) + "#wallet", 303)


# --- the till -----------------------------------------------------------------------------------


def _redemption_json(view: codes.RedemptionView) -> dict[str, Any]:
    return {"code": view.code, "brand": view.brand, "reward": view.reward_id,
            "prize": view.prize_id, "status": view.status, "shop": view.shop,
            "expires_at": iso(view.expires_at),
            "redeemed_at": iso(view.redeemed_at)}


# Code guesses: per address and per till account, checks and redeems together.
_till_per_address = limiter.shared_limit(setting("TILL_PER_ADDRESS"), scope="till-codes")
_till_per_account = limiter.shared_limit(setting("TILL_PER_ACCOUNT"), scope="till-codes",
                                         key_func=per_account)


@api.get("/codes/<code>")
@roles(TILL)
@_till_per_address
@_till_per_account
def check(code: str) -> ResponseReturnValue:
    brand = brand_slug(db.session, current_principal().brand_id)
    return jsonify(_redemption_json(codes.check_code(db.session, code, now(), brand)))


@api.post("/codes/<code>/redeem")
@roles(TILL)
@_till_per_address
@_till_per_account
def redeem(code: str) -> ResponseReturnValue:
    shop = json_body().get("shop")
    if not isinstance(shop, str) or not shop.strip():
        raise DomainError('Say which shop redeems the code: {"shop": "Paris Rivoli"}.')
    acting = current_principal()
    with db.writer():
        view = codes.redeem(db.session, code, now(), shop=shop.strip()[:80],
                            brand=brand_slug(db.session, acting.brand_id), actor=acting.actor)
        db.session.commit()
    return jsonify(_redemption_json(view))


@api.post("/items/<gtin>/<serial>/points/debit")
@roles(TILL)
@_till_per_address
@_till_per_account
def debit_points(gtin: str, serial: str) -> ResponseReturnValue:
    """Take points off the item's owner as payment: ``{"points": 200, "reference": "R-1"}``."""
    body = json_body()
    acting = current_principal()
    with db.writer():
        item = find_item(db.session, gtin, serial, acting.brand_id)
        holding = current_holding(db.session, item.id)
        if holding is None:
            raise NotFound("Nobody owns this item yet: there are no points to take.")
        entry = wallet.till_debit(db.session, holding.owner_id, item.id, body.get("points"),
                                  body.get("reference"), item.product.brand.slug, now(),
                                  actor=acting.actor)
        db.session.commit()
    return jsonify(points=-entry.points, balance=entry.balance_after, reference=entry.cause_id)
