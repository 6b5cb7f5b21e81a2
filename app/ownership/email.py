"""An owner's email address, their consent to messages, and recovery on a new phone.

Addresses only count once confirmed: the confirmation and recovery links carry one-time tokens of
which only a hash is stored; each is redeemed with one conditional UPDATE, so it works once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.catalog.holdings import current_holding, find_owners_by_email
from app.catalog.models import Owner
from app.catalog.views import ItemView
from app.core.audit import audit
from app.core.db import update_rows
from app.core.errors import N_, Conflict, DomainError, Gone, NotFound
from app.core.mail import normalize_email
from app.ownership.models import OwnerToken
from app.ownership.owners import new_token, token_digest

VERIFY_EMAIL = "verify_email"
VERIFY_OPT_IN = "verify_opt_in"
RECOVER = "recover"
# A link, mailed to a confirmed address, to download or erase what is held about its owners.
DATA_EXPORT = "data_export"
DATA_ERASE = "data_erase"
DATA_ACTIONS = {"export": DATA_EXPORT, "erase": DATA_ERASE}


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


def purge_expired_tokens(session: Session, before: datetime) -> int:
    """Delete the emailed tokens (used or not) that expired before ``before``; return how many.

    An expired token redeems nothing, so no one loses a link they could still use. ``before``
    lags the clock (see ``EXPIRED_LINKS_KEEP_DAYS``) so a recent link still says "expired"
    rather than "not valid". The caller commits.
    """
    return update_rows(session, delete(OwnerToken).where(OwnerToken.expires_at < before))


def _redeem(session: Session, token: str, purposes: tuple[str, ...], at: datetime) -> OwnerToken:
    row = session.scalar(select(OwnerToken).where(OwnerToken.token_hash == token_digest(token)))
    if row is None or row.purpose not in purposes:
        raise NotFound(N_("This link is not valid."))
    used = update_rows(
        session,
        update(OwnerToken)
        .where(OwnerToken.id == row.id, OwnerToken.used_at.is_(None), OwnerToken.expires_at > at)
        .values(used_at=at),
    )
    if not used:
        if row.used_at is not None:
            raise Conflict(N_("This link has already been used."))
        raise Gone(N_("This link has expired. Ask for a new one."))
    return row


def confirm_email(session: Session, token: str, at: datetime) -> Owner:
    """Open a confirmation link: the address becomes the owner's, verified. Returns the owner.

    Raises:
        NotFound, Conflict, Gone: unknown, used or expired link.
    """
    row = _redeem(session, token, (VERIFY_EMAIL, VERIFY_OPT_IN), at)
    owner = session.get(Owner, row.owner_id)
    if owner is None or owner.erased_at is not None:
        raise NotFound(N_("This link is not valid."))
    owner.email = row.email
    owner.email_verified_at = at
    owner.email_opt_in = row.purpose == VERIFY_OPT_IN
    audit(session, at, "owner", "email_verified", owner_id=owner.id, opt_in=owner.email_opt_in)
    return owner


def set_opt_in(session: Session, owner: Owner, opt_in: bool, at: datetime) -> None:
    """Record the owner's choice about messages (only meaningful with a verified address)."""
    owner.email_opt_in = bool(opt_in and owner.email_verified_at is not None)
    audit(session, at, "owner", "opt_in" if owner.email_opt_in else "opt_out", owner_id=owner.id)


class MailedLink(NamedTuple):
    """A one-time link to mail: its token, to whom, and until when it works."""

    token: str
    address: str
    owner_id: int
    expires_at: datetime


def request_recovery(
    session: Session, settings: Mapping[str, Any], item: ItemView, email: str, at: datetime
) -> MailedLink | None:
    """Someone holding ``item`` on a new phone asks to recover its ownership by ``email``.

    Returns the link to mail when ``email`` is the current owner's verified address, else None.
    The caller must answer the same either way, so the page reveals nothing.
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
    minutes = float(settings.get("RECOVERY_LINK_MINUTES", 30))
    token = _issue_token(session, owner.id, RECOVER, at, minutes)
    return MailedLink(token, owner.email, owner.id, at + timedelta(minutes=minutes))


def redeem_recovery(session: Session, token: str, at: datetime) -> Owner:
    """Open a recovery link: return the owner whose credential this browser now gets.

    Raises:
        NotFound, Conflict, Gone: unknown, used or expired link.
    """
    row = _redeem(session, token, (RECOVER,), at)
    owner = session.get(Owner, row.owner_id)
    if owner is None or owner.erased_at is not None:
        raise NotFound(N_("This link is not valid."))
    audit(session, at, "owner", "recovered", owner_id=owner.id)
    return owner


def request_data_link(
    session: Session, settings: Mapping[str, Any], email: str, action: str, at: datetime
) -> MailedLink | None:
    """Anyone asks for a link to ``action`` ("export" or "erase") the data held under ``email``.

    Former owners have no owner page to do it from, so the right is exercised by proving the
    address instead: the link goes to it. Returns the link to mail when some owner (current or
    former, not erased) confirmed ``email``, else None; the caller must answer the same either
    way, so the page tells no one whether an address is known.

    Raises:
        DomainError: ``email`` is not an address, or ``action`` is neither choice.
    """
    purpose = DATA_ACTIONS.get(action)
    if purpose is None:
        raise DomainError(N_("Choose whether you want a copy of your data or its erasure."))
    try:
        owners = find_owners_by_email(session, email)
    except NotFound:
        return None
    minutes = float(settings.get("DATA_LINK_MINUTES", 60))
    address = normalize_email(email)
    token = _issue_token(session, owners[0].id, purpose, at, minutes, address)
    return MailedLink(token, address, owners[0].id, at + timedelta(minutes=minutes))


def data_link_action(session: Session, token: str, at: datetime) -> str:
    """Return what an unused data link will do ("export" or "erase"), without using it.

    Raises:
        NotFound, Conflict, Gone: unknown, used or expired link.
    """
    row = session.scalar(select(OwnerToken).where(OwnerToken.token_hash == token_digest(token)))
    if row is None or row.purpose not in (DATA_EXPORT, DATA_ERASE):
        raise NotFound(N_("This link is not valid."))
    if row.used_at is not None:
        raise Conflict(N_("This link has already been used."))
    if row.expires_at <= at:
        raise Gone(N_("This link has expired. Ask for a new one."))
    return "export" if row.purpose == DATA_EXPORT else "erase"


def redeem_data_link(session: Session, token: str, at: datetime) -> tuple[str, list[int]]:
    """Use a data link once: return its action and the ids of every owner it covers.

    It covers each owner that confirmed the link's address, since two phones can confirm the
    same one; the caller exports or erases them all in the same transaction.

    Raises:
        NotFound, Conflict, Gone: unknown, used or expired link, or nobody holds the address
        any more (erased since).
    """
    row = _redeem(session, token, (DATA_EXPORT, DATA_ERASE), at)
    if row.email is None:
        raise NotFound(N_("This link is not valid."))
    owners = find_owners_by_email(session, row.email)
    return ("export" if row.purpose == DATA_EXPORT else "erase"), [o.id for o in owners]
