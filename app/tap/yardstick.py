"""The bench's two yardsticks, the pages the tap is measured against.

``/bench/verify-only``: what an open-source stateless verifier does for a tap: parse the query,
decrypt the PICC data, check the CMAC, render a small page; no database, so no replay defence,
no owner, no journey.

``/bench/verify-and-count``: the least a tap with replay defence can do on this app's stack: the
same verification, then the tap's own counter advance and event (``verify_tap`` and
``record_tap``, the statements the tap sends) committed through the app's session, then the same
small page. No owner, no journey, no reward. Its throughput is the ceiling of any tap that keeps
the replay defence synchronous and atomic; the tap's distance from it is what ownership, rules,
rewards and the page cost.

``bench/tap_throughput.py`` serves both beside the full tap in the same server. Registered only
when ``BENCH_VERIFY_ONLY`` is on: the first would call a replayed URL genuine, and the second
records taps outside every journey.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue

from app.core.clock import now
from app.core.db import db
from app.tap.views import STATUS
from app.verify import keyring
from app.verify.service import GENUINE, TapInput, record_tap, verify_tap
from app.verify.sun import MalformedSun, SunResult, parse_query, verify_any

bp = Blueprint("yardstick", __name__)


def _page(result: SunResult | None, status: int) -> ResponseReturnValue:
    response = current_app.response_class(
        render_template("bench/verify_only.html", result=result), status=status,
        mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/bench/verify-only")
def verify_only() -> ResponseReturnValue:
    try:
        message = parse_query(request.query_string.decode("latin-1"))
    except MalformedSun:
        return _page(None, 400)
    result = verify_any(message, keyring(current_app).values())
    return _page(result, 200 if result is not None else 400)


@bp.get("/bench/verify-and-count")
def verify_and_count() -> ResponseReturnValue:
    tap = TapInput(raw_query=request.query_string.decode("latin-1"), at=now(),
                   path_gtin=None, path_serial=None, country=None)
    session = db.session
    with db.writer():
        outcome = verify_tap(session, keyring(current_app), tap)
        record_tap(session, outcome,
                   failed_detail_per_hour=current_app.config["FAILED_TAP_DETAIL_PER_HOUR"])
        session.commit()
    genuine = outcome.verdict == GENUINE
    return _page(outcome.sun if genuine else None, STATUS[outcome.verdict])
