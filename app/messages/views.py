"""Owners' pages: one-click unsubscribe (RFC 8058), consent per channel and kind, and the
owner's time zone for messages."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app.catalog import access
from app.core import i18n, security
from app.core.clock import now
from app.core.db import db
from app.core.web import no_store
from app.messages import consent, unsubscribe, zones

bp = Blueprint("messages", __name__)


@bp.app_template_global("time_zone_choices")
def time_zone_choices(current: str | None) -> tuple[tuple[str, str], ...]:
    """The zones the owner's page offers inline, as ``(name, label)`` (``zones.common_choices``).
    """
    return zones.common_choices(current)


@bp.route("/items/<gtin>/<serial>/timezone", methods=["GET", "POST"])
def owner_timezone(gtin: str, serial: str) -> ResponseReturnValue:
    """Every time zone, by area, for an owner whose zone is not among the owner page's few; an
    owner action (a live tap session; CSRF on POST). An unknown zone is refused (400)."""
    ctx = access.require_owner_tap(gtin, serial)
    # require_owner_tap checked that the viewer holds the item: it is set.
    assert ctx.viewer is not None
    if request.method == "POST":
        with db.writer():
            zones.set_owner_timezone(db.session, ctx.viewer.id,
                                     request.form.get("timezone", ""))
            db.session.commit()
        return redirect(url_for("tap.owner", gtin=gtin, serial=serial) + "#messages", 303)
    current = zones.owner_timezone(db.session, ctx.viewer.id)
    return no_store(render_template("messages_pages/timezone.html", item=ctx.view,
                                    current=current, groups=zones.grouped_choices()))


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe_page(token: str) -> ResponseReturnValue:
    """GET shows a button (link scanners change nothing); POST unsubscribes (RFC 8058). The
    page speaks the language its email was written in, whatever the phone asks for."""
    if request.method == "GET":
        link = unsubscribe.check(db.session, token)
        i18n.use_brand((link.language,), link.timezone)
        return no_store(render_template("messages_pages/unsubscribe.html", link=link,
                                        done=False))
    with db.writer():
        link = unsubscribe.unsubscribe(db.session, token, now())
        db.session.commit()
    i18n.use_brand((link.language,), link.timezone)
    return no_store(render_template("messages_pages/unsubscribe.html", link=link, done=True))


# A mail client's one-click POST carries no CSRF token: the unguessable link is the credential.
security.exempt("messages.unsubscribe_page")


@bp.post("/items/<gtin>/<serial>/consent")
def owner_consent(gtin: str, serial: str) -> ResponseReturnValue:
    """Save the owner's ticks for every message the brand sends and, when the form sends one,
    their time zone ("" for automatic); an owner action: CSRF and a live tap session, as in
    app.ownership.views. An unknown zone is refused (400) before anything is saved."""
    ctx = access.require_owner_tap(gtin, serial)
    # require_owner_tap checked that the viewer holds the item: it is set.
    assert ctx.viewer is not None
    ticked = {name for name in request.form if name.startswith("consent:")}
    timezone = request.form.get("timezone")
    with db.writer():
        if timezone is not None:
            zones.set_owner_timezone(db.session, ctx.viewer.id, timezone)
        consent.save_choices(db.session, ctx.view.product.brand.slug, ctx.viewer.id, ticked,
                             now())
        db.session.commit()
    return redirect(url_for("tap.owner", gtin=gtin, serial=serial) + "#messages", 303)
