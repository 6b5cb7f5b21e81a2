"""What a tap knows about an item's ownership, claiming it, its warranty and its history.

Pure service: functions take a session and input, return values or raise DomainErrors; the
caller commits. A claim is an INSERT guarded by the unique index on current ownerships, and the
warranty starts with one conditional UPDATE, so the database, not Python, decides who wins.

A first-tap claim that made a new owner is provisional until the claiming browser comes back
with its owner cookie (``confirm_claims``): its response, which carries that cookie, may have
been lost. Until then, and only within the tap-session window, a genuine tap from another
browser takes it over (``act_on_tap``), with one conditional UPDATE deciding any race.
"""

from __future__ import annotations

import calendar
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, exists, func, select, update
from sqlalchemy.orm import Session

from app.catalog.holdings import Holding, Viewer, current_holding, find_viewer
from app.catalog.models import Item, Owner, Ownership
from app.catalog.views import ItemView
from app.core.audit import audit
from app.core.clock import now
from app.core.db import UTCDateTime, update_rows
from app.core.errors import N_, Conflict, Forbidden
from app.journeys.facts import OWNED_SINCE_KEY, anniversary_days
from app.ownership.owners import (
    OwnerLike,
    create_owner,
    delete_new_owner,
    insert_ownership,
    next_ordinal,
)
from app.verify.service import GENUINE, TapOutcome

FIRST_TAP = "first_tap"
CONFIRMED = "confirmed"


def month_number(moment: datetime) -> int:
    """Return ``moment``'s calendar month as one number (year * 12 + month - 1), in UTC."""
    utc = moment.astimezone(UTC)
    return utc.year * 12 + utc.month - 1


def add_months(moment: datetime, months: int) -> datetime:
    """Return ``moment`` plus ``months`` calendar months (the 31st becomes the month's last day)."""
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# --- what a tap knows about ownership -----------------------------------------------------------


@dataclass
class Lifecycle:
    """Ownership state of one item for one person tapping it (``viewer``, None if anonymous)."""

    item: ItemView
    viewer: int | None
    holding: Holding | None
    viewer_is_previous: bool = False
    # A provisional first-tap claim by another browser that this tap may take over (``holding``
    # is then None: to the journeys the item is unclaimed), and the start time it must be after.
    takeover: Holding | None = None
    takeover_after: datetime | None = None

    @property
    def viewer_is_owner(self) -> bool:
        return self.holding is not None and self.viewer == self.holding.owner_id


_COUNTED_TAP = {
    "owner_taps": Ownership.owner_taps + 1,
    # Same month: unchanged; the month after the last: one more; a gap: starts again.
    "month_streak": case(
        (Ownership.last_tap_month == bindparam("month"), Ownership.month_streak),
        (Ownership.last_tap_month == bindparam("month") - 1, Ownership.month_streak + 1),
        else_=1,
    ),
    "last_tap_month": bindparam("month"),
    # The owner's browser is back with its cookie: a provisional claim is now confirmed.
    "confirmed_at": func.coalesce(Ownership.confirmed_at, bindparam("at", type_=UTCDateTime())),
}
_COUNT_OWNER_TAP = (
    update(Ownership)
    .where(Ownership.id == bindparam("ownership_id"))
    .values(_COUNTED_TAP)
    .returning(Ownership.owner_taps, Ownership.month_streak)
)
# The owner's own tap, the commonest genuine tap, in one round trip: the owner the browser's
# cookie credential names (not erased) holds the item, so count the tap and return the holding
# and that owner (their columns from subqueries: SQLite's RETURNING cannot name a joined table).
# No row: the person is not the owner (or has no owner row); read them and the holding.
# (Bind names are not column names: in an UPDATE those would mean SET values.)
_HOLDER = Owner.id == Ownership.owner_id
_COUNT_IF_HOLDER = (
    update(Ownership)
    .where(Ownership.item_id == bindparam("tapped_item"), Ownership.ended_at.is_(None),
           Ownership.owner_id == select(Owner.id).where(
               Owner.public_id == bindparam("credential"), Owner.erased_at.is_(None),
           ).scalar_subquery())
    .values(_COUNTED_TAP)
    .returning(
        Ownership.id, Ownership.owner_id, Ownership.ordinal, Ownership.began_by,
        Ownership.started_at, Ownership.owner_taps, Ownership.month_streak,
        select(Owner.email_opt_in).where(_HOLDER).scalar_subquery().label("opt_in"),
        select(Owner.email_verified_at).where(_HOLDER).scalar_subquery().label("verified_at"),
    )
)


def lifecycle(
    session: Session,
    item: ItemView,
    viewer: int | None,
    *,
    count_tap: bool = False,
    at: datetime | None = None,
    takeover_within: timedelta | None = None,
) -> Lifecycle:
    """Return ``item``'s ownership state as seen by ``viewer``.

    With ``count_tap`` (a genuine tap by the current owner), the owner's tap count is advanced
    first, so ``ownership.owner_taps`` includes this tap, and a provisional claim is confirmed.
    With ``takeover_within`` (a genuine tap), another browser's provisional first-tap claim
    younger than that is offered for takeover: ``holding`` is None and ``takeover`` names it.
    """
    moment = at or now()
    holding = current_holding(session, item.id)
    state = Lifecycle(item, viewer, holding)
    if holding is not None and viewer == holding.owner_id and count_tap:
        counted = session.connection().execute(
            _COUNT_OWNER_TAP,
            {"ownership_id": holding.id, "month": month_number(moment), "at": moment},
        ).one()
        state.holding = dataclasses.replace(
            holding, owner_taps=counted.owner_taps, month_streak=counted.month_streak,
            provisional=False,
        )
        return state
    if (holding is not None and takeover_within is not None and holding.provisional
            and viewer != holding.owner_id and holding.started_at > moment - takeover_within):
        state.holding, state.takeover = None, holding
        state.takeover_after = moment - takeover_within
    if viewer is not None and not state.viewer_is_owner:
        state.viewer_is_previous = bool(
            session.scalar(
                select(
                    exists().where(Ownership.item_id == item.id, Ownership.owner_id == viewer)
                )
            )
        )
    return state


def tap_lifecycle(
    session: Session,
    item: ItemView,
    credential: str | None,
    at: datetime,
    takeover_within: timedelta | None = None,
) -> tuple[Lifecycle, Viewer | None]:
    """Return ``item``'s ownership state for a genuine tap by the browser whose owner cookie
    holds ``credential`` (None: no owner cookie), and that browser's owner (None: none, or
    erased).

    As ``lifecycle(..., count_tap=True)``: the owner's tap is counted first. When the browser's
    owner holds the item, one statement counts the tap, reads the holding and the owner.
    """
    if credential:
        mine = session.connection().execute(_COUNT_IF_HOLDER, {
            "tapped_item": item.id, "credential": credential, "month": month_number(at),
            "at": at,
        }).first()
        if mine is not None:
            holder = Viewer(mine.owner_id, credential, bool(mine.opt_in), mine.verified_at)
            return Lifecycle(item, holder.id, Holding(
                id=mine.id, owner_id=mine.owner_id, ordinal=mine.ordinal,
                began_by=mine.began_by, started_at=mine.started_at, owner_taps=mine.owner_taps,
                # Messages need consent on a confirmed address, as ``current_holding`` says.
                email_opt_in=holder.email_opt_in and holder.email_verified_at is not None,
                month_streak=mine.month_streak, provisional=False,
            )), holder
    person = find_viewer(session, credential)
    state = lifecycle(session, item, person.id if person else None, count_tap=True, at=at,
                      takeover_within=takeover_within)
    return state, person


def _days(since: datetime | None, at: datetime) -> int | None:
    return None if since is None else max(0, (at - since).days)


def lifecycle_fact(state: Lifecycle, at: datetime) -> dict[str, Any]:
    """Return the ownership.*, owner.*, warranty.* and service.* paths of the fact.

    Paths with nothing to say are left out (``exists: false`` holds for them). ``owner.points``
    and ``owner.has_reviewed`` keep their defaults until the rewards ledger records them.
    """
    item, holding = state.item, state.holding
    warranty_ends = item.warranty_ends_at
    warranty_active = bool(
        warranty_ends is not None
        and item.warranty_started_at is not None
        and item.warranty_started_at <= at < warranty_ends
    )
    fact: dict[str, Any] = {
        "ownership.state": "owned" if holding else "unclaimed",
        "owner.is_current": state.viewer_is_owner,
        "owner.is_previous": state.viewer_is_previous,
        "owner.email_opt_in": bool(holding and state.viewer_is_owner and holding.email_opt_in),
        "owner.points": 0,
        "owner.has_reviewed": False,
        "item.stolen": item.stolen,
        "warranty.active": warranty_active,
        "service.count": item.service_count,
    }
    if holding is not None:
        fact["ownership.ordinal"] = holding.ordinal
        fact["ownership.days"] = _days(holding.started_at, at)
        # In UTC here; the ruleset's time zone recounts it from OWNED_SINCE_KEY before deciding.
        fact["ownership.anniversary_days"] = anniversary_days(
            holding.started_at.astimezone(UTC).date(), at.astimezone(UTC).date())
        fact[OWNED_SINCE_KEY] = holding.started_at
        fact["ownership.owner_taps"] = holding.owner_taps
        fact["ownership.month_streak"] = holding.month_streak
    if warranty_active and warranty_ends is not None:
        fact["warranty.days_left"] = max(0, (warranty_ends - at).days)
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
    done = update_rows(
        session,
        update(Item)
        .where(Item.id == item.id, Item.warranty_started_at.is_(None))
        .values(warranty_started_at=at, warranty_ends_at=ends),
    )
    return ends if done else None


@dataclass(frozen=True)
class Claimed:
    """A claim that won: the owner, their new ownership and its ordinal."""

    owner: OwnerLike
    ownership_id: int
    ordinal: int


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
    claimed = _claim(session, item, owner, at, began_by=began_by,
                     unknown_sale_allowed=unknown_sale_allowed)
    return claimed.owner, claimed.ownership_id


def _claim(
    session: Session,
    item: ItemView,
    owner: OwnerLike | None,
    at: datetime,
    *,
    began_by: str,
    unknown_sale_allowed: bool,
    known_unowned: bool = False,
) -> Claimed:
    if item.released is False:
        raise Forbidden(N_("This item has not been sold yet, so it cannot be registered."))
    if item.released is None and not unknown_sale_allowed:
        raise Forbidden(N_("This item's sale has not been recorded, so it cannot be registered."))
    # A tap that has just read "unowned" skips the re-read: the guarded insert below still
    # decides a race, and a loser leaves nothing behind.
    if not known_unowned and current_holding(session, item.id) is not None:
        raise Conflict(N_("This item already has an owner."))
    created = owner is None
    owner = owner or create_owner(session, at)
    ordinal = next_ordinal(session, item.id)
    first_tap = began_by == FIRST_TAP
    ownership_id = insert_ownership(
        session, item_id=item.id, owner_id=owner.id, ordinal=ordinal,
        began_by=began_by, started_at=at, owner_taps=1 if first_tap else 0,
        month_streak=1 if first_tap else 0,
        last_tap_month=month_number(at) if first_tap else None,
        # A browser that already had an owner cookie keeps it whatever happens to this
        # response; a new owner's cookie is only in it.
        provisional=first_tap and created,
    )
    if ownership_id is None:
        # A concurrent claim won (the insert did nothing, so the transaction is still usable):
        # the owner made for this one would own nothing.
        if created:
            delete_new_owner(session, owner.id)
        raise Conflict(N_("This item already has an owner."))
    if item.released is None:
        update_rows(session, update(Item).where(Item.id == item.id).values(released=True))
        audit(session, at, "ruleset", "release", item_id=item.id,
              reason="first claim of an item whose sale was not known")
    audit(session, at, "owner", "claim", item_id=item.id, owner_id=owner.id, began_by=began_by)
    return Claimed(owner, ownership_id, ordinal)


_TAKE_OVER = (
    update(Ownership)
    .where(
        Ownership.id == bindparam("ownership_id"),
        # Still the claim this tap read, still current, still provisional, still in the window:
        # of racing takeovers (and the claimant's own return) exactly one changes the row.
        Ownership.owner_id == bindparam("old_owner_id"),
        Ownership.ended_at.is_(None),
        Ownership.confirmed_at.is_(None),
        Ownership.started_at > bindparam("after", type_=UTCDateTime()),
    )
    .values(
        owner_id=bindparam("new_owner_id"),
        started_at=bindparam("at", type_=UTCDateTime()),
        confirmed_at=bindparam("confirmed", type_=UTCDateTime()),
        owner_taps=1,
        month_streak=1,
        last_tap_month=bindparam("month"),
    )
)


def take_over(
    session: Session, item: ItemView, provisional: Holding, after: datetime,
    owner: OwnerLike | None, at: datetime,
) -> Claimed:
    """Give ``provisional`` (another browser's unconfirmed first-tap claim) to ``owner``.

    The ownership row keeps its id and ordinal and the warranty is untouched: the person with
    the item in hand becomes the owner the lost response should have made. The replaced owner
    row stays (the audit log names it) and holds nothing personal: it never came back, so it
    never gave an address. The new holding is itself provisional when this tap made its owner.

    Raises:
        Conflict: the claim was confirmed, taken over or ended meanwhile (a race lost).
    """
    created = owner is None
    owner = owner or create_owner(session, at)
    connection = session.connection()
    won = connection.execute(
        _TAKE_OVER,
        {"ownership_id": provisional.id, "old_owner_id": provisional.owner_id, "after": after,
         "new_owner_id": owner.id, "at": at, "confirmed": None if created else at,
         "month": month_number(at)},
    ).rowcount
    if won != 1:
        if created:
            delete_new_owner(session, owner.id)
        raise Conflict(N_("This item already has an owner."))
    audit(session, at, "owner", "take_over", item_id=item.id, owner_id=owner.id,
          replaced_owner_id=provisional.owner_id,
          reason="provisional first-tap claim never confirmed by its browser")
    return Claimed(owner, provisional.id, provisional.ordinal)


_CONFIRM_CLAIMS = (
    update(Ownership)
    .where(Ownership.owner_id == bindparam("claimant_id"), Ownership.ended_at.is_(None),
           Ownership.confirmed_at.is_(None))
    .values(confirmed_at=bindparam("confirm_at", type_=UTCDateTime()))
)


def confirm_claims(session: Session, owner_id: int, at: datetime) -> int:
    """Confirm ``owner_id``'s provisional claims: their browser came back with its cookie.

    One conditional UPDATE, so a takeover racing it either wins first (nothing is confirmed)
    or finds the claim confirmed. Returns how many claims were confirmed.
    """
    return int(session.connection().execute(
        _CONFIRM_CLAIMS, {"claimant_id": owner_id, "confirm_at": at}).rowcount)


def act_on_tap(
    session: Session,
    outcome: TapOutcome,
    actions: tuple[str, ...],
    state: Lifecycle | None,
    viewer: Owner | Viewer | None,
) -> TapEffects:
    """Carry out a decision's actions for a genuine tap; return what changed.

    ``claim_ownership`` claims the item for the person tapping if nobody owns it, or takes over
    another browser's provisional claim offered in ``state.takeover``; the journey that asks for
    it has decided that this tap is a sale (including an unknown sale state).
    ``activate_warranty`` starts the warranty once. ``confirm_ownership``, ``offer_service`` and
    ``start_transfer`` only offer the step on the page (listed in ``offers``).
    """
    effects = TapEffects(lifecycle=state)
    if outcome.verdict != GENUINE or outcome.item is None or state is None:
        return effects
    item = outcome.item
    if "claim_ownership" in actions and state.holding is None and item.released is not False:
        claimed: Claimed | None
        try:
            if state.takeover is not None and state.takeover_after is not None:
                claimed = take_over(session, item, state.takeover, state.takeover_after,
                                     viewer, outcome.at)
            else:
                claimed = _claim(
                    session, item, viewer, outcome.at, began_by=FIRST_TAP,
                    unknown_sale_allowed=True, known_unowned=True,
                )
        except Conflict:
            claimed = None  # a concurrent first tap or takeover won; this one is a visitor
        if claimed is not None:
            effects.claimed = True
            if viewer is None:
                effects.new_owner_public_id = claimed.owner.public_id
            opt_in = bool(viewer is not None and viewer.email_opt_in
                          and viewer.email_verified_at is not None)
            effects.lifecycle = Lifecycle(
                item, claimed.owner.id,
                Holding(id=claimed.ownership_id, owner_id=claimed.owner.id,
                        ordinal=claimed.ordinal, began_by=FIRST_TAP, started_at=outcome.at,
                        owner_taps=1, email_opt_in=opt_in, month_streak=1,
                        provisional=viewer is None),
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
    return [
        HistoryEntry(ordinal=row.ordinal, began_by=row.began_by, started_at=row.started_at,
                     ended_at=row.ended_at, ended_by=row.ended_by)
        for row in rows
    ]
