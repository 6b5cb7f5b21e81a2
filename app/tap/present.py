"""What a tap's page and JSON answer show: the ownership context, the owner's home page.

The owner's home page gathers every domain's part of the item (ownership history, service,
provenance records, points), so it is composed here, above the domains.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, render_template, request, session
from sqlalchemy.orm import Session

from app.aftersales.events import service_history
from app.catalog.access import TapContext
from app.catalog.holdings import Viewer, current_holding
from app.catalog.models import Owner
from app.core.wording import brand_time
from app.messages.consent import field_name, owner_choices
from app.ownership import lifecycle as ownership
from app.ownership import transfers
from app.provenance.records import records_for_item
from app.rewards.ledger import ledger
from app.rewards.loyalty import has_reviewed
from app.rewards.wallet import wallet as owner_wallet
from app.rules.service import Decision
from app.verify.service import GENUINE, REPLAYED, TapOutcome

# The transfer offer a buyer opened, kept in their session until they tap the item.
_OFFER = "offer"
_ITEM_ACTIONS = ("claim", "owner", "email", "transfer", "recover", "location")


def item_urls(gtin: str, serial: str) -> dict[str, str]:
    """Return the item's follow-up action URLs, by action name."""
    # Every tap page carries these; building them from the one route pattern is several times
    # cheaper than url_for per link. GTINs and serials are [0-9A-Za-z-] (app.catalog.service).
    base = f"{request.script_root}/items/{gtin}/{serial}"
    return {name: f"{base}/{name}" for name in _ITEM_ACTIONS}


def page_context(
    outcome: TapOutcome, decision: Decision, effects: ownership.TapEffects,
    person: Owner | Viewer | None,
) -> dict[str, Any] | None:
    """Return what a tap page shows about ownership, or None for a tap that proved nothing."""
    if outcome.verdict != GENUINE or outcome.item is None:
        return None
    state = effects.lifecycle
    holding = state.holding if state else None
    item = outcome.item
    is_owner = bool(effects.claimed or (state and state.viewer_is_owner))
    offer = session.get(_OFFER) or {}
    return {
        "is_owner": is_owner,
        "owned": holding is not None,
        "ordinal": holding.ordinal if holding else None,
        "since": holding.started_at if holding else None,
        "claimed": effects.claimed,
        "warranty_ends_at": effects.warranty_ends_at or item.warranty_ends_at,
        "warranty_activated": effects.warranty_activated,
        "can_confirm": ("confirm_ownership" in effects.offers and holding is None
                        and item.released is not False),
        "pending_offer": offer.get("token")
        if offer.get("item_id") == item.id and not is_owner else None,
        "offers": effects.offers,
        "stolen": item.stolen,
        "urls": item_urls(item.product.gtin, item.serial),
    }


def replay_owner_url(
    session: Session, outcome: TapOutcome, person: Owner | Viewer | None
) -> str | None:
    """Return the owner page's URL when ``outcome`` replays a tap of an item ``person`` (this
    browser's owner cookie) currently holds; None for anyone else, who learns nothing of it."""
    item = outcome.item
    if outcome.verdict != REPLAYED or item is None or person is None:
        return None
    holding = current_holding(session, item.id)
    if holding is None or holding.owner_id != person.id:
        return None
    return item_urls(item.product.gtin, item.serial)["owner"]


def ownership_json(effects: ownership.TapEffects) -> dict[str, Any] | None:
    """Return the ownership part of a tap's JSON answer (no identities), or None."""
    if effects.lifecycle is None:
        return None
    holding = effects.lifecycle.holding
    return {
        "state": "owned" if holding else "unclaimed",
        "ordinal": holding.ordinal if holding else None,
        "you_own_it": effects.claimed or effects.lifecycle.viewer_is_owner,
        "claimed_now": effects.claimed,
    }


def owner_page(db_session: Session, ctx: TapContext, now: datetime, **extra: Any) -> str:
    """Render the owner's home page for the item in ``ctx`` (the caller checked ownership)."""
    item = ctx.view
    owner_id = ctx.viewer.id if ctx.viewer else None
    brand = item.product.brand
    ruleset = current_app.extensions["aftertap.rules"].registry.rulesets().get(brand.slug)
    return render_template(
        "ownership/owner.html",
        item=item,
        wallet=(owner_wallet(db_session, ruleset.doc if ruleset else None, brand.slug, owner_id,
                             now) if owner_id else None),
        brand_time=brand_time,
        entries=list(reversed(ledger(db_session, owner_id, brand.slug)))[:5] if owner_id else [],
        reviewed=has_reviewed(db_session, owner_id, item.product.id) if owner_id else True,
        holding=ctx.holding,
        owner=ctx.viewer,
        history=ownership.history(db_session, item.id),
        service_history=service_history(db_session, item.id),
        provenance_records=records_for_item(db_session, item.id),
        message_choices=(owner_choices(db_session, item.product.brand.slug, owner_id)
                         if owner_id else []),
        consent_field=field_name,
        open_offer=transfers.open_offer(db_session, ctx.holding.id) if ctx.holding else None,
        urls=item_urls(item.product.gtin, item.serial),
        now=now,
        **extra,
    )
