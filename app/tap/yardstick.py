"""``/bench/verify-only``: the stateless verifier page the tap is measured against.

What an open-source stateless verifier does for a tap: parse the query, decrypt the PICC data,
check the CMAC, render a small page; no database, so no replay defence, no owner, no journey.
``bench/tap_throughput.py`` serves it beside the full tap in the same server and reports the
tap's throughput as a share of this page's. Registered only when ``BENCH_VERIFY_ONLY`` is on:
without a counter check it would call a replayed URL genuine.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue

from app.verify import keyring
from app.verify.sun import MalformedSun, parse_query, verify_any

bp = Blueprint("yardstick", __name__)


@bp.get("/bench/verify-only")
def verify_only() -> ResponseReturnValue:
    try:
        message = parse_query(request.query_string.decode("latin-1"))
    except MalformedSun:
        return render_template("bench/verify_only.html", result=None), 400
    result = verify_any(message, keyring(current_app).values())
    status = 200 if result is not None else 400
    response = current_app.response_class(
        render_template("bench/verify_only.html", result=result), status=status,
        mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response
