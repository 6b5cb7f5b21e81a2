"""Prize codes: generated ones, imported single-use lists, and checking and redeeming at the till.

A prize's ``code`` is ``generated`` (a random code made when it is won) or ``list`` (the next free
code of an imported list). A list code is taken ``WHERE grant_id IS NULL``, so it is given once;
a code is redeemed ``WHERE redeemed_at IS NULL`` and not expired, so it is redeemed once.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from app.core.audit import audit
from app.core.clock import now, utc
from app.core.db import insert_ignore
from app.core.errors import N_, Conflict, DomainError, Gone, NotFound
from app.rewards.models import RewardCode, RewardGrant, RewardPool

# What a prize's ``code`` says: a code made when it is won, or one taken from an imported list.
GENERATED, LIST = "generated", "list"
VALID, REDEEMED, EXPIRED = "valid", "redeemed", "expired"
# Crockford's base32 without I, L, O, U: codes are read aloud and typed at a till.
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_code() -> str:
    """Return a random prize code like ``AT-7QK2-M9XD-4RTB`` (60 random bits)."""
    body = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return f"AT-{body[:4]}-{body[4:8]}-{body[8:]}"


def free_codes(
    session: Session, brand: str, lists: Collection[str] | None = None
) -> dict[str, int]:
    """Return ``{list name: codes not given yet}`` for the brand's ``lists`` (None: all of them).

    A list with no free code is absent.
    """
    if lists is not None and not lists:
        return {}
    query = (select(RewardCode.list_name, func.count().label("free"))
             .where(RewardCode.brand == brand, RewardCode.grant_id.is_(None))
             .group_by(RewardCode.list_name))
    if lists is not None:
        query = query.where(RewardCode.list_name.in_(list(lists)))
    return {row.list_name: row.free for row in session.connection().execute(query)}


def take_code(session: Session, brand: str, list_name: str, grant_id: int) -> str | None:
    """Give the next free code of the brand's list ``list_name`` to grant ``grant_id``.

    Returns the code, or None when the list has none left.
    """
    conn = session.connection()
    for _ in range(20):
        query = (select(RewardCode.id)
                 .where(RewardCode.brand == brand, RewardCode.list_name == list_name,
                        RewardCode.grant_id.is_(None))
                 .order_by(RewardCode.id).limit(1))
        if conn.dialect.name == "postgresql":
            # Concurrent reveals skip each other's rows instead of queuing for the same one.
            query = query.with_for_update(skip_locked=True)
        code_id = conn.execute(query).scalar()
        if code_id is None:
            return None
        code = conn.execute(
            update(RewardCode).where(RewardCode.id == code_id, RewardCode.grant_id.is_(None))
            .values(grant_id=grant_id).returning(RewardCode.code)
        ).scalar_one_or_none()
        if code is not None:
            return code
    return None


@dataclass(frozen=True)
class ImportResult:
    added: int
    skipped: int  # blank, duplicate, or already used as a code anywhere


def import_codes(
    session: Session, brand: str, list_name: str, codes: Iterable[str], at: datetime | None = None
) -> ImportResult:
    """Add single-use codes to the brand's list ``list_name``; return how many were added.

    A code already in any list, or already given as a prize, is skipped: a code at the till
    must name exactly one prize.

    Raises:
        DomainError: the list name is empty or too long.
    """
    if not list_name or len(list_name) > 64:
        raise DomainError("a code list needs a name of at most 64 characters")
    at = utc(at) if at is not None else now()
    conn = session.connection()
    added = skipped = 0
    seen: set[str] = set()
    for raw in codes:
        code = raw.strip()
        if not code or len(code) > 64 or code in seen:
            skipped += 1
            continue
        seen.add(code)
        taken = conn.execute(select(RewardCode.id).where(RewardCode.code == code)).first() or \
            conn.execute(select(RewardGrant.id).where(RewardGrant.code == code)).first()
        if taken is not None:
            skipped += 1
            continue
        added += insert_ignore(session, RewardCode.__table__,
                               {"brand": brand, "list_name": list_name, "code": code,
                                "imported_at": at, "grant_id": None})
    audit(session, at, "admin", "reward_codes_import", brand=brand, list=list_name, added=added,
          skipped=skipped)
    return ImportResult(added, skipped)


@dataclass(frozen=True)
class RedemptionView:
    code: str
    brand: str
    reward_id: str
    prize_id: str | None
    expires_at: datetime | None
    redeemed_at: datetime | None
    shop: str | None
    status: str  # valid | redeemed | expired


def _redemption(
    session: Session, code: str, at: datetime, brand: str | None = None
) -> RedemptionView | None:
    stmt = (
        select(RewardGrant.code, RewardPool.brand, RewardPool.reward_id, RewardGrant.prize_id,
               RewardGrant.expires_at, RewardGrant.redeemed_at, RewardGrant.redeemed_shop)
        .join(RewardPool, RewardPool.id == RewardGrant.pool_id)
        .where(RewardGrant.code == code)
    )
    if brand is not None:
        stmt = stmt.where(RewardPool.brand == brand)
    row = session.connection().execute(stmt).first()
    if row is None:
        return None
    status = (REDEEMED if row.redeemed_at is not None
              else EXPIRED if row.expires_at is not None and row.expires_at <= at else VALID)
    return RedemptionView(code=code, brand=row.brand, reward_id=row.reward_id,
                          prize_id=row.prize_id, expires_at=row.expires_at,
                          redeemed_at=row.redeemed_at, shop=row.redeemed_shop, status=status)


def check_code(
    session: Session, code: str, at: datetime, brand: str | None = None
) -> RedemptionView:
    """Return what a code is worth now (``status`` valid, redeemed or expired), redeeming nothing.

    ``brand``: a brand's till sees only that brand's codes (None: every brand).

    Raises:
        NotFound: no prize has that code (of ``brand``).
    """
    view = _redemption(session, code.strip(), utc(at), brand)
    if view is None:
        raise NotFound(N_("This code is not known."))
    return view


def redeem(
    session: Session, code: str, at: datetime, *, shop: str, brand: str | None = None,
    actor: str = "shop",
) -> RedemptionView:
    """Redeem a prize code once (the shop or till's call); return the redeemed prize.

    ``brand``: a brand's till redeems only that brand's codes (None: every brand); ``actor``
    names the till in the audit log.

    Raises:
        NotFound: no prize has that code, of ``brand`` (404).
        Conflict: it was already redeemed (409).
        Gone: it expired (410).
    """
    at = utc(at)
    code = code.strip()
    conditions = [RewardGrant.code == code, RewardGrant.redeemed_at.is_(None),
                  or_(RewardGrant.expires_at.is_(None), RewardGrant.expires_at > at)]
    if brand is not None:
        # In the UPDATE itself: another brand's code is never redeemed, not even for a moment.
        conditions.append(RewardGrant.pool_id.in_(
            select(RewardPool.id).where(RewardPool.brand == brand)))
    done = session.connection().execute(
        update(RewardGrant)
        .where(*conditions)
        .values(redeemed_at=at, redeemed_shop=shop[:64])
        .returning(RewardGrant.id, RewardGrant.item_id, RewardGrant.owner_id)
    ).first()
    view = _redemption(session, code, at, brand)
    if view is None:
        raise NotFound(N_("This code is not known."))
    if done is None:
        if view.status == REDEEMED:
            raise Conflict(N_("This code was already redeemed on %(date)s."),
                           date=f"{view.redeemed_at:%Y-%m-%d}")
        raise Gone(N_("This code has expired."))
    audit(session, at, actor, "reward_redeem", item_id=done.item_id, owner_id=done.owner_id,
          grant_id=done.id, shop=shop[:64])
    return view
