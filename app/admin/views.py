"""``/admin/preview``: see what a journey shows for a chosen item and lifecycle moment.

For admins and marketers (``roles``), of their own brand only: another brand's ruleset is a 404
and its items are not offered. Signed-out visitors get the sign-in page (``app.admin.auth``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from sqlalchemy import select

from app.admin.auth import guard
from app.admin.rulesets import refused_rulesets
from app.catalog.models import Brand, Item, Product
from app.core import i18n
from app.core.clock import now, utc
from app.core.db import db
from app.core.staff import MARKETER
from app.core.web import current_principal, no_store, roles
from app.journeys.facts import AT_KEY
from app.journeys.vocabulary import complete_fact
from app.rules import FALLBACK_FAILED, FALLBACK_GENUINE, localise
from app.rules.service import Decision, Ruleset, decide, explain_fact
from app.rules.tools import parse_fact_assignments
from app.tap.present import page_context
from app.tap.simulate import (
    NEW_OWNER,
    OWNER,
    STRANGER,
    SimulationRefused,
    preview_effects,
    preview_reward,
    simulate_tap,
)
from app.tap.views import render_experience_html
from app.verify.models import Tag
from app.verify.service import GENUINE, TagNotFound, find_tag

bp = Blueprint("admin", __name__, url_prefix="/admin")

# Lifecycle moments a marketer can preview, as the facts they stand for (labels in the staff
# member's language, chosen when the page is drawn).
MOMENTS: dict[str, tuple[Any, dict[str, Any]]] = {
    "as-is": (lazy_gettext("The item as it is (nothing assumed)"), {}),
    "first-tap": (lazy_gettext("First tap of a sold item"),
                  {"tap.number": 1, "item.released": True}),
    "visitor": (lazy_gettext("Someone else tapping it later"),
                {"tap.number": 4, "owner.is_current": False}),
    "owner-day-30": (lazy_gettext("Owner, one month in"), {
        "tap.number": 5, "owner.is_current": True, "ownership.state": "owned",
        "ownership.days": 30, "ownership.owner_taps": 4}),
    "owner-day-80": (lazy_gettext("Owner, day 80"), {
        "tap.number": 8, "owner.is_current": True, "ownership.state": "owned",
        "ownership.days": 80, "ownership.owner_taps": 7}),
    "owner-year-2": (lazy_gettext("Owner, two years in, never serviced"), {
        "tap.number": 30, "owner.is_current": True, "ownership.state": "owned",
        "ownership.days": 800, "owner.has_reviewed": True, "service.count": 0,
        "ownership.owner_taps": 29}),
    "resale-buyer": (lazy_gettext("A resale buyer’s first tap"), {
        "tap.number": 12, "owner.is_current": True, "ownership.state": "owned",
        "ownership.ordinal": 2, "ownership.owner_taps": 1}),
    "copied-link": (lazy_gettext("A copied (replayed) link"), {"tap.verdict": "replayed"}),
}

# Who holds the phone, with an item (``app.tap.simulate``).
VIEWER_WORDS = {STRANGER: lazy_gettext("A stranger (no owner cookie)"),
                OWNER: lazy_gettext("The owner at that moment"),
                NEW_OWNER: lazy_gettext("A new owner (just bought it)")}

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
    moment = request.args.get("moment") or "as-is"
    serial = (request.args.get("item") or "").strip()
    # A moment that speaks of an owner, with nobody chosen, is someone who just became one.
    viewer = request.args.get("viewer") or (
        NEW_OWNER if MOMENTS.get(moment, ("", {}))[1].get("owner.is_current") else STRANGER)
    at_text = (request.args.get("at") or "").strip()
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
        "viewers": VIEWER_WORDS, "viewer": viewer, "at_text": at_text, "reward": None,
    }
    ruleset = rulesets.get(brand)
    if ruleset is None:
        context["problem"] = gettext("No live ruleset for brand %(brand)s.", brand=repr(brand))
        return context
    if moment not in MOMENTS:
        context["problem"] = gettext("Unknown moment %(moment)s.", moment=repr(moment[:40]))
        return context
    if viewer not in VIEWER_WORDS:
        context["problem"] = gettext("Choose who taps: the owner, a stranger or a new owner.")
        return context
    try:
        overrides = parse_fact_assignments([ln for ln in extra.splitlines() if ln.strip()])
        at = _moment(at_text, ruleset.doc.timezone)
    except ValueError as exc:
        context["problem"] = str(exc)
        return context
    simulation = None
    # Without an item there is still a moment: dated journeys and calendar facts follow it.
    base: dict[str, Any] = {AT_KEY: at}
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
        try:
            simulation = simulate_tap(session, ruleset, tag, at, viewer)
        except SimulationRefused as exc:
            context["problem"] = str(exc)
            return context
        base = simulation.fact
    fact = localise(complete_fact({**base, **MOMENTS[moment][1], **overrides},
                                  ruleset.doc.reward_ids), ruleset.doc.timezone)
    outcome = simulation.outcome if simulation is not None else None
    if outcome is not None:
        outcome.verdict = fact["tap.verdict"]
        outcome.number = fact.get("tap.number")
    decision = decide(ruleset, fact)
    context.update(decision=decision, rows=explain_fact(ruleset, fact),
                   fact={k: v for k, v in sorted(fact.items()) if not k.startswith("_")},
                   outcome=outcome, ruleset=ruleset, simulation=simulation)
    if simulation is not None and outcome is not None and outcome.verdict == GENUINE:
        # What the page would carry: the actions' effects and the reward, dry-run.
        shown = decision or fallback(ruleset, fact)
        effects = preview_effects(simulation, shown)
        context.update(effects=effects,
                       reward=preview_reward(session, ruleset, simulation, shown, effects))
    return context


def _moment(text: str, timezone: str) -> datetime:
    """Return the moment ``text`` names (a date, or a date and time, in ``timezone`` unless it
    gives an offset), in UTC; now when empty.

    Raises:
        ValueError: ``text`` is not such a date.
    """
    if not text:
        return now()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(gettext("The moment %(text)s is not a date: write it like 2026-12-24 "
                                 "or 2026-12-24T18:30.", text=repr(text[:40]))) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return utc(moment)


def fallback(ruleset: Ruleset, fact: Mapping[str, Any]) -> Decision:
    """The built-in page a tap gets when no journey matches (``app.rules.Rules.decide_with``)."""
    genuine = fact.get("tap.verdict") == GENUINE
    return Decision(journey=None, experience=FALLBACK_GENUINE if genuine else FALLBACK_FAILED,
                    ruleset_version=ruleset.version)


@bp.get("/preview")
@roles(MARKETER)
def preview() -> ResponseReturnValue:
    return render_template("admin/preview.html", **_preview_context())


@bp.get("/preview/page")
@roles(MARKETER)
def preview_page() -> ResponseReturnValue:
    """The experience itself, exactly as the phone would render it for that moment."""
    # The phone's page speaks the brand's languages (as the tap does), not the staff member's.
    i18n.for_staff(False)
    context = _preview_context()
    if context["problem"] or context.get("outcome") is None:
        abort(400, description=context["problem"] or gettext("Choose an item to render its "
                                                             "page."))
    outcome = context["outcome"]
    if outcome.item is not None:
        i18n.serve(outcome.item.product.brand)
    # No journey matches: the tap shows the built-in page, and so does the preview.
    decision = context["decision"] or fallback(context["ruleset"], context["fact"])
    own = None
    if context.get("effects") is not None:
        own = page_context(outcome, decision, context["effects"], None)
        if own is not None:
            reward = context["reward"]
            own["grant"] = reward.grant if reward is not None else None
    return no_store(render_experience_html(outcome, decision, own))
