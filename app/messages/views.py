"""Owners' pages: one-click unsubscribe (RFC 8058) and consent per channel and kind."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.catalog import access
from app.core import security
from app.core.clock import now
from app.core.db import db
from app.core.web import no_store
from app.messages import consent, unsubscribe

bp = Blueprint("messages", __name__)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe_page(token: str) -> ResponseReturnValue:
    """GET shows a button (link scanners change nothing); POST unsubscribes (RFC 8058)."""
    if request.method == "GET":
        kind = unsubscribe.check(db.session, token)
        return no_store(render_template("messages_pages/unsubscribe.html", kind=kind,
                                        done=False))
    with db.writer():
        kind = unsubscribe.unsubscribe(db.session, token, now())
        db.session.commit()
    return no_store(render_template("messages_pages/unsubscribe.html", kind=kind, done=True))


# A mail client's one-click POST carries no CSRF token: the unguessable link is the credential.
security.exempt("messages.unsubscribe_page")


@bp.post("/items/<gtin>/<serial>/consent")
def owner_consent(gtin: str, serial: str) -> ResponseReturnValue:
    """Save the owner's ticks for every message the brand sends (an owner action: CSRF and a
    live tap session, as in app.ownership.views)."""
    ctx = access.require_owner_tap(gtin, serial)
    # require_owner_tap checked that the viewer holds the item: it is set.
    assert ctx.viewer is not None
    ticked = {name for name in request.form if name.startswith("consent:")}
    with db.writer():
        consent.save_choices(db.session, ctx.view.product.brand.slug, ctx.viewer.id, ticked,
                             now())
        db.session.commit()
    return redirect(url_for("tap.owner", gtin=gtin, serial=serial) + "#messages", 303)
