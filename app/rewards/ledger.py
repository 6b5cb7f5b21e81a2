"""The loyalty ledger: an append-only list of point changes per owner and brand, balance never
negative.

Points follow the owner, not the item, and stay with the brand they were earned with: an owner has
one account per brand (``loyalty_accounts``, keyed on owner and brand), and brand B's till or
catalogue can take only the points earned with brand B. Each change is one conditional UPDATE of
that account (``balance + delta >= 0``, also a CHECK; a gain, one upsert) followed by an entry
that records the account's balance after it, so two concurrent spends cannot both pass and each
account's ledger adds up. Entries are never edited: a mistake is undone by a ``reverse`` entry
(on the same account), which can exist once per entry (a unique key).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.clock import utc
from app.core.db import dialect_insert, insert_ignore
from app.core.errors import N_, Conflict, DomainError, NotFound
from app.rewards.models import LoyaltyAccount, LoyaltyEntry

EARN, SPEND, EXPIRE, REVERSE = "earn", "spend", "expire", "reverse"
KINDS = (EARN, SPEND, EXPIRE, REVERSE)
CAUSES = ("tap", "journey", "reward", "service", "admin", "review", "provenance", "take_back",
          "catalogue", "till")


class InsufficientPoints(Conflict):
    code = "insufficient_points"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or N_("There are not enough points for this."))


@dataclass(frozen=True)
class Entry:
    """One ledger line; ``points`` is signed (+ earn, - spend / expire)."""

    id: int
    owner_id: int
    at: datetime
    kind: str
    points: int
    balance_after: int
    cause_type: str
    cause_id: str
    reverses_id: int | None
    brand: str


# Built once: every owner's tap page reads a balance. The primary key (owner_id, brand) answers
# it with one index lookup.
_BALANCE = select(LoyaltyAccount.balance).where(
    LoyaltyAccount.owner_id == bindparam("owner_id"), LoyaltyAccount.brand == bindparam("brand"))


def balance(session: Session, owner_id: int, brand: str) -> int:
    """Return the owner's points balance with ``brand`` (0 without any entry)."""
    value = session.connection().execute(
        _BALANCE, {"owner_id": owner_id, "brand": brand}).scalar()
    return int(value or 0)


def balances(session: Session, owner_id: int) -> dict[str, int]:
    """Return the owner's balance with each brand they have an account with, by brand."""
    rows = session.connection().execute(
        select(LoyaltyAccount.brand, LoyaltyAccount.balance)
        .where(LoyaltyAccount.owner_id == owner_id).order_by(LoyaltyAccount.brand))
    return {row.brand: int(row.balance) for row in rows}


def ledger(session: Session, owner_id: int, brand: str | None = None) -> list[Entry]:
    """Return the owner's entries with ``brand`` (None: with every brand), oldest first."""
    query = select(LoyaltyEntry).where(LoyaltyEntry.owner_id == owner_id)
    if brand is not None:
        query = query.where(LoyaltyEntry.brand == brand)
    rows = session.connection().execute(query.order_by(LoyaltyEntry.id)).mappings()
    return [_entry(row) for row in rows]


def _entry(row: RowMapping) -> Entry:
    return Entry(id=row["id"], owner_id=row["owner_id"], at=row["at"], kind=row["kind"],
                 points=row["points"], balance_after=row["balance_after"],
                 cause_type=row["cause_type"], cause_id=row["cause_id"],
                 reverses_id=row["reverses_id"], brand=row["brand"])


def _check_brand(brand: object) -> str:
    if not isinstance(brand, str) or not brand or len(brand) > 64:
        raise DomainError("a ledger entry needs the brand whose points it changes")
    return brand


def lock_account(session: Session, owner_id: int, brand: str, at: datetime) -> None:
    """Create the owner's account with ``brand`` if missing and lock it until the transaction
    ends (a no-op lock on SQLite, whose writer holds the whole database)."""
    insert_ignore(session, LoyaltyAccount.__table__,
                  {"owner_id": owner_id, "brand": brand, "balance": 0, "updated_at": at})
    session.connection().execute(
        select(LoyaltyAccount.owner_id)
        .where(LoyaltyAccount.owner_id == owner_id, LoyaltyAccount.brand == brand)
        .with_for_update())


def _check_cause(cause_type: str, cause_id: int | str) -> str:
    if cause_type not in CAUSES:
        raise DomainError(f"cause must be one of {', '.join(CAUSES)}, not {cause_type!r}")
    text = str(cause_id)
    if not text or len(text) > 64:
        raise DomainError("a ledger entry needs the id of its cause (at most 64 characters)")
    return text


def post_entry(
    session: Session,
    owner_id: int,
    kind: str,
    points: int,
    cause_type: str,
    cause_id: int | str,
    at: datetime,
    *,
    brand: str,
) -> Entry:
    """Append ``kind`` (earn, spend or expire) of ``points`` (> 0) to the owner's account with
    ``brand``.

    Returns:
        The entry, with that account's balance after it.
    Raises:
        DomainError: unknown kind or cause, no brand, points not a whole number above 0
            (reversals go through ``reverse_entry``).
        InsufficientPoints: a spend or expiry larger than the balance with ``brand``, whatever
            the owner holds with other brands (nothing is written).
    """
    if kind not in (EARN, SPEND, EXPIRE):
        raise DomainError("kind must be earn, spend or expire (use reverse_entry to reverse)")
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise DomainError("points must be a whole number above 0")
    cause = _check_cause(cause_type, cause_id)
    return _post(session, owner_id, _check_brand(brand), kind,
                 points if kind == EARN else -points, cause_type, cause, utc(at), None)


@functools.cache
def _upsert_gain(insert_of_backend: Any) -> Any:
    """INSERT the account with the gain as its balance, or add the gain to the one there;
    RETURNING the balance after. Built once per backend (``dialect_insert``)."""
    table = LoyaltyAccount.__table__
    statement = insert_of_backend(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.owner_id, table.c.brand],
        set_={"balance": table.c.balance + statement.excluded.balance,
              "updated_at": statement.excluded.updated_at},
    ).returning(table.c.balance)


def _post(
    session: Session,
    owner_id: int,
    brand: str,
    kind: str,
    delta: int,
    cause_type: str,
    cause_id: str,
    at: datetime,
    reverses_id: int | None,
) -> Entry:
    conn = session.connection()
    account = {"owner_id": owner_id, "brand": brand, "updated_at": at}
    if delta > 0:
        # A gain cannot take the balance below zero: one upsert creates the account or adds to
        # it, under the same row lock the UPDATE below takes, and returns the balance after.
        after = conn.execute(_upsert_gain(dialect_insert(conn)), {**account, "balance": delta}
                             ).scalar_one()
    else:
        insert_ignore(session, LoyaltyAccount.__table__, {**account, "balance": 0})
        # The row lock this takes orders concurrent changes of one account; the WHERE re-checks
        # the balance the winner left, so no interleaving can take it below zero. Only this
        # brand's account is looked at: points held with another brand never pay here.
        after = conn.execute(
            update(LoyaltyAccount)
            .where(LoyaltyAccount.owner_id == owner_id, LoyaltyAccount.brand == brand,
                   LoyaltyAccount.balance + delta >= 0)
            .values(balance=LoyaltyAccount.balance + delta, updated_at=at)
            .returning(LoyaltyAccount.balance)
        ).scalar_one_or_none()
    if after is None:
        raise InsufficientPoints()
    entry_id = conn.execute(
        insert(LoyaltyEntry.__table__).returning(LoyaltyEntry.id),
        {"owner_id": owner_id, "at": at, "kind": kind, "points": delta, "balance_after": after,
         "cause_type": cause_type, "cause_id": cause_id, "reverses_id": reverses_id,
         "brand": brand},
    ).scalar_one()
    return Entry(id=entry_id, owner_id=owner_id, at=at, kind=kind, points=delta,
                 balance_after=after, cause_type=cause_type, cause_id=cause_id,
                 reverses_id=reverses_id, brand=brand)


def reverse_entry(
    session: Session, entry_id: int, at: datetime, *, cause_type: str = "admin",
    cause_id: int | str = "reversal",
) -> Entry:
    """Undo entry ``entry_id`` with a ``reverse`` entry of the opposite sign, on the same
    owner's account with the same brand.

    Returns:
        The reversal entry.
    Raises:
        NotFound: no such entry.
        Conflict: the entry is itself a reversal, or was reversed already.
        InsufficientPoints: reversing an earn whose points were already spent.
    """
    cause = _check_cause(cause_type, cause_id)
    row = session.connection().execute(
        select(LoyaltyEntry).where(LoyaltyEntry.id == entry_id)
    ).mappings().first()
    if row is None:
        raise NotFound("There is no such ledger entry.")
    if row["kind"] == REVERSE:
        raise Conflict("A reversal cannot be reversed; post a new entry instead.")
    if session.connection().execute(
        select(LoyaltyEntry.id).where(LoyaltyEntry.reverses_id == entry_id)
    ).first() is not None:
        raise Conflict("This entry was already reversed.")
    try:
        # The unique reverses_id decides between two concurrent reversals; the savepoint keeps
        # the loser's transaction usable and its balance change undone.
        with session.begin_nested():
            return _post(session, row["owner_id"], row["brand"], REVERSE, -row["points"],
                         cause_type, cause, utc(at), entry_id)
    except IntegrityError as exc:
        raise Conflict("This entry was already reversed.") from exc


def expire_points(
    session: Session, owner_id: int, points: int, at: datetime, *, brand: str,
    cause_type: str = "admin", cause_id: int | str = "expiry",
) -> Entry | None:
    """Expire up to ``points`` of the owner's points with ``brand`` (never more than that
    balance).

    Returns:
        The ``expire`` entry, or None when the balance was already 0.
    Raises:
        DomainError: points not a whole number above 0, no brand, or an unknown cause.
    """
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise DomainError("points must be a whole number above 0")
    cause = _check_cause(cause_type, cause_id)
    brand = _check_brand(brand)
    for _ in range(5):  # a concurrent spend can shrink the balance between read and write
        amount = min(points, balance(session, owner_id, brand))
        if amount == 0:
            return None
        try:
            with session.begin_nested():
                return _post(session, owner_id, brand, EXPIRE, -amount, cause_type, cause,
                             utc(at), None)
        except InsufficientPoints:
            continue
    raise Conflict("The balance kept changing; try again.")
