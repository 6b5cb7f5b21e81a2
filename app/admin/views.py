"""``/admin/preview``: see what a journey shows for a chosen item and lifecycle moment.

For admins and marketers (``roles``), of their own brand only: another brand's ruleset is a 404
and its items are not offered. Signed-out visitors get the sign-in page (``app.admin.auth``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from app.admin.auth import guard
from app.admin.rulesets import refused_rulesets
from app.catalog.models import Brand, Item, Product
from app.core.clock import now
from app.core.db import db
from app.core.staff import MARKETER
from app.core.web import current_principal, roles
from app.journeys.facts import tap_fact
from app.journeys.vocabulary import complete_fact
from app.rules import localise
from app.rules.service import decide, explain_fact
from app.rules.tools import parse_fact_assignments, simulated_outcome
from app.tap.views import render_experience_html
from app.verify.models import Tag
from app.verify.service import TagNotFound, find_tag

bp = Blueprint("admin", __name__, url_prefix="/admin")

# Lifecycle moments a marketer can preview, as the facts they stand for.
MOMENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "first-tap": ("First tap of a sold item", {"tap.number": 1, "item.released": True}),
    "visitor": ("Someone else tapping it later", {"tap.number": 4, "owner.is_current": False}),
    "owner-day-30": ("Owner, one month in", {
        "tap.number": 5, "owner.is_current": True, "ownership.state": "owned",
        "ownership.days": 30, "ownership.owner_taps": 4}),
    "owner-day-80": ("Owner, day 80", {
        "tap.number": 8, "owner.is_current": True, "ownership.state": "owned",
        "ownership.days": 80, "ownership.owner_taps": 7}),
    "owner-year-2": ("Owner, two years in, never serviced", {
        "tap.number": 30, "owner.is_current": True, "ownership.state": "owned",
        "ownership.days": 800, "owner.has_reviewed": True, "service.count": 0,
        "ownership.owner_taps": 29}),
    "resale-buyer": ("A resale buyer's first tap", {
        "tap.number": 12, "owner.is_current": True, "ownership.state": "owned",
        "ownership.ordinal": 2, "ownership.owner_taps": 1}),
    "copied-link": ("A copied (replayed) link", {"tap.verdict": "replayed"}),
}


bp.before_request(guard)


def _preview_context() -> dict[str, Any]:
    rules = current_app.extensions["aftertap.rules"]
    rulesets = rules.registry.rulesets()
    acting = current_principal()
    session = db.session
    own = (session.scalar(select(Brand.slug).where(Brand.id == acting.brand_id))
           if acting.brand_id is not None else None)
    if own is not None:
        if request.args.get("brand") not in (None, "", own):
            abort(404)
        rulesets = {slug: r for slug, r in rulesets.items() if slug == own}
    brand = own or request.args.get("brand") or next(iter(sorted(rulesets)), "")
    moment = request.args.get("moment", "first-tap")
    serial = (request.args.get("item") or "").strip()
    extra = request.args.get("facts", "")
    items = select(Item.serial).join(Tag, Tag.item_id == Item.id)
    if acting.brand_id is not None:
        items = items.join(Product, Item.product_id == Product.id).where(
            Product.brand_id == acting.brand_id)
    serials = list(session.scalars(items.order_by(Item.serial).limit(500)))
    # Only this brand's refused files (every file for the all-brands admin).
    errors = {e.source: e for e in refused_rulesets(rules.registry, own)}
    context: dict[str, Any] = {
        "rulesets": rulesets, "errors": errors, "brand": brand,
        "moments": MOMENTS, "moment": moment, "serials": serials, "serial": serial,
        "facts_text": extra, "problem": None, "decision": None, "rows": [], "fact": {},
    }
    ruleset = rulesets.get(brand)
    if ruleset is None:
        context["problem"] = f"No live ruleset for brand {brand!r}."
        return context
    if moment not in MOMENTS:
        context["problem"] = f"Unknown moment {moment!r}."
        return context
    try:
        overrides = parse_fact_assignments([ln for ln in extra.splitlines() if ln.strip()])
    except ValueError as exc:
        context["problem"] = str(exc)
        return context
    outcome = None
    base: dict[str, Any] = {}
    if serial:
        try:
            if acting.brand_id is None:
                tag = find_tag(session, serial)
            else:
                # Within the brand: another brand's item gets word for word the answer for a
                # serial nobody has, and a serial shared with it is not "ambiguous".
                found = session.scalar(
                    select(Tag).join(Item, Tag.item_id == Item.id)
                    .join(Product, Item.product_id == Product.id)
                    .where(Item.serial == serial, Product.brand_id == acting.brand_id).limit(1))
                if found is None:
                    raise TagNotFound(f"no tagged item has serial {serial!r}")
                tag = found
        except TagNotFound as exc:
            context["problem"] = str(exc)
            return context
        outcome = simulated_outcome(tag, now())
        base = tap_fact(outcome)
    fact = localise(complete_fact({**base, **MOMENTS[moment][1], **overrides},
                                  ruleset.doc.reward_ids), ruleset.doc.timezone)
    if outcome is not None:
        outcome.verdict = fact["tap.verdict"]
        outcome.number = fact.get("tap.number")
    context.update(decision=decide(ruleset, fact), rows=explain_fact(ruleset, fact),
                   fact={k: v for k, v in sorted(fact.items()) if not k.startswith("_")},
                   outcome=outcome, ruleset=ruleset)
    return context


@bp.get("/preview")
@roles(MARKETER)
def preview() -> ResponseReturnValue:
    return render_template("admin/preview.html", **_preview_context())


@bp.get("/preview/page")
@roles(MARKETER)
def preview_page() -> ResponseReturnValue:
    """The experience itself, exactly as the phone would render it for that moment."""
    context = _preview_context()
    if context["problem"] or context.get("outcome") is None:
        abort(400, description=context["problem"] or "Choose an item to render its page.")
    decision = context["decision"]
    if decision is None:
        abort(400, description="No journey matches this moment.")
    return render_experience_html(context["outcome"], decision)
