"""Ownership without login: claim, warranty, transfer, reassignment, recovery, export, erasure.

Pure service: functions take a session, settings and input, return values or raise DomainErrors;
the caller commits. Every state change that two requests could race on is one conditional UPDATE
or an INSERT guarded by a unique index, so the database, not Python, decides who wins.
"""

from __future__ import annotations

import calendar
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, delete, exists, func, insert, select, update
from sqlalchemy.orm import Session

from app.catalog.access import NeedsTap, NotOwner
from app.catalog.holdings import Holding, current_holding, find_owner, find_owner_by_email
from app.catalog.models import Item, Owner, Ownership, Product
from app.catalog.service import find_item
from app.catalog.views import ItemView
from app.core.audit import audit, audit_trail
from app.core.db import insert_ignore
from app.core.errors import Conflict, DomainError, Forbidden, Gone, NotFound
from app.core.mail import normalize_email
from app.ownership.models import OwnerToken, TransferOffer
from app.verify.service import GENUINE, TapOutcome

__all__ = [  # moved to the catalogue and core; re-exported until the split of this module
    "Holding", "NeedsTap", "NotOwner", "audit", "audit_trail", "current_holding", "find_item",
    "find_owner", "find_owner_by_email", "normalize_email",
]

FIRST_TAP = "first_tap"
CONFIRMED = "confirmed"
TRANSFER = "transfer"
BRAND = "brand"
ERASED = "erased"
TAKE_BACK = "take_back"


# --- tokens -------------------------------------------------------------------------------------


def new_token() -> tuple[str, str]:
    """Return ``(token, digest)``: a random URL-safe token and the hash stored in its place."""
    token = secrets.token_urlsafe(24)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    """Return the SHA-256 hex digest stored for ``token`` (a leaked table yields no live links)."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def write(session: Session, statement: Any) -> int:
    """Run an UPDATE as one statement (no ORM synchronisation); return the rows it changed.

    The conditional UPDATEs here decide races: their row counts say who won.
    """
    return session.execute(statement, execution_options={"synchronize_session": False}).rowcount


def add_months(moment: datetime, months: int) -> datetime:
    """Return ``moment`` plus ``months`` calendar months (the 31st becomes the month's last day)."""
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# --- owners -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewOwner:
    """An owner just created in this transaction: its id and cookie credential."""

    id: int
    public_id: str


_INSERT_OWNER = insert(Owner.__table__).returning(Owner.id)


def create_owner(session: Session, at: datetime) -> NewOwner:
    """Return a new owner with a fresh random credential (inserted, so it has an id)."""
    public_id = secrets.token_urlsafe(32)
    owner_id = session.connection().execute(
        _INSERT_OWNER,
        {"public_id": public_id, "created_at": at, "email_opt_in": False},
    ).scalar_one()
    return NewOwner(owner_id, public_id)


# Anything with an ``id`` and a ``public_id``: a loaded Owner or a NewOwner.
OwnerLike = Owner | NewOwner


# --- what a tap knows about ownership -----------------------------------------------------------


def month_number(moment: datetime) -> int:
    """Return ``moment``'s calendar month as one number (year * 12 + month - 1), in UTC."""
    utc = moment.astimezone(UTC)
    return utc.year * 12 + utc.month - 1


@dataclass
class Lifecycle:
    """Ownership state of one item for one person tapping it (``viewer``, None if anonymous)."""

    item: ItemView
    viewer: int | None
    holding: Holding | None
    viewer_is_previous: bool = False

    @property
    def viewer_is_owner(self) -> bool:
        return self.holding is not None and self.viewer == self.holding.owner_id


_COUNT_OWNER_TAP = (
    update(Ownership)
    .where(Ownership.id == bindparam("ownership_id"))
    .values(
        owner_taps=Ownership.owner_taps + 1,
        # Same month: unchanged; the month after the last: one more; a gap: starts again.
        month_streak=case(
            (Ownership.last_tap_month == bindparam("month"), Ownership.month_streak),
            (Ownership.last_tap_month == bindparam("month") - 1, Ownership.month_streak + 1),
            else_=1,
        ),
        last_tap_month=bindparam("month"),
    )
    .returning(Ownership.owner_taps, Ownership.month_streak)
)


def lifecycle(
    session: Session,
    item: ItemView,
    viewer: int | None,
    *,
    count_tap: bool = False,
    at: datetime | None = None,
) -> Lifecycle:
    """Return ``item``'s ownership state as seen by ``viewer``.

    With ``count_tap`` (a genuine tap by the current owner), the owner's tap count is advanced
    first, so ``ownership.owner_taps`` includes this tap.
    """
    holding = current_holding(session, item.id)
    state = Lifecycle(item, viewer, holding)
    if holding is not None and viewer == holding.owner_id and count_tap:
        taps, streak = session.connection().execute(
            _COUNT_OWNER_TAP,
            {"ownership_id": holding.id, "month": month_number(at or datetime.now(UTC))},
        ).one()
        state.holding = Holding(**{**holding.__dict__, "owner_taps": taps,
                                   "month_streak": streak})
    elif viewer is not None and not state.viewer_is_owner:
        state.viewer_is_previous = bool(
            session.scalar(
                select(
                    exists().where(Ownership.item_id == item.id, Ownership.owner_id == viewer)
                )
            )
        )
    return state


def _days(since: datetime | None, now: datetime) -> int | None:
    return None if since is None else max(0, (now - since).days)


def lifecycle_fact(state: Lifecycle, at: datetime) -> dict[str, Any]:
    """Return the ownership.*, owner.*, warranty.* and service.* paths of the fact.

    Paths with nothing to say are left out (``exists: false`` holds for them). ``owner.points``
    and ``owner.has_reviewed`` keep their defaults until the rewards ledger records them.
    """
    item, holding = state.item, state.holding
    fact: dict[str, Any] = {
        "ownership.state": "owned" if holding else "unclaimed",
        "owner.is_current": state.viewer_is_owner,
        "owner.is_previous": state.viewer_is_previous,
        "owner.email_opt_in": bool(holding and state.viewer_is_owner and holding.email_opt_in),
        "owner.points": 0,
        "owner.has_reviewed": False,
        "item.stolen": item.stolen,
        "warranty.active": bool(
            item.warranty_ends_at is not None
            and item.warranty_started_at is not None
            and item.warranty_started_at <= at < item.warranty_ends_at
        ),
        "service.count": item.service_count,
    }
    if holding is not None:
        fact["ownership.ordinal"] = holding.ordinal
        fact["ownership.days"] = _days(holding.started_at, at)
        fact["ownership.owner_taps"] = holding.owner_taps
        fact["ownership.month_streak"] = holding.month_streak
    if fact["warranty.active"]:
        fact["warranty.days_left"] = max(0, (item.warranty_ends_at - at).days)
    if item.last_service_at is not None:
        fact["service.days_since_last"] = _days(item.last_service_at, at)
    return fact


# --- claiming and the warranty --------------------------------------------------------------------


@dataclass
class TapEffects:
    """What a tap's actions changed, for the page and the response cookies."""

    lifecycle: Lifecycle | None = None
    claimed: bool = False
    warranty_activated: bool = False
    warranty_ends_at: datetime | None = None
    # Set when this tap created the owner: the view sets the owner cookie.
    new_owner_public_id: str | None = None
    offers: list[str] = field(default_factory=list)


def warranty_months(attributes: Mapping[str, Any]) -> int:
    """Return the product's warranty term in months (catalogue attribute ``warranty_months``)."""
    value = attributes.get("warranty_months", 0)
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def activate_warranty(session: Session, item: ItemView, at: datetime) -> datetime | None:
    """Start ``item``'s warranty at ``at`` if it never started; return its end, or None.

    Returns None when the product has no warranty or it was already activated (it runs once,
    from the first owner's activation, whoever owns the item later).
    """
    months = warranty_months(item.product.attributes)
    if months == 0:
        return None
    ends = add_months(at, months)
    done = write(
        session,
        update(Item)
        .where(Item.id == item.id, Item.warranty_started_at.is_(None))
        .values(warranty_started_at=at, warranty_ends_at=ends),
    )
    return ends if done else None


_MAX_ORDINAL = select(func.max(Ownership.ordinal)).where(
    Ownership.item_id == bindparam("item_id")
)


# At most one current ownership per item: the partial unique index decides racing claims.
_CURRENT_OWNERSHIP_KEY = (Ownership.item_id,)
_CURRENT_OWNERSHIP_WHERE = Ownership.ended_at.is_(None)


def _insert_ownership(session: Session, **values: Any) -> int | None:
    """Insert an ownership unless the item already has a current one; return its id or None."""
    values.setdefault("owner_taps", 0)
    values.setdefault("month_streak", 0)
    values.setdefault("last_tap_month", None)
    values.setdefault("ended_at", None)
    values.setdefault("ended_by", None)
    return insert_ignore(  # type: ignore[no-any-return]
        session, Ownership.__table__, values, returning=Ownership.id,
        index_elements=_CURRENT_OWNERSHIP_KEY, index_where=_CURRENT_OWNERSHIP_WHERE,
    )


def _next_ordinal(session: Session, item_id: int) -> int:
    last = session.connection().execute(_MAX_ORDINAL, {"item_id": item_id}).scalar()
    return (last or 0) + 1


def claim(
    session: Session,
    item: ItemView,
    owner: OwnerLike | None,
    at: datetime,
    *,
    began_by: str = FIRST_TAP,
    unknown_sale_allowed: bool = False,
) -> tuple[OwnerLike, int]:
    """Make ``owner`` (a new owner when None) the item's first or next owner.

    An item whose sale is not known can only be claimed with ``unknown_sale_allowed`` (the
    ruleset chose to claim it); it is then marked released, audited.

    Returns:
        ``(owner, ownership_id)``.
    Raises:
        Forbidden: the item is still in the boutique, or its sale is unknown and not allowed.
        Conflict: someone owns the item already (possibly a request that won a race).
    """
    owner, ownership_id, _ordinal = _claim(session, item, owner, at, began_by=began_by,
                                           unknown_sale_allowed=unknown_sale_allowed)
    return owner, ownership_id


def _claim(
    session: Session,
    item: ItemView,
    owner: OwnerLike | None,
    at: datetime,
    *,
    began_by: str,
    unknown_sale_allowed: bool,
    known_unowned: bool = False,
) -> tuple[OwnerLike, int, int]:
    if item.released is False:
        raise Forbidden("This item has not been sold yet, so it cannot be registered.")
    if item.released is None and not unknown_sale_allowed:
        raise Forbidden("This item's sale has not been recorded, so it cannot be registered.")
    # A tap that has just read "unowned" skips the re-read: the guarded insert below still
    # decides a race, and a loser leaves nothing behind.
    if not known_unowned and current_holding(session, item.id) is not None:
        raise Conflict("This item already has an owner.")
    created = owner is None
    owner = owner or create_owner(session, at)
    ordinal = _next_ordinal(session, item.id)
    ownership_id = _insert_ownership(
        session, item_id=item.id, owner_id=owner.id, ordinal=ordinal,
        began_by=began_by, started_at=at, owner_taps=1 if began_by == FIRST_TAP else 0,
        month_streak=1 if began_by == FIRST_TAP else 0,
        last_tap_month=month_number(at) if began_by == FIRST_TAP else None,
    )
    if ownership_id is None:
        # A concurrent claim won (the insert did nothing, so the transaction is still usable):
        # the owner made for this one would own nothing.
        if created:
            session.connection().execute(delete(Owner.__table__).where(Owner.id == owner.id))
        raise Conflict("This item already has an owner.")
    if item.released is None:
        write(
            session,
            update(Item).where(Item.id == item.id).values(released=True),
        )
        audit(session, at, "ruleset", "release", item_id=item.id,
              reason="first claim of an item whose sale was not known")
    audit(session, at, "owner", "claim", item_id=item.id, owner_id=owner.id, began_by=began_by)
    return owner, ownership_id, ordinal


def act_on_tap(
    session: Session,
    outcome: TapOutcome,
    actions: tuple[str, ...],
    state: Lifecycle | None,
    viewer: Owner | None,
) -> TapEffects:
    """Carry out a decision's actions for a genuine tap; return what changed.

    ``claim_ownership`` claims the item for the person tapping if nobody owns it; the journey that
    asks for it has decided that this tap is a sale (including an unknown sale state).
    ``activate_warranty`` starts the warranty once. ``confirm_ownership``, ``offer_service`` and
    ``start_transfer`` only offer the step on the page (listed in ``offers``).
    """
    effects = TapEffects(lifecycle=state)
    if outcome.verdict != GENUINE or outcome.item is None or state is None:
        return effects
    item = outcome.item
    if "claim_ownership" in actions and state.holding is None and item.released is not False:
        try:
            owner, ownership_id, ordinal = _claim(session, item, viewer, outcome.at,
                                                  began_by=FIRST_TAP, unknown_sale_allowed=True,
                                                  known_unowned=True)
        except Conflict:
            owner = None  # a concurrent first tap won; this one is a visitor
        if owner is not None:
            effects.claimed = True
            if viewer is None:
                effects.new_owner_public_id = owner.public_id
            opt_in = bool(viewer is not None and viewer.email_opt_in
                          and viewer.email_verified_at is not None)
            effects.lifecycle = Lifecycle(
                item, owner.id,
                Holding(ownership_id, owner.id, ordinal, FIRST_TAP, outcome.at, 1, opt_in, 1),
            )
    holding = effects.lifecycle.holding if effects.lifecycle else None
    if "activate_warranty" in actions and holding is not None:
        effects.warranty_ends_at = activate_warranty(session, item, outcome.at)
        effects.warranty_activated = effects.warranty_ends_at is not None
    effects.offers = [a for a in actions if a in ("confirm_ownership", "offer_service",
                                                   "start_transfer")]
    return effects


def confirm_claim(
    session: Session, item: ItemView, viewer: Owner | None, at: datetime, *, warranty: bool = True
) -> tuple[OwnerLike, bool]:
    """The one-tap confirmation: the person who just tapped says "this is mine".

    Returns:
        ``(owner, created)``: the owner (``created`` when this call made a new one).
    Raises:
        Forbidden, Conflict: as ``claim``.
    """
    owner, _ = claim(session, item, viewer, at, began_by=CONFIRMED, unknown_sale_allowed=True)
    if warranty:
        activate_warranty(session, item, at)
    return owner, viewer is None


# --- history ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    ordinal: int
    began_by: str
    started_at: datetime
    ended_at: datetime | None
    ended_by: str | None


def history(session: Session, item_id: int) -> list[HistoryEntry]:
    """Return the item's ownerships, first owner first. Anonymous: no owner identity."""
    rows = session.execute(
        select(Ownership.ordinal, Ownership.began_by, Ownership.started_at, Ownership.ended_at,
               Ownership.ended_by)
        .where(Ownership.item_id == item_id)
        .order_by(Ownership.ordinal)
    )
    return [HistoryEntry(o, b, s, e, eb) for o, b, s, e, eb in rows]


# --- transfers --------------------------------------------------------------------------------


def create_offer(
    session: Session, settings: Mapping[str, Any], item: ItemView, owner: OwnerLike, at: datetime
) -> tuple[str, TransferOffer]:
    """Create a single-use transfer offer from ``owner``; earlier open offers are cancelled.

    Returns:
        ``(token, offer)``: the token goes to the buyer; only its hash is stored.
    Raises:
        NotOwner: ``owner`` is not the current owner.
        Conflict: the item is reported stolen.
    """
    holding = current_holding(session, item.id)
    if holding is None or holding.owner_id != owner.id:
        raise NotOwner()
    if _is_stolen(session, item.id):
        raise Conflict("This item is reported stolen, so it cannot change hands.")
    cancel_offers(session, holding.id, at)
    token, digest = new_token()
    hours = float(settings.get("TRANSFER_OFFER_HOURS", 72))
    offer = TransferOffer(token_hash=digest, item_id=item.id, ownership_id=holding.id,
                          created_at=at, expires_at=at + timedelta(hours=hours))
    session.add(offer)
    session.flush()
    audit(session, at, "owner", "transfer_offer", item_id=item.id, owner_id=owner.id,
          offer_id=offer.id)
    return token, offer


def _is_stolen(session: Session, item_id: int) -> bool:
    return session.scalar(select(Item.stolen_at).where(Item.id == item_id)) is not None


def open_offer(session: Session, ownership_id: int) -> TransferOffer | None:
    """Return the ownership's open (not accepted, not withdrawn) offer, if any."""
    return session.scalar(
        select(TransferOffer)
        .where(TransferOffer.ownership_id == ownership_id, TransferOffer.accepted_at.is_(None),
               TransferOffer.cancelled_at.is_(None))
        .order_by(TransferOffer.id.desc())
        .limit(1)
    )


def cancel_offers(session: Session, ownership_id: int, at: datetime) -> int:
    """Withdraw the ownership's open offers; return how many."""
    return write(
        session,
        update(TransferOffer)
        .where(TransferOffer.ownership_id == ownership_id, TransferOffer.accepted_at.is_(None),
               TransferOffer.cancelled_at.is_(None))
        .values(cancelled_at=at),
    )


def offer_item(session: Session, offer: TransferOffer) -> Item:
    """Return the item an offer is for."""
    return session.get_one(Item, offer.item_id)


def find_offer(session: Session, token: str, at: datetime) -> TransferOffer:
    """Return the open offer for ``token``.

    Raises:
        NotFound: no such offer.
        Conflict: it was already used (accepted) or withdrawn.
        Gone: it has expired.
    """
    offer = session.scalar(
        select(TransferOffer).where(TransferOffer.token_hash == token_digest(token))
    )
    if offer is None:
        raise NotFound("This transfer link is not valid. Ask the seller for a new one.")
    if offer.accepted_at is not None:
        raise Conflict("This transfer link has already been used.")
    if offer.cancelled_at is not None:
        raise Conflict("The seller withdrew this transfer link. Ask them for a new one.")
    if offer.expires_at <= at:
        raise Gone("This transfer link has expired. Ask the seller for a new one.")
    return offer


def accept_offer(
    session: Session, token: str, item: ItemView, buyer: Owner | None, at: datetime
) -> tuple[OwnerLike, int]:
    """The buyer, holding the item (a live tap of ``item``), accepts the offer in ``token``.

    The offer is taken with one conditional UPDATE, and the seller's ownership ended with
    another, so of two buyers racing exactly one wins; the loser's transaction changes nothing.

    Returns:
        ``(buyer, new_ordinal)``.
    Raises:
        NotFound, Conflict, Gone: the offer is unknown, used, withdrawn, expired, for another
            item, or the item changed hands since it was made.
        Conflict: the item is reported stolen, or the buyer already owns it.
    """
    offer = find_offer(session, token, at)
    if offer.item_id != item.id:
        raise Conflict("This transfer link is for a different item than the one you tapped.")
    if _is_stolen(session, item.id):
        raise Conflict("This item is reported stolen, so it cannot change hands.")
    holding = current_holding(session, item.id)
    if buyer is not None and holding is not None and holding.owner_id == buyer.id:
        raise Conflict("You already own this item.")
    taken = write(
        session,
        update(TransferOffer)
        .where(TransferOffer.id == offer.id, TransferOffer.accepted_at.is_(None),
               TransferOffer.cancelled_at.is_(None), TransferOffer.expires_at > at)
        .values(accepted_at=at),
    )
    if not taken:
        raise Conflict("This transfer link has already been used.")
    ended = write(
        session,
        update(Ownership)
        .where(Ownership.id == offer.ownership_id, Ownership.ended_at.is_(None))
        .values(ended_at=at, ended_by=TRANSFER),
    )
    if not ended:
        raise Conflict("This item changed hands since the link was made.")
    new_owner = buyer or create_owner(session, at)
    ordinal = _next_ordinal(session, item.id)
    if _insert_ownership(session, item_id=item.id, owner_id=new_owner.id, ordinal=ordinal,
                         began_by=TRANSFER, started_at=at) is None:
        raise Conflict("This item changed hands since the link was made.")
    write(
        session,
        update(TransferOffer).where(TransferOffer.id == offer.id)
        .values(accepted_by=new_owner.id),
    )
    audit(session, at, "owner", "transfer_accept", item_id=item.id, owner_id=new_owner.id,
          offer_id=offer.id, ordinal=ordinal)
    return new_owner, ordinal


# --- brand side ---------------------------------------------------------------------------------


def release(session: Session, item: Item, at: datetime, *, actor: str, source: str) -> bool:
    """Mark ``item`` sold (e.g. a POS sale); return False if it already was. Audited."""
    if item.released is True:
        return False
    item.released = True
    audit(session, at, actor, "release", item_id=item.id, source=source)
    return True


def set_stolen(session: Session, item: Item, stolen: bool, at: datetime, *, actor: str,
               reason: str) -> None:
    """Flag or clear ``item`` as stolen; open transfer offers are withdrawn when flagged."""
    item.stolen_at = at if stolen else None
    if stolen:
        write(
            session,
            update(TransferOffer)
            .where(TransferOffer.item_id == item.id, TransferOffer.accepted_at.is_(None),
                   TransferOffer.cancelled_at.is_(None))
            .values(cancelled_at=at),
        )
    audit(session, at, actor, "stolen" if stolen else "recovered", item_id=item.id,
          reason=reason[:200])


def reassign(
    session: Session, item: Item, to: Owner | None, at: datetime, *, actor: str, reason: str
) -> tuple[OwnerLike, int]:
    """The brand moves ``item`` to owner ``to`` (a new owner when None), audited with ``reason``.

    Returns:
        ``(owner, ordinal)`` of the new ownership.
    Raises:
        DomainError: no reason was given.
        Conflict: ``to`` already owns it.
    """
    if not reason.strip():
        raise DomainError("Say why the item is reassigned; the reason is kept in the audit log.")
    holding = current_holding(session, item.id)
    if to is not None and holding is not None and holding.owner_id == to.id:
        raise Conflict("That owner already owns this item.")
    if holding is not None:
        write(
            session,
            update(Ownership).where(Ownership.id == holding.id, Ownership.ended_at.is_(None))
            .values(ended_at=at, ended_by=BRAND),
        )
    new_owner = to or create_owner(session, at)
    ordinal = _next_ordinal(session, item.id)
    if _insert_ownership(session, item_id=item.id, owner_id=new_owner.id, ordinal=ordinal,
                         began_by=BRAND, started_at=at) is None:
        raise Conflict("The item changed hands meanwhile; try again.")
    audit(session, at, actor, "reassign", item_id=item.id, owner_id=new_owner.id,
          ordinal=ordinal, previous_ordinal=holding.ordinal if holding else None,
          reason=reason.strip()[:200])
    return new_owner, ordinal


def take_back(session: Session, item: Item, at: datetime, *, actor: str, reason: str) -> int:
    """The brand takes the item back (recycling, buy-back): the current ownership ends.

    Returns:
        The id of the owner who gave it back (they may earn take-back points).
    Raises:
        Conflict: nobody owns the item.
    """
    holding = current_holding(session, item.id)
    if holding is None:
        raise Conflict("Nobody owns this item, so there is nothing to take back.")
    write(
        session,
        update(Ownership).where(Ownership.id == holding.id, Ownership.ended_at.is_(None))
        .values(ended_at=at, ended_by=TAKE_BACK),
    )
    cancel_offers(session, holding.id, at)
    audit(session, at, actor, "take_back", item_id=item.id, owner_id=holding.owner_id,
          ordinal=holding.ordinal, reason=reason.strip()[:200])
    return holding.owner_id


# --- email, recovery ----------------------------------------------------------------------------

VERIFY_EMAIL = "verify_email"
VERIFY_OPT_IN = "verify_opt_in"
RECOVER = "recover"


def _issue_token(session: Session, owner_id: int, purpose: str, at: datetime, minutes: float,
                 email: str | None = None) -> str:
    token, digest = new_token()
    session.add(OwnerToken(token_hash=digest, owner_id=owner_id, purpose=purpose, email=email,
                           created_at=at, expires_at=at + timedelta(minutes=minutes)))
    session.flush()
    return token


def request_email(
    session: Session, settings: Mapping[str, Any], owner: Owner, email: str, opt_in: bool,
    at: datetime,
) -> str:
    """Start adding ``email`` to ``owner``: return the one-time confirmation token to mail.

    The address is only stored on the owner when the link is opened, so a typo cannot receive
    recovery links. Raises DomainError for an address that is not one.
    """
    email = normalize_email(email)
    purpose = VERIFY_OPT_IN if opt_in else VERIFY_EMAIL
    return _issue_token(session, owner.id, purpose, at,
                        float(settings.get("EMAIL_LINK_MINUTES", 60 * 24)), email)


def _redeem(session: Session, token: str, purposes: tuple[str, ...], at: datetime) -> OwnerToken:
    row = session.scalar(select(OwnerToken).where(OwnerToken.token_hash == token_digest(token)))
    if row is None or row.purpose not in purposes:
        raise NotFound("This link is not valid.")
    used = write(
        session,
        update(OwnerToken)
        .where(OwnerToken.id == row.id, OwnerToken.used_at.is_(None), OwnerToken.expires_at > at)
        .values(used_at=at),
    )
    if not used:
        if row.used_at is not None:
            raise Conflict("This link has already been used.")
        raise Gone("This link has expired. Ask for a new one.")
    return row


def confirm_email(session: Session, token: str, at: datetime) -> Owner:
    """Open a confirmation link: the address becomes the owner's, verified. Returns the owner.

    Raises:
        NotFound, Conflict, Gone: unknown, used or expired link.
    """
    row = _redeem(session, token, (VERIFY_EMAIL, VERIFY_OPT_IN), at)
    owner = session.get(Owner, row.owner_id)
    if owner is None or owner.erased_at is not None:
        raise NotFound("This link is not valid.")
    owner.email = row.email
    owner.email_verified_at = at
    owner.email_opt_in = row.purpose == VERIFY_OPT_IN
    audit(session, at, "owner", "email_verified", owner_id=owner.id, opt_in=owner.email_opt_in)
    return owner


def set_opt_in(session: Session, owner: Owner, opt_in: bool, at: datetime) -> None:
    """Record the owner's choice about messages (only meaningful with a verified address)."""
    owner.email_opt_in = bool(opt_in and owner.email_verified_at is not None)
    audit(session, at, "owner", "opt_in" if owner.email_opt_in else "opt_out", owner_id=owner.id)


def request_recovery(
    session: Session, settings: Mapping[str, Any], item: ItemView, email: str, at: datetime
) -> tuple[str, str] | None:
    """Someone holding ``item`` on a new phone asks to recover its ownership by ``email``.

    Returns ``(token, address)`` to mail when ``email`` is the current owner's verified address,
    else None. The caller must answer the same either way, so the page reveals nothing.
    Raises DomainError for text that is not an email address.
    """
    email = normalize_email(email)
    holding = current_holding(session, item.id)
    if holding is None:
        return None
    owner = session.get(Owner, holding.owner_id)
    if (owner is None or owner.email is None or owner.email_verified_at is None
            or owner.email.lower() != email.lower()):
        return None
    token = _issue_token(session, owner.id, RECOVER, at,
                         float(settings.get("RECOVERY_LINK_MINUTES", 30)))
    return token, owner.email


def redeem_recovery(session: Session, token: str, at: datetime) -> Owner:
    """Open a recovery link: return the owner whose credential this browser now gets.

    Raises:
        NotFound, Conflict, Gone: unknown, used or expired link.
    """
    row = _redeem(session, token, (RECOVER,), at)
    owner = session.get(Owner, row.owner_id)
    if owner is None or owner.erased_at is not None:
        raise NotFound("This link is not valid.")
    audit(session, at, "owner", "recovered", owner_id=owner.id)
    return owner


# --- privacy --------------------------------------------------------------------------------------


def export_owner(session: Session, owner: Owner) -> dict[str, Any]:
    """Return everything held about ``owner`` as JSON-ready data."""
    from app.aftersales.models import ServiceRequest

    ownerships = session.execute(
        select(Ownership, Product.gtin, Product.name, Item.serial)
        .join(Item, Ownership.item_id == Item.id)
        .join(Product, Item.product_id == Product.id)
        .where(Ownership.owner_id == owner.id)
        .order_by(Ownership.started_at)
    ).all()
    ids = [o.id for o, *_ in ownerships]
    requests = session.scalars(
        select(ServiceRequest).where(ServiceRequest.ownership_id.in_(ids))
    ).all() if ids else []

    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    return {
        "owner": {
            "email": owner.email,
            "email_verified_at": iso(owner.email_verified_at),
            "email_opt_in": owner.email_opt_in,
            "created_at": iso(owner.created_at),
        },
        "ownerships": [
            {"gtin": gtin, "product": name, "serial": serial, "ordinal": o.ordinal,
             "began_by": o.began_by, "started_at": iso(o.started_at),
             "ended_at": iso(o.ended_at), "ended_by": o.ended_by, "taps": o.owner_taps}
            for o, gtin, name, serial in ownerships
        ],
        "service_requests": [
            {"kind": r.kind, "message": r.message, "created_at": iso(r.created_at),
             "status": r.status}
            for r in requests
        ],
    }


def erase_owner(session: Session, owner: Owner, at: datetime, *, actor: str) -> int:
    """Erase ``owner``: wipe personal fields, end their ownerships, kill every credential.

    The items' ownership history keeps anonymous rows and tap counts stay, so aggregate figures
    do not change. Returns the number of ownerships ended.
    """
    from app.aftersales.models import ServiceRequest

    ended = write(
        session,
        update(Ownership)
        .where(Ownership.owner_id == owner.id, Ownership.ended_at.is_(None))
        .values(ended_at=at, ended_by=ERASED),
    )
    own_ids = select(Ownership.id).where(Ownership.owner_id == owner.id).scalar_subquery()
    write(
        session,
        update(TransferOffer)
        .where(TransferOffer.ownership_id.in_(own_ids), TransferOffer.accepted_at.is_(None),
               TransferOffer.cancelled_at.is_(None))
        .values(cancelled_at=at),
    )
    write(
        session,
        update(ServiceRequest).where(ServiceRequest.ownership_id.in_(own_ids))
        .values(message="(erased)"),
    )
    write(
        session,
        update(OwnerToken).where(OwnerToken.owner_id == owner.id, OwnerToken.used_at.is_(None))
        .values(used_at=at, email=None),
    )
    write(
        session,
        update(OwnerToken).where(OwnerToken.owner_id == owner.id).values(email=None),
    )
    owner.email = None
    owner.email_verified_at = None
    owner.email_opt_in = False
    owner.erased_at = at
    owner.public_id = secrets.token_urlsafe(32)
    audit(session, at, actor, "erase", owner_id=owner.id, ownerships_ended=ended)
    return ended


def round_location(latitude: float, longitude: float) -> tuple[float, float]:
    """Return the position rounded to 0.1 degree (about 11 km), the finest ever stored.

    Raises:
        DomainError: not a position on Earth.
    """
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise DomainError("That is not a position on Earth.")
    return round(latitude, 1), round(longitude, 1)


def record_location(
    session: Session, tap_event_id: int, item_id: int, latitude: float, longitude: float
) -> None:
    """Attach the rounded position the person agreed to share to their tap's event.

    Raises:
        DomainError: not a position on Earth; nothing is stored.
    """
    from app.verify.models import TapEvent

    lat, lon = round_location(latitude, longitude)
    write(
        session,
        update(TapEvent)
        .where(TapEvent.id == tap_event_id, TapEvent.item_id == item_id)
        .values(latitude=lat, longitude=lon),
    )
