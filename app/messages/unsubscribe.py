"""One-click unsubscribe (RFC 8058): a message's token withdraws consent for its kind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.catalog.models import Brand
from app.core.errors import NotFound
from app.messages import consent
from app.messages.delivery import token_hash
from app.messages.models import Message

_BY_HASH = (
    select(Message.owner_id, Message.channel, Message.template, Brand.name.label("brand_name"))
    .join(Brand, Brand.slug == Message.brand)
    .where(Message.unsubscribe_hash == bindparam("hash"))
)


@dataclass(frozen=True)
class Subscription:
    """What an unsubscribe link stops, in words: the kind of message and the brand sending it."""

    kind: str
    brand: str


def unsubscribe(session: Session, token: str, at: datetime) -> Subscription:
    """Withdraw consent for the token's (owner, channel, kind); return what it stopped.

    Idempotent: the same token again changes nothing more. The caller commits.

    Raises:
        NotFound: no message carries this token.
    """
    row = session.execute(_BY_HASH, {"hash": token_hash(token)}).first()
    if row is None:
        raise NotFound("unknown unsubscribe link")
    consent.set_consent(session, row.owner_id, row.channel, row.template, False, at)
    return Subscription(consent.kind_label(row.template), row.brand_name)


def check(session: Session, token: str) -> Subscription:
    """Return what the token's link would stop. Raises NotFound for an unknown token."""
    row = session.execute(_BY_HASH, {"hash": token_hash(token)}).first()
    if row is None:
        raise NotFound("unknown unsubscribe link")
    return Subscription(consent.kind_label(row.template), row.brand_name)
