"""Brand pages under ``/admin``: an item's file by serial or chip, the service queue, stolen
items, reward pools with their stock, refused ruleset versions and scheduled messages.

Each page shows one brand: the signed-in staff member's (asking for another is a 404), or for
the all-brands development admin the brand in ``?brand=`` (default ``DEFAULT_BRAND``). The roles
that may open each page are declared on it with ``roles``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext, lazy_gettext
from sqlalchemy import or_, select

from app.admin.auth import guard
from app.admin.rulesets import refused_rulesets
from app.aftersales.events import service_history
from app.aftersales.requests import SERVICE_KINDS, open_requests
from app.catalog.holdings import current_holding
from app.catalog.models import Brand, Item, Product
from app.core.audit import audit_trail
from app.core.db import db
from app.core.staff import ADMIN, MARKETER, ROLES, SERVICE, TILL
from app.core.web import current_principal, no_store, roles
from app.messages.listing import brand_messages
from app.ownership.lifecycle import history
from app.rewards.models import RewardPool, RewardPrize
from app.rewards.words import prize_words, reward_words
from app.verify.models import Tag

bp = Blueprint("brand", __name__, url_prefix="/admin")
bp.before_request(guard)

# Words staff read, in their language (``lazy_gettext``: chosen when the page is drawn).
BEGAN_BY = {"first_tap": lazy_gettext("first tap"), "confirmed": lazy_gettext("registered"),
            "transfer": lazy_gettext("resale transfer"), "brand": lazy_gettext("by the brand")}
ENDED_BY = {"transfer": lazy_gettext("resold"), "brand": lazy_gettext("by the brand"),
            "erased": lazy_gettext("data erased"), "take_back": lazy_gettext("taken back")}
ACTIONS = {
    "release": lazy_gettext("Marked sold"), "stolen": lazy_gettext("Reported stolen"),
    "recovered": lazy_gettext("Stolen flag cleared"),
    "reassign": lazy_gettext("Given to another owner"), "take_back": lazy_gettext("Taken back"),
    "service_event": lazy_gettext("Service recorded"),
    "service_request": lazy_gettext("Service requested by the owner"),
    "provenance_revoke": lazy_gettext("Provenance record withdrawn"),
    "reward_redeem": lazy_gettext("Reward redeemed"),
    "provenance_issue": lazy_gettext("Provenance record issued"),
    "claim": lazy_gettext("Registered as owner"),
    "take_over": lazy_gettext("Registration taken over"),
    "transfer_offer": lazy_gettext("Resale link made"), "transfer_accept": lazy_gettext("Resold"),
    "email_verified": lazy_gettext("Owner confirmed an email address"),
    "opt_in": lazy_gettext("Owner agreed to messages"),
    "opt_out": lazy_gettext("Owner stopped messages"), "erase": lazy_gettext("Owner’s data erased"),
}
ACTORS = {"owner": lazy_gettext("The owner"), "admin": lazy_gettext("An administrator"),
          "shop": lazy_gettext("A shop"), "till": lazy_gettext("A shop"), "system": "Aftertap",
          "ruleset": lazy_gettext("A journey")}
SIGNED_IN_AS = {
    ADMIN: lazy_gettext("You are signed in as an administrator."),
    MARKETER: lazy_gettext("You are signed in as a marketer."),
    SERVICE: lazy_gettext("You are signed in as after-sales service."),
    TILL: lazy_gettext("You are signed in as a till."),
}


@dataclass(frozen=True)
class Named:
    """Something staff read: its words, or "" when it has none (the page then shows ``id`` as
    code, never an identifier dressed up as words)."""

    id: str
    words: str


def named(identifier: str | None, table: Mapping[str, Any]) -> Named:
    """Return ``identifier`` with its words from ``table`` (translated), or none."""
    found = table.get(identifier or "")
    return Named(identifier or "", str(gettext(found)) if isinstance(found, str) else
                 str(found or ""))


def who(actor: str) -> Named:
    """Return who did something, in words (the log keeps ids; people read roles)."""
    if actor.startswith("staff:"):
        return Named(actor, str(gettext("A staff member")))
    if actor.startswith("token:"):
        return Named(actor, str(gettext("A connected system")))
    return named(actor, ACTORS)


def page_brand() -> Brand:
    """Return the brand this page shows.

    Aborts 404 when a brand's staff asks for another brand, or the brand does not exist.
    """
    acting = current_principal()
    asked = request.args.get("brand") or None
    if acting.brand_id is not None:
        brand = db.session.get(Brand, acting.brand_id)
        if brand is None or (asked is not None and asked != brand.slug):
            abort(404)
        return brand
    slug = asked or str(current_app.config["DEFAULT_BRAND"])
    found = db.session.scalar(select(Brand).where(Brand.slug == slug))
    if found is None:
        abort(404)
    return found


def _page(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    acting = current_principal()
    html = render_template(f"admin/{template}.html", acting=acting,
                           signed_in_as=SIGNED_IN_AS.get(acting.role, ""), **context)
    return no_store(html, status)


@bp.get("/")
@roles(*ROLES)
def home() -> ResponseReturnValue:
    return _page("home", brand=page_brand(), TILL=TILL, SERVICE=SERVICE, MARKETER=MARKETER)


def _item_file(item: Item) -> dict[str, Any]:
    session = db.session
    holding = current_holding(session, item.id)
    return {
        "item": item,
        "owner_ordinal": holding.ordinal if holding else None,
        "owners": [{"ordinal": h.ordinal, "began": named(h.began_by, BEGAN_BY),
                    "started_at": h.started_at, "ended_at": h.ended_at,
                    "ended": named(h.ended_by, ENDED_BY)}
                   for h in history(session, item.id)],
        "services": [{"at": s.at, "kind": named(s.kind, SERVICE_KINDS), "location": s.location}
                     for s in service_history(session, item.id)],
        "events": [{"at": datetime.fromisoformat(e["at"]), "who": who(e["actor"]),
                    "what": named(e["action"], ACTIONS)}
                   for e in reversed(audit_trail(session, item.id))],
    }


@bp.get("/items")
@roles(SERVICE)
def items() -> ResponseReturnValue:
    """Find an item of this brand by serial or chip UID; one match shows its file."""
    brand = page_brand()
    query = (request.args.get("q") or "").strip()[:40]
    if not query:
        return _page("items", brand=brand, query="", matches=[], file=None)
    matches = list(db.session.scalars(
        select(Item).join(Product, Item.product_id == Product.id)
        .outerjoin(Tag, Tag.item_id == Item.id)
        .where(Product.brand_id == brand.id,
               or_(Item.serial == query, Tag.uid == query.upper()))
        .order_by(Item.id).distinct().limit(20)
    ))
    file = _item_file(matches[0]) if len(matches) == 1 else None
    # Nothing of this brand matches: 404, as for an item that does not exist anywhere.
    return _page("items", status=200 if matches else 404, brand=brand, query=query,
                 matches=matches, file=file)


@bp.get("/service")
@roles(SERVICE)
def service_queue() -> ResponseReturnValue:
    brand = page_brand()
    return _page("service", brand=brand, rows=open_requests(db.session, brand.slug),
                 kinds=lambda kind: named(kind, SERVICE_KINDS))


@bp.get("/stolen")
@roles(SERVICE)
def stolen() -> ResponseReturnValue:
    brand = page_brand()
    rows = list(db.session.scalars(
        select(Item).join(Product, Item.product_id == Product.id)
        .where(Product.brand_id == brand.id, Item.stolen_at.is_not(None))
        .order_by(Item.stolen_at.desc()).limit(500)
    ))
    return _page("stolen", brand=brand, rows=rows)


@bp.get("/rewards")
@roles(MARKETER)
def rewards() -> ResponseReturnValue:
    brand = page_brand()
    pools = []
    for pool in db.session.scalars(select(RewardPool).where(RewardPool.brand == brand.slug)
                                   .order_by(RewardPool.reward_id)):
        prizes = db.session.scalars(
            select(RewardPrize).where(RewardPrize.pool_id == pool.id,
                                      RewardPrize.retired.is_(False))
            .order_by(RewardPrize.position, RewardPrize.id)).all()
        # The ruleset's own labels, in the staff member's language; else the id, as code.
        label = reward_words(brand.slug, pool.reward_id)["label"]
        pools.append({
            "name": Named(pool.reward_id, label), "given": pool.given, "budget": pool.budget,
            "prizes": [{"name": Named(p.prize_id,
                                      prize_words(brand.slug, pool.reward_id, p.prize_id)["label"]),
                        "given": p.given, "stock": p.stock, "consolation": p.consolation}
                       for p in prizes]})
    return _page("rewards", brand=brand, pools=pools)


@bp.get("/rulesets")
@roles(MARKETER)
def rulesets() -> ResponseReturnValue:
    brand = page_brand()
    registry = current_app.extensions["aftertap.rules"].registry
    acting = current_principal()
    # A brand's staff see their brand's files; the all-brands admin sees every refused file.
    shown = refused_rulesets(registry, brand.slug if acting.brand_id is not None else None)
    return _page("rulesets", brand=brand, refused=shown)


@bp.get("/messages")
@roles(MARKETER)
def messages() -> ResponseReturnValue:
    """The brand's messages, newest first, 50 a page, with what became of each."""
    brand = page_brand()
    page = request.args.get("page", 1, type=int) or 1
    lines, pages = brand_messages(db.session, brand.slug, page)
    # The listing's words are marked for the catalogue; a transport's reason stays as it is.
    lines = [replace(line, message=gettext(line.message), channel=gettext(line.channel),
                     state=gettext(line.state),
                     reason=gettext(line.reason) if line.reason else None) for line in lines]
    return _page("messages", brand=brand, lines=lines, page=min(max(1, page), pages),
                 pages=pages)
