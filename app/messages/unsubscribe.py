"""One-click unsubscribe (RFC 8058): a message's token withdraws consent for its kind."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.core.errors import NotFound
from app.messages import consent
from app.messages.delivery import token_hash
from app.messages.models import Message

_BY_HASH = select(Message.owner_id, Message.channel, Message.template).where(
    Message.unsubscribe_hash == bindparam("hash"))


def unsubscribe(session: Session, token: str, at: datetime) -> str:
    """Withdraw consent for the token's (owner, channel, kind); return the kind's label.

    Idempotent: the same token again changes nothing more. The caller commits.

    Raises:
        NotFound: no message carries this token.
    """
    row = session.execute(_BY_HASH, {"hash": token_hash(token)}).first()
    if row is None:
        raise NotFound("unknown unsubscribe link")
    consent.set_consent(session, row.owner_id, row.channel, row.template, False, at)
    return consent.kind_label(row.template)


def check(session: Session, token: str) -> str:
    """Return the kind's label of the token's message. Raises NotFound for an unknown token."""
    row = session.execute(_BY_HASH, {"hash": token_hash(token)}).first()
    if row is None:
        raise NotFound("unknown unsubscribe link")
    return consent.kind_label(row.template)
