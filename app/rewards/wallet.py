"""The owner's wallet: rewards won (with codes), gifts not yet revealed, points and what they buy.

Spending points on a catalogue item (``spend``) and a till taking points as payment
(``till_debit``) each run in the caller's transaction as conditional UPDATEs, in one order (the
owner's account, then the item's pool, then its prize and code), so nothing is read and then
written: the ledger's ``balance + delta >= 0`` decides who has enough, the pool's ``given <
budget`` and the prize's ``given < stock`` who gets the last unit. A refusal rolls back to a
savepoint: nothing is taken and the caller's transaction stays usable.

A catalogue item is a pool (``reward_id`` ``catalogue:<id>``, a name no ruleset reward can have)
with one prize, so stock, budget, code lists, the till's redemption and audits work as for any
reward. Its grant has no tap: it is tied to the ledger line that paid for it
(``ledger_entry_id``, unique: one payment, one grant), and is settled (revealed) when made.

Points are spent with the brand they were earned with: the catalogue and the till of brand B take
only the owner's points with brand B (``ledger.post_entry``'s conditional UPDATE is on that
account), whatever the owner holds with other brands.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from app.core.audit import audit
from app.core.clock import utc
from app.core.db import insert_ignore
from app.core.errors import N_, Conflict, DomainError, NotFound
from app.core.i18n import current_language, translate, translate_count
from app.core.wording import money, number
from app.journeys.language import CatalogueItemDoc, PointsWorth, RulesetDoc
from app.journeys.language.syntax import pick_text
from app.rewards.codes import GENERATED, LIST, new_code, take_code
from app.rewards.grants import PENDING, PRIZE, GrantView, _view
from app.rewards.ledger import SPEND, Entry, balance, post_entry
from app.rewards.models import RewardGrant, RewardPool, RewardPrize

CATALOGUE = "catalogue"
_PREFIX = "catalogue:"


class SoldOut(Conflict):
    code = "sold_out"

    def __init__(self) -> None:
        super().__init__(N_("This item is no longer available."))


@dataclass(frozen=True)
class CatalogueLine:
    """A catalogue item as the wallet shows it: can this owner buy it now, and if not, why."""

    id: str
    label: str
    cost: int
    available: bool
    reason: str | None  # why the button is disabled (None: it is not), in the page's language
    description: str = ""  # what it is (Markdown), in the page's language


@dataclass(frozen=True)
class Wallet:
    """What the owner page's wallet shows. Grants are the owner's, of this brand only."""

    won: list[GrantView]  # prizes and codes won; usable first, then expired or redeemed
    waiting: list[tuple[GrantView, datetime]]  # not revealed yet, with when each leaves
    points: int
    worth: str | None  # what the balance is worth, like "€5.00"; None: the ruleset says not
    catalogue: list[CatalogueLine]
    labels: dict[str, str]  # catalogue item id -> its label, for codes bought with points


def find_item(ruleset_doc: RulesetDoc, item_id: str) -> CatalogueItemDoc:
    """Return the ruleset's catalogue item ``item_id``.

    Raises:
        NotFound: the catalogue has no such item.
    """
    for item in ruleset_doc.points.catalogue:
        if item.id == item_id:
            return item
    raise NotFound(N_("There is no such item in the points catalogue."))


def _pool_for(session: Session, brand: str, item: CatalogueItemDoc) -> int:
    """Create or update the item's pool and prize (idempotent); return the pool id."""
    conn = session.connection()
    reward_id = _PREFIX + item.id
    insert_ignore(session, RewardPool.__table__,
                  {"brand": brand, "reward_id": reward_id, "mechanic": CATALOGUE,
                   "budget": item.budget, "given": 0, "points": None,
                   "expires_days": item.expires, "requires": None})
    pool = conn.execute(select(RewardPool.id, RewardPool.given).where(
        RewardPool.brand == brand, RewardPool.reward_id == reward_id)).one()
    conn.execute(update(RewardPool).where(RewardPool.id == pool.id).values(
        budget=None if item.budget is None else max(item.budget, pool.given),
        expires_days=item.expires))
    insert_ignore(session, RewardPrize.__table__,
                  {"pool_id": pool.id, "prize_id": item.id, "consolation": False, "position": 0,
                   "weight": 0.0, "stock": item.stock, "given": 0, "code": item.code,
                   "code_list": item.code_list, "points": None, "min_plays": None,
                   "retired": False})
    given = conn.execute(select(RewardPrize.given).where(
        RewardPrize.pool_id == pool.id, RewardPrize.prize_id == item.id)).scalar_one()
    conn.execute(update(RewardPrize).where(
        RewardPrize.pool_id == pool.id, RewardPrize.prize_id == item.id).values(
        stock=None if item.stock is None else max(item.stock, given), code=item.code,
        code_list=item.code_list))
    return int(pool.id)


def spend(
    session: Session, ruleset_doc: RulesetDoc, brand: str, owner_id: int, item_id: int,
    catalogue_id: str, at: datetime,
) -> GrantView:
    """Buy catalogue item ``catalogue_id`` with the owner's points; ``item_id`` is the product
    whose owner page it was bought on.

    Returns:
        The grant holding the code (settled, expiring after the item's ``expires``).
    Raises:
        NotFound: no such catalogue item.
        InsufficientPoints: the balance with ``brand`` is below the cost.
        SoldOut: the budget or stock is spent, or the code list is empty.
        Nothing is taken when it raises.
    """
    item = find_item(ruleset_doc, catalogue_id)
    at = utc(at)
    pool_id = _pool_for(session, brand, item)
    conn = session.connection()
    savepoint = session.begin_nested()
    try:
        entry = post_entry(session, owner_id, SPEND, item.cost, CATALOGUE, item.id, at,
                           brand=brand)
        if conn.execute(update(RewardPool).where(
                RewardPool.id == pool_id,
                or_(RewardPool.budget.is_(None), RewardPool.given < RewardPool.budget))
                .values(given=RewardPool.given + 1)).rowcount != 1:
            raise SoldOut()
        if conn.execute(update(RewardPrize).where(
                RewardPrize.pool_id == pool_id, RewardPrize.prize_id == item.id,
                or_(RewardPrize.stock.is_(None), RewardPrize.given < RewardPrize.stock))
                .values(given=RewardPrize.given + 1)).rowcount != 1:
            raise SoldOut()
        grant_id = conn.execute(insert(RewardGrant.__table__).returning(RewardGrant.id), {
            "pool_id": pool_id, "tap_event_id": None, "message_key": None,
            "ledger_entry_id": entry.id,
            "owner_id": owner_id, "item_id": item_id, "journey": CATALOGUE,
            "token": secrets.token_urlsafe(32), "created_at": at, "revealed_at": at,
            "outcome": PRIZE, "prize_id": item.id, "points": 0, "code": None,
            "expires_at": at + timedelta(days=item.expires) if item.expires else None,
            "redeemed_at": None, "redeemed_shop": None,
        }).scalar_one()
        code = (new_code() if item.code == GENERATED
                else take_code(session, brand, item.code_list or "", grant_id)
                if item.code == LIST else None)
        if code is None:
            raise SoldOut()
        conn.execute(update(RewardGrant).where(RewardGrant.id == grant_id).values(code=code))
    except Exception:
        savepoint.rollback()
        raise
    savepoint.commit()
    view = _view(session, RewardGrant.id == grant_id, created=True)
    assert view is not None
    return view


def till_debit(
    session: Session, owner_id: int, item_id: int, points: object, reference: object,
    brand: str, at: datetime, *, actor: str = "shop",
) -> Entry:
    """Take ``points`` off the owner's balance with ``brand`` as payment at that brand's till
    (points held with other brands are not touched).

    Returns:
        The ledger line (cause ``till``, id ``reference``).
    Raises:
        DomainError: points not a whole number above 0, or no reference of 1 to 64 characters.
        InsufficientPoints: the balance with ``brand`` is below ``points`` (nothing is taken).
    """
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise DomainError("Say how many points to take: a whole number above 0.")
    if not isinstance(reference, str) or not reference.strip() or len(reference) > 64 \
            or "\x00" in reference:
        raise DomainError("Give the sale's reference (1 to 64 characters), like the receipt "
                          "number.")
    entry = post_entry(session, owner_id, SPEND, points, "till", reference.strip(), utc(at),
                       brand=brand)
    audit(session, utc(at), actor, "points_debit", item_id=item_id, owner_id=owner_id,
          points=points, reference=entry.cause_id)
    return entry


def worth_of(worth: PointsWorth | None, points: int) -> str | None:
    """Return what ``points`` are worth under the ruleset's ``worth``, in the page's language
    ("€5.00", "5,00 €"), or None without one."""
    if worth is None:
        return None
    return money(Decimal(worth.cents_of(points)).scaleb(-2), worth.currency)


def wallet(
    session: Session, ruleset_doc: RulesetDoc | None, brand: str, owner_id: int, at: datetime
) -> Wallet:
    """Return the owner's wallet at ``at`` for brand ``brand`` (no ruleset: no catalogue)."""
    at = utc(at)
    rows = session.connection().execute(
        select(RewardGrant.id, RewardPool.expires_days)
        .join(RewardPool, RewardPool.id == RewardGrant.pool_id)
        .where(RewardGrant.owner_id == owner_id, RewardPool.brand == brand,
               or_(RewardGrant.outcome.in_((PENDING, PRIZE)), RewardGrant.code.is_not(None)))
        .order_by(RewardGrant.id.desc()).limit(50)
    ).all()
    days = {row.id: row.expires_days for row in rows}
    views = [v for v in (_view(session, RewardGrant.id == r.id) for r in rows) if v is not None]

    def expired(v: GrantView) -> bool:
        return v.expires_at is not None and v.expires_at <= at

    waiting = [(v, gift_expires(v, days[v.id])) for v in views if v.pending]
    waiting = [(v, until) for v, until in waiting if until > at]
    won = [v for v in views if not v.pending]
    # Usable codes first (soonest to expire first), then redeemed or expired ones.
    won.sort(key=lambda v: (expired(v) or v.redeemed_at is not None,
                            v.expires_at or datetime.max.replace(tzinfo=at.tzinfo)))
    points = balance(session, owner_id, brand)  # this brand's points only
    doc_points = ruleset_doc.points if ruleset_doc is not None else None
    lines = []
    locales = ruleset_doc.locales if ruleset_doc is not None else ()

    def words(text: tuple[tuple[str, str], ...]) -> str:
        # The brand's words in the page's language, else its first locale's.
        return pick_text(text, current_language(), locales) or ""

    for item in doc_points.catalogue if doc_points else ():
        left = _left(session, brand, item)
        short = item.cost - points
        reason = (translate(N_("Sold out")) if not left else
                  translate_count("You need %(num)s more point", "You need %(num)s more points",
                                  short, num=number(short)) if short > 0 else None)
        lines.append(CatalogueLine(item.id, words(item.label), item.cost, reason is None, reason,
                                   words(item.description)))
    return Wallet(won=won, waiting=waiting, points=points,
                  worth=worth_of(doc_points.worth if doc_points else None, points),
                  catalogue=lines,
                  labels={i.id: words(i.label)
                          for i in (doc_points.catalogue if doc_points else ())})


# How long an unrevealed gift stays in the wallet when its reward sets no ``expires``.
GIFT_DAYS = 30


def gift_expires(view: GrantView, expires_days: int | None) -> datetime:
    """When an unrevealed gift leaves the wallet: its reward's ``expires`` after it was given
    (a grant records its own expiry only once revealed), or ``GIFT_DAYS``."""
    return view.created_at + timedelta(days=expires_days or GIFT_DAYS)


def _left(session: Session, brand: str, item: CatalogueItemDoc) -> bool:
    """Whether the item can still be bought (stock and budget; a pool not made yet: yes)."""
    row = session.connection().execute(
        select(RewardPool.given, RewardPool.budget, RewardPrize.given.label("pgiven"),
               RewardPrize.stock)
        .join(RewardPrize, RewardPrize.pool_id == RewardPool.id)
        .where(RewardPool.brand == brand, RewardPool.reward_id == _PREFIX + item.id,
               RewardPrize.prize_id == item.id)
    ).first()
    if row is None:
        return item.stock != 0
    return ((row.budget is None or row.given < row.budget)
            and (row.stock is None or row.pgiven < row.stock))
