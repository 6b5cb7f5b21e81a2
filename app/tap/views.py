"""Tap routes: ``/t?...`` and the GS1 Digital Link form ``/01/<gtin>/21/<serial>?...``; the
owner's home page and owner-only content, which need the item in hand."""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from jinja2 import TemplateNotFound, UndefinedError

from app.catalog import access
from app.core import i18n
from app.core.clock import now
from app.core.db import db
from app.core.limits import limiter, setting
from app.core.web import no_store, wants_json
from app.ownership.returning import set_claim_cookie
from app.rewards.views import reward_json
from app.rules.service import Decision
from app.tap.pipeline import engage
from app.tap.present import owner_page, ownership_json, page_context, replay_owner_url
from app.verify import keyring
from app.verify.service import (
    GENUINE,
    INVALID,
    REPLAYED,
    REVOKED,
    UNKNOWN_TAG,
    TapInput,
    TapOutcome,
)

log = logging.getLogger(__name__)

bp = Blueprint("tap", __name__)
# One allowance per address across both tap forms: generous, a shop demo taps fast.
_tap_limit = limiter.shared_limit(setting("TAP_PER_ADDRESS"), scope="tap")

STATUS = {GENUINE: 200, INVALID: 400, UNKNOWN_TAG: 404, REPLAYED: 409, REVOKED: 410}
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
# Placeholders some proxies send for "unknown" or "Tor"; not countries.
_NOT_COUNTRIES = {"XX", "T1", "ZZ"}


@bp.get("/t")
@_tap_limit
def tap() -> ResponseReturnValue:
    return _serve_tap(None, None)


@bp.get("/01/<gtin>/21/<serial>")
@_tap_limit
def tap_digital_link(gtin: str, serial: str) -> ResponseReturnValue:
    return _serve_tap(gtin, serial)


def _country() -> str | None:
    header = current_app.config.get("TRUSTED_COUNTRY_HEADER")
    if not header:
        return None
    value = (request.headers.get(header) or "").strip().upper()
    return value if _COUNTRY_RE.match(value) and value not in _NOT_COUNTRIES else None


def render_experience_html(
    outcome: TapOutcome,
    decision: Decision,
    own: dict[str, Any] | None = None,
    owner_url: str | None = None,
) -> str:
    """Render the decided experience; if it cannot be shown for this tap, the safe fallback.

    ``own`` is the page's ownership context (``app.tap.present.page_context``), if any;
    ``owner_url`` the owner's page, offered on a replayed tap by the owner's own browser.
    """
    context = {
        "outcome": outcome,
        "decision": decision,
        "item": outcome.item if outcome.verdict != INVALID else None,
        # Only a genuine tap may say "verified" (base.html's footer).
        "verified": outcome.verdict == GENUINE,
        "replayed": outcome.verdict == REPLAYED,
        "revoked": outcome.verdict == REVOKED,
        "unknown": outcome.verdict == UNKNOWN_TAG,
        "own": own,
        "owner_url": owner_url,
    }
    try:
        return render_template(f"experiences/{decision.experience}.html", **context)
    except (UndefinedError, TemplateNotFound) as exc:
        # A journey sent a tap to a page it cannot fill (e.g. an item page for an unknown tag).
        # The person still gets an honest page; the brand gets a log line naming the journey.
        log.error(
            "experience %r of journey %r cannot render for a %s tap: %s",
            decision.experience, decision.journey, outcome.verdict, exc,
        )
        fallback = "authenticity" if outcome.verdict == GENUINE else "not_verified"
        return render_template(f"experiences/{fallback}.html", **context)


def _serve_tap(gtin: str | None, serial: str | None) -> ResponseReturnValue:
    tap = TapInput(
        raw_query=request.query_string.decode("latin-1"),
        at=now(),
        path_gtin=gtin,
        path_serial=serial,
        country=_country(),
    )
    session = db.session
    with db.writer():
        # The owner cookie's owner is read by the pipeline, with the owner's tap when it can.
        result = engage(
            session,
            current_app.config,
            keyring(current_app),
            current_app.extensions["aftertap.rules"],
            access.owner_credential(),
            tap,
        )
        person = result.person
        # A reload of the owner's own tap page: offer their owner page (read in this turn).
        owner_url = replay_owner_url(session, result.outcome, person)
        session.commit()
    outcome, decision, effects = result.outcome, result.decision, result.effects
    if outcome.item is not None:
        i18n.serve(outcome.item.product.brand)
    if outcome.verdict == GENUINE and outcome.item is not None:
        access.open_tap_session(outcome.item.id, result.event_id, outcome.at)

    status = STATUS[outcome.verdict]
    trusted_uid = outcome.sun.uid_hex if outcome.sun and outcome.verdict != INVALID else None
    if wants_json():
        item = outcome.item
        response = jsonify(
            verdict=outcome.verdict,
            uid=trusted_uid,
            counter=outcome.sun.counter if trusted_uid and outcome.sun else None,
            tamper=outcome.sun.tamper if trusted_uid and outcome.sun else None,
            item={"gtin": item.product.gtin, "serial": item.serial}
            if item is not None and outcome.verdict != INVALID
            else None,
            experience={"journey": decision.journey, "template": decision.experience},
            ownership=ownership_json(effects),
            reward=reward_json(result.grant),
        )
        response.status_code = status
    else:
        own = page_context(outcome, decision, effects, person)
        if own is not None:
            own["grant"] = result.grant
        html = render_experience_html(outcome, decision, own, owner_url)
        response = current_app.response_class(html, status=status, mimetype="text/html")
    if effects.new_owner_public_id:
        access.set_owner_cookie(response, effects.new_owner_public_id)
        # The claim stays provisional until this browser comes back with the cookie.
        set_claim_cookie(response)
    # A tap URL is single-use: never cache the page, never leak the URL onwards.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = "Accept"
    return response


@bp.get("/items/<gtin>/<serial>/owner")
def owner(gtin: str, serial: str) -> ResponseReturnValue:
    """The owner's home page: warranty, history, service, provenance, points, transfer."""
    ctx = access.require_owner_tap(gtin, serial)
    welcome = request.args.get("welcome")
    return no_store(owner_page(db.session, ctx, now(),
                               welcome=welcome if welcome in ("first", "new") else None))


@bp.get("/items/<gtin>/<serial>/content")
def content(gtin: str, serial: str) -> ResponseReturnValue:
    """Owner-only content; anyone without the item in hand and the owner's cookie gets a 403."""
    ctx = access.require_owner_tap(gtin, serial)
    return no_store(render_template("ownership/content.html", item=ctx.view))
