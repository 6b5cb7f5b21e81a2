"""The loyalty ledger: an append-only list of point changes per owner, balance never negative.

Points follow the owner, not the item. Each change is one conditional UPDATE of the owner's account
(``balance + delta >= 0``, also a CHECK) followed by an entry that records the balance after it, so
two concurrent spends cannot both pass and the ledger always adds up. Entries are never edited:
a mistake is undone by a ``reverse`` entry, which can exist once per entry (a unique key).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.clock import utc
from app.core.db import insert_ignore
from app.core.errors import Conflict, DomainError, NotFound
from app.rewards.models import LoyaltyAccount, LoyaltyEntry

EARN, SPEND, EXPIRE, REVERSE = "earn", "spend", "expire", "reverse"
KINDS = (EARN, SPEND, EXPIRE, REVERSE)
CAUSES = ("tap", "journey", "reward", "service", "admin", "review", "provenance", "take_back",
          "catalogue", "till")


class InsufficientPoints(Conflict):
    code = "insufficient_points"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "There are not enough points for this.")


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


def balance(session: Session, owner_id: int) -> int:
    """Return the owner's points balance (0 without any entry)."""
    value = session.connection().execute(
        select(LoyaltyAccount.balance).where(LoyaltyAccount.owner_id == owner_id)
    ).scalar()
    return int(value or 0)


def ledger(session: Session, owner_id: int) -> list[Entry]:
    """Return the owner's entries, oldest first."""
    rows = session.connection().execute(
        select(LoyaltyEntry).where(LoyaltyEntry.owner_id == owner_id).order_by(LoyaltyEntry.id)
    ).mappings()
    return [_entry(row) for row in rows]


def _entry(row: RowMapping) -> Entry:
    return Entry(id=row["id"], owner_id=row["owner_id"], at=row["at"], kind=row["kind"],
                 points=row["points"], balance_after=row["balance_after"],
                 cause_type=row["cause_type"], cause_id=row["cause_id"],
                 reverses_id=row["reverses_id"])


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
    brand: str | None = None,
) -> Entry:
    """Append ``kind`` (earn, spend or expire) of ``points`` (> 0) to the owner's ledger.

    Returns:
        The entry, with the balance after it.
    Raises:
        DomainError: unknown kind or cause, points not a whole number above 0 (reversals go
            through ``reverse_entry``).
        InsufficientPoints: a spend or expiry larger than the balance (nothing is written).
    """
    if kind not in (EARN, SPEND, EXPIRE):
        raise DomainError("kind must be earn, spend or expire (use reverse_entry to reverse)")
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise DomainError("points must be a whole number above 0")
    cause = _check_cause(cause_type, cause_id)
    return _post(session, owner_id, kind, points if kind == EARN else -points, cause_type, cause,
                 utc(at), None, brand)


def _post(
    session: Session,
    owner_id: int,
    kind: str,
    delta: int,
    cause_type: str,
    cause_id: str,
    at: datetime,
    reverses_id: int | None,
    brand: str | None = None,
) -> Entry:
    conn = session.connection()
    insert_ignore(session, LoyaltyAccount.__table__,
                  {"owner_id": owner_id, "balance": 0, "updated_at": at})
    # The row lock this takes orders concurrent changes of one owner; the WHERE re-checks the
    # balance the winner left, so no interleaving can take it below zero.
    after = conn.execute(
        update(LoyaltyAccount)
        .where(LoyaltyAccount.owner_id == owner_id, LoyaltyAccount.balance + delta >= 0)
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
                 reverses_id=reverses_id)


def reverse_entry(
    session: Session, entry_id: int, at: datetime, *, cause_type: str = "admin",
    cause_id: int | str = "reversal",
) -> Entry:
    """Undo entry ``entry_id`` with a ``reverse`` entry of the opposite sign.

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
            return _post(session, row["owner_id"], REVERSE, -row["points"], cause_type, cause,
                         utc(at), entry_id)
    except IntegrityError as exc:
        raise Conflict("This entry was already reversed.") from exc


def expire_points(
    session: Session, owner_id: int, points: int, at: datetime, *, cause_type: str = "admin",
    cause_id: int | str = "expiry",
) -> Entry | None:
    """Expire up to ``points`` of the owner's points (never more than the balance).

    Returns:
        The ``expire`` entry, or None when the balance was already 0.
    Raises:
        DomainError: points not a whole number above 0, or an unknown cause.
    """
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise DomainError("points must be a whole number above 0")
    cause = _check_cause(cause_type, cause_id)
    for _ in range(5):  # a concurrent spend can shrink the balance between read and write
        amount = min(points, balance(session, owner_id))
        if amount == 0:
            return None
        try:
            with session.begin_nested():
                return _post(session, owner_id, EXPIRE, -amount, cause_type, cause, utc(at), None)
        except InsufficientPoints:
            continue
    raise Conflict("The balance kept changing; try again.")
