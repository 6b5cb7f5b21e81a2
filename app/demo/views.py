"""``/demo``: a page of 'tap this product' buttons standing in for a phone, when DEMO is on."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, current_app, redirect, render_template, request
from flask.typing import ResponseReturnValue

from app.core.db import db
from app.demo.service import demo_tags
from app.verify import keyring
from app.verify.service import TagNotFound, find_tag, mint_tap_url

bp = Blueprint("demo", __name__)


def _enabled() -> None:
    if not current_app.config.get("DEMO"):
        abort(404)


@bp.get("/demo")
def index() -> ResponseReturnValue:
    _enabled()
    return render_template("demo.html", tags=demo_tags(db.session))


@bp.post("/demo/tap/<serial>")
def tap(serial: str) -> ResponseReturnValue:
    """Mint a fresh tap for ``serial`` and send the browser to it, as a phone would open it."""
    _enabled()
    session = db.session
    try:
        tag = find_tag(session, serial)
    except TagNotFound:
        abort(404)
    # A path, not an absolute URL: the redirect must never follow a forged Host header.
    url = mint_tap_url(
        session, keyring(current_app), tag, "",
        mode=request.args.get("mode", "aes") if request.args.get("mode") in ("aes", "lrp", "plain")
        else "aes",
    )
    session.commit()
    return redirect(url, code=303)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
