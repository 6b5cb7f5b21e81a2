"""Points for what owners really do: a review, a service, a provenance record before a resale,
bringing an item back (take-back). Amounts come from ``AFTERTAP_LOYALTY_POINTS``.

Each behaviour earns once per cause (the review, the service event, the ownership that issued a
record, the item taken back), checked under the owner's account row lock so two requests cannot
both earn.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.catalog.holdings import current_holding
from app.catalog.views import ItemView
from app.core.db import insert_ignore
from app.core.errors import Conflict, DomainError
from app.core.ratings import star_rating
from app.rewards.ledger import EARN, Entry, post_entry
from app.rewards.models import LoyaltyAccount, LoyaltyEntry, ProductReview

BEHAVIOURS = ("review", "service", "provenance", "take_back")


def points_for(settings: Mapping[str, Any], behaviour: str) -> int:
    """Return the points ``behaviour`` earns (0: it earns nothing)."""
    table = settings.get("LOYALTY_POINTS") or {}
    try:
        return max(0, int(table.get(behaviour, 0)))
    except (TypeError, ValueError):
        return 0


def earn_for(
    session: Session,
    settings: Mapping[str, Any],
    owner_id: int | None,
    behaviour: str,
    cause_id: int | str,
    at: datetime,
) -> Entry | None:
    """Credit ``owner_id`` for ``behaviour`` caused by ``cause_id``; None if nothing is due.

    Nothing is due without an owner, when the behaviour earns 0 points, or when this cause
    already earned (a retry, a second provenance record of the same ownership).
    """
    points = points_for(settings, behaviour)
    if owner_id is None or points == 0:
        return None
    conn = session.connection()
    insert_ignore(session, LoyaltyAccount.__table__,
                  {"owner_id": owner_id, "balance": 0, "updated_at": at})
    # Lock the account first: a concurrent earn for the same cause waits, then sees this one.
    conn.execute(
        select(LoyaltyAccount.owner_id).where(LoyaltyAccount.owner_id == owner_id)
        .with_for_update()
    )
    already = conn.execute(select(exists().where(
        LoyaltyEntry.owner_id == owner_id, LoyaltyEntry.kind == EARN,
        LoyaltyEntry.cause_type == behaviour, LoyaltyEntry.cause_id == str(cause_id),
    ))).scalar()
    if already:
        return None
    return post_entry(session, owner_id, EARN, points, behaviour, cause_id, at)


def has_reviewed(session: Session, owner_id: int, product_id: int) -> bool:
    """Return whether ``owner_id`` has reviewed ``product_id``."""
    return bool(session.connection().execute(select(exists().where(
        ProductReview.owner_id == owner_id, ProductReview.product_id == product_id,
    ))).scalar())


def submit_review(
    session: Session,
    settings: Mapping[str, Any],
    item: ItemView,
    owner_id: int,
    rating: str | int | None,
    text: str,
    at: datetime,
) -> Entry | None:
    """Store the owner's review of ``item``'s product and credit the review points once.

    Returns the points entry (None when reviews earn nothing).
    Raises:
        DomainError: the rating is not 1 to 5, or the text is empty or over 2000 characters.
        Conflict: this owner already reviewed this product.
    """
    stars = star_rating(rating)
    body = (text or "").strip()
    if not body or len(body) > 2000:
        raise DomainError("Write a few words about it (at most 2000 characters).")
    try:
        with session.begin_nested():
            review = ProductReview(owner_id=owner_id, product_id=item.product.id,
                                   item_id=item.id, rating=stars, text=body, created_at=at)
            session.add(review)
            session.flush()
    except IntegrityError as exc:
        raise Conflict("You have already reviewed this product. Thank you!") from exc
    return earn_for(session, settings, owner_id, "review", review.id, at)


def earn_for_item_owner(
    session: Session,
    settings: Mapping[str, Any],
    item_id: int,
    behaviour: str,
    cause_id: int | str,
    at: datetime,
) -> Entry | None:
    """Credit the item's current owner (if any) for ``behaviour``; see ``earn_for``."""
    holding = current_holding(session, item_id)
    return earn_for(session, settings, holding.owner_id if holding else None, behaviour,
                    cause_id, at)
