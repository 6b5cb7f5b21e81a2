"""Points for what owners really do: a review, a service, a provenance record before a resale,
bringing an item back (take-back). Amounts come from ``AFTERTAP_LOYALTY_POINTS``.

Points go to the owner's account with the item's brand (they are spent only with that brand).
Each behaviour earns once per cause (the review, the service event, the ownership that issued a
record, the item taken back), checked under that account's row lock so two requests cannot both
earn.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.catalog.holdings import current_holding
from app.catalog.models import Brand, Item, Ownership, Product
from app.catalog.views import ItemView
from app.core.errors import N_, Conflict, DomainError
from app.core.ratings import star_rating
from app.rewards.ledger import EARN, Entry, lock_account, post_entry
from app.rewards.models import LoyaltyEntry, ProductReview

BEHAVIOURS = ("review", "service", "provenance", "take_back")


def points_for(settings: Mapping[str, Any], behaviour: str) -> int:
    """Return the points ``behaviour`` earns (0: it earns nothing)."""
    table = settings.get("LOYALTY_POINTS") or {}
    try:
        return max(0, int(table.get(behaviour, 0)))
    except (TypeError, ValueError):
        return 0


def item_brand(session: Session, item_id: int) -> str | None:
    """Return the slug of the brand that made item ``item_id`` (None: no such item)."""
    return session.connection().execute(
        select(Brand.slug).join(Product, Product.brand_id == Brand.id)
        .join(Item, Item.product_id == Product.id).where(Item.id == item_id)).scalar()


def ownership_brand(session: Session, ownership_id: int) -> str | None:
    """Return the slug of the brand of the item ownership ``ownership_id`` is of."""
    item_id = session.connection().execute(
        select(Ownership.item_id).where(Ownership.id == ownership_id)).scalar()
    return None if item_id is None else item_brand(session, item_id)


def earn_for(
    session: Session,
    settings: Mapping[str, Any],
    owner_id: int | None,
    behaviour: str,
    cause_id: int | str,
    at: datetime,
    *,
    brand: str | None,
) -> Entry | None:
    """Credit ``owner_id``'s account with ``brand`` for ``behaviour`` caused by ``cause_id``;
    None if nothing is due.

    Nothing is due without an owner or a brand, when the behaviour earns 0 points, or when this
    cause already earned (a retry, a second provenance record of the same ownership).
    """
    points = points_for(settings, behaviour)
    if owner_id is None or brand is None or points == 0:
        return None
    # Lock the account first: a concurrent earn for the same cause waits, then sees this one.
    lock_account(session, owner_id, brand, at)
    already = session.connection().execute(select(exists().where(
        LoyaltyEntry.owner_id == owner_id, LoyaltyEntry.brand == brand,
        LoyaltyEntry.kind == EARN, LoyaltyEntry.cause_type == behaviour,
        LoyaltyEntry.cause_id == str(cause_id),
    ))).scalar()
    if already:
        return None
    return post_entry(session, owner_id, EARN, points, behaviour, cause_id, at, brand=brand)


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
        raise DomainError(N_("Write a few words about it (at most 2000 characters)."))
    try:
        with session.begin_nested():
            review = ProductReview(owner_id=owner_id, product_id=item.product.id,
                                   item_id=item.id, rating=stars, text=body, created_at=at)
            session.add(review)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(N_("You have already reviewed this product. Thank you!")) from exc
    return earn_for(session, settings, owner_id, "review", review.id, at,
                    brand=item.product.brand.slug)


def earn_for_item_owner(
    session: Session,
    settings: Mapping[str, Any],
    item_id: int,
    behaviour: str,
    cause_id: int | str,
    at: datetime,
) -> Entry | None:
    """Credit the item's current owner (if any), with the item's brand, for ``behaviour``; see
    ``earn_for``."""
    holding = current_holding(session, item_id)
    if holding is None:
        return None
    return earn_for(session, settings, holding.owner_id, behaviour, cause_id, at,
                    brand=item_brand(session, item_id))
