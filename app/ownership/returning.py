"""The claiming browser comes back: its provisional first-tap claim becomes confirmed.

A first tap that made a new owner answers with the owner cookie and, beside it, a small marker
cookie. Any later request that carries the marker confirms that owner's provisional claims with
one conditional UPDATE (``app.ownership.lifecycle.confirm_claims``) and clears the marker, so
requests after that cost nothing: no marker, no query. The marker only says "look"; the owner
comes from the signed owner cookie, so a forged marker confirms nothing.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, g, request

from app.catalog import access
from app.core.clock import now
from app.core.db import db
from app.ownership.lifecycle import confirm_claims

CLAIM_COOKIE = "aftertap_claim"
_SEEN = "aftertap_claim_seen"


def set_claim_cookie(response: Response) -> None:
    """Mark this browser as holding a provisional claim (set beside a new owner's cookie)."""
    response.set_cookie(
        CLAIM_COOKIE,
        "1",
        # As long as the owner cookie: whenever the browser returns, it confirms.
        max_age=int(current_app.config["OWNER_COOKIE_DAYS"]) * 86400,
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config["COOKIE_SECURE"]) or request.is_secure,
        path="/",
    )


def _confirm_on_return() -> None:
    if CLAIM_COOKIE not in request.cookies:
        return
    # Inside the writer turn: on SQLite the owner lookup already opens the write transaction.
    with db.writer():
        owner = access.viewer()
        if owner is not None:
            confirm_claims(db.session, owner.id, now())
        # Committed before the view runs: the claim stands even if this request fails later.
        db.session.commit()
    g.setdefault(_SEEN, True)


def _clear_marker(response: Response) -> Response:
    # Done once the browser has come back (or its owner cookie is gone), unless this very
    # response made a new provisional claim and set the marker again.
    if g.pop(_SEEN, False) and not any(
        header.startswith(f"{CLAIM_COOKIE}=") for header in response.headers.getlist("Set-Cookie")
    ):
        response.delete_cookie(CLAIM_COOKIE, path="/", httponly=True, samesite="Lax")
    return response


def init_app(app: Flask) -> None:
    """Confirm provisional claims on every request that carries the marker."""
    app.before_request(_confirm_on_return)
    app.after_request(_clear_marker)
