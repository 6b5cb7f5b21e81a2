"""``/admin/alerts``: the brand's integrity alerts (grey market, copied chips, stolen items
seen), newest first, and their acknowledgement.

Marketers and after-sales staff read them; after-sales staff (and admins) acknowledge them, by a
form with its CSRF token. A brand's staff see only their brand's alerts: another brand's alert
is a 404, like one that does not exist. The services are ``app.insights.alerts``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from app.admin.auth import guard
from app.admin.pages import SIGNED_IN_AS, page_brand
from app.catalog.models import Brand
from app.core.clock import now
from app.core.db import db
from app.core.staff import MARKETER, SERVICE
from app.core.web import current_principal, no_store, roles
from app.insights import alerts
from app.insights.integrity import Kind, describe

bp = Blueprint("admin_alerts", __name__, url_prefix="/admin")
bp.before_request(guard)


def _listing(brand: Brand, note: str | None = None) -> ResponseReturnValue:
    kind, state = alerts.check_filters(request.values.get("kind"), request.values.get("state"))
    asked = request.values.get("page", 1, type=int) or 1
    lines, page, pages = alerts.alerts_page(db.session, brand.id, kind, state, asked)
    acting = current_principal()
    context: dict[str, Any] = {
        "brand": brand, "lines": lines, "page": page, "pages": pages, "note": note,
        "kind": str(kind) if kind else "", "state": state or "",
        "kinds": [(str(k), gettext(alerts.KIND_WORDS[k])) for k in Kind],
        "kind_words": lambda k: gettext(alerts.KIND_WORDS[k]), "describe": describe,
        "may_ack": acting.may(frozenset({SERVICE})),
        # The all-brands development admin says which brand in the address.
        "brand_arg": brand.slug if acting.brand_id is None else None,
    }
    return no_store(render_template("admin/alerts.html", acting=acting,
                                    signed_in_as=SIGNED_IN_AS.get(acting.role, ""), **context))


@bp.get("/alerts")
@roles(MARKETER, SERVICE)
def alerts_list() -> ResponseReturnValue:
    """The brand's alerts, 50 a page, by kind and by open or acknowledged."""
    return _listing(page_brand())


@bp.post("/alerts/<int:alert_id>/ack")
@roles(SERVICE)
def acknowledge(alert_id: int) -> ResponseReturnValue:
    """Acknowledge one alert of this brand; a second acknowledgement changes nothing and the
    page says so."""
    brand = page_brand()
    with db.writer():
        done = alerts.acknowledge(db.session, brand.id, alert_id, current_principal().actor,
                                  now())
        db.session.commit()
    note = (gettext("The alert is acknowledged.") if done
            else gettext("This alert was already acknowledged: nothing changed."))
    return _listing(brand, note)
