"""Who is asking, at the request boundary: the owner cookie and the short-lived tap session.

* The **owner cookie** holds an owner's opaque ``public_id``, signed with the app secret
  (HttpOnly, SameSite=Lax, long-lived). It says *who* the browser belongs to.
* The **tap session** says the product was in hand minutes ago: a genuine tap records the item
  in this browser's signed session with an expiry. Every follow-up action (claim, add email,
  service request, transfer, reveal...) needs a live one for that item, so a copied page or
  link cannot act without the product.

Views of every package use ``require_tap`` and ``require_owner_tap``; services never see cookies.
It lives in the catalogue, below the domains, because every domain's pages need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Response, current_app, g, request, session
from itsdangerous import BadSignature, URLSafeSerializer

from app.catalog.holdings import Holding, current_holding, find_owner
from app.catalog.models import Item, Owner
from app.catalog.service import find_item
from app.catalog.views import ItemView, item_view
from app.core import clock, i18n
from app.core.db import db
from app.core.errors import N_, Forbidden


class NeedsTap(Forbidden):
    """The action needs the product in hand: a fresh tap in this browser, minutes ago."""

    code = "tap_required"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or N_("Hold your phone to the product again to do this. For your security, actions "
                  "only work for a few minutes after a tap, on the phone that tapped.")
        )


class NotOwner(Forbidden):
    code = "not_owner"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or N_("Only the registered owner of this item can do this."))

OWNER_COOKIE = "aftertap_owner"
_TAPS = "taps"
# A browser keeps tap sessions for a handful of items at most; the oldest is dropped first.
_MAX_TAP_SESSIONS = 8


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="aftertap.owner")


def owner_credential() -> str | None:
    """The credential in this browser's owner cookie (None: none, or its signature is bad).

    Only a credential: whether it names a (not erased) owner is the database's to say."""
    raw = request.cookies.get(OWNER_COOKIE)
    if not raw:
        return None
    try:
        public_id = _serializer().loads(raw)
    except BadSignature:
        return None
    return public_id if isinstance(public_id, str) else None


def viewer() -> Owner | None:
    """Return the owner this browser's cookie names (None: no cookie, forged, or erased)."""
    if "viewer" not in g:
        g.viewer = find_owner(db.session, owner_credential())
    viewer_: Owner | None = g.viewer
    return viewer_


def set_owner_cookie(response: Response, public_id: str) -> None:
    """Give this browser the owner credential ``public_id``."""
    response.set_cookie(
        OWNER_COOKIE,
        _serializer().dumps(public_id),
        max_age=int(current_app.config["OWNER_COOKIE_DAYS"]) * 86400,
        httponly=True,
        # Lax, not Strict: a tap opens the page as a top-level navigation from outside the site.
        samesite="Lax",
        secure=bool(current_app.config["COOKIE_SECURE"]) or request.is_secure,
        path="/",
    )


def clear_owner_cookie(response: Response) -> None:
    response.delete_cookie(OWNER_COOKIE, path="/", httponly=True, samesite="Lax")


def open_tap_session(item_id: int, event_id: int | None, at: datetime) -> None:
    """Record in this browser that ``item_id`` was genuinely tapped at ``at``."""
    ttl = int(current_app.config["TAP_SESSION_SECONDS"])
    now = int(at.timestamp())
    taps = {k: v for k, v in dict(session.get(_TAPS) or {}).items() if v[0] > now}
    taps[str(item_id)] = [now + ttl, event_id]
    if len(taps) > _MAX_TAP_SESSIONS:
        taps = dict(sorted(taps.items(), key=lambda kv: kv[1][0])[-_MAX_TAP_SESSIONS:])
    session[_TAPS] = taps


def close_tap_session(item_id: int) -> None:
    taps = dict(session.get(_TAPS) or {})
    if taps.pop(str(item_id), None) is not None:
        session[_TAPS] = taps


def live_tap(item_id: int, now: datetime | None = None) -> tuple[bool, int | None]:
    """Return ``(live, tap_event_id)`` for this browser's tap session of ``item_id``."""
    entry = (session.get(_TAPS) or {}).get(str(item_id))
    moment = int((now or clock.now()).timestamp())
    if not entry or entry[0] <= moment:
        return False, None
    return True, entry[1]


@dataclass(frozen=True)
class TapContext:
    """A follow-up request made with the item in hand."""

    item: Item
    view: ItemView
    viewer: Owner | None
    holding: Holding | None
    tap_event_id: int | None

    @property
    def is_owner(self) -> bool:
        return (self.viewer is not None and self.holding is not None
                and self.holding.owner_id == self.viewer.id)


def require_tap(gtin: str, serial: str) -> TapContext:
    """Return the context of a follow-up action on ``gtin``/``serial`` with a live tap session.

    Raises:
        app.core.errors.NotFound: no such item.
        NeedsTap: this browser has not tapped the item in the last few minutes.
    """
    session_ = db.session
    item = find_item(session_, gtin, serial)
    view = page_view(item)  # first: a refusal is worded in the brand's language too
    live, event_id = live_tap(item.id)
    if not live:
        raise NeedsTap()
    return TapContext(item, view, viewer(), current_holding(session_, item.id), event_id)


def page_view(item: Item) -> ItemView:
    """Return the view of ``item`` for a page, which then speaks its brand's languages in its
    brand's time zone (``app.core.i18n.serve``): every page about an item builds it here."""
    view = item_view(item)
    i18n.serve(view.product.brand)
    return view


def require_owner_tap(gtin: str, serial: str) -> TapContext:
    """As ``require_tap``, and the browser must belong to the item's current owner.

    Raises:
        app.core.errors.NotFound, NeedsTap: as ``require_tap``.
        NotOwner: someone else owns the item (or nobody does).
    """
    context = require_tap(gtin, serial)
    if not context.is_owner:
        raise NotOwner()
    return context
