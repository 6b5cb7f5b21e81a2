"""One-click unsubscribe (RFC 8058): a message's token withdraws consent for its kind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.catalog.models import Brand
from app.core.errors import N_, NotFound
from app.messages import consent
from app.messages.delivery import email_language, token_hash
from app.messages.models import Message

UNKNOWN_LINK = N_("This unsubscribe link is not valid. Use the link in the latest email from the "
                  "brand, or change your choices on your item's owner page.")

_BY_HASH = (
    select(Message.owner_id, Message.channel, Message.template, Brand.name.label("brand_name"),
           Brand.locale.label("brand_locale"), Brand.timezone.label("brand_timezone"))
    .join(Brand, Brand.slug == Message.brand)
    .where(Message.unsubscribe_hash == bindparam("hash"))
)


@dataclass(frozen=True)
class Subscription:
    """What an unsubscribe link stops, in words: the kind of message and the brand sending it,
    and the language its email was written in (the page speaks it too)."""

    kind: str
    brand: str
    language: str = "en"
    timezone: str = "UTC"


def _subscription(row: Any) -> Subscription:
    # The language the email was written in (``delivery``: the brand's own, not the phone's).
    return Subscription(consent.kind_label(row.template), row.brand_name,
                        email_language(row.brand_locale), row.brand_timezone)


def unsubscribe(session: Session, token: str, at: datetime) -> Subscription:
    """Withdraw consent for the token's (owner, channel, kind); return what it stopped.

    Idempotent: the same token again changes nothing more. The caller commits.

    Raises:
        NotFound: no message carries this token.
    """
    row = session.execute(_BY_HASH, {"hash": token_hash(token)}).first()
    if row is None:
        raise NotFound(UNKNOWN_LINK)
    consent.set_consent(session, row.owner_id, row.channel, row.template, False, at)
    return _subscription(row)


def check(session: Session, token: str) -> Subscription:
    """Return what the token's link would stop. Raises NotFound for an unknown token."""
    row = session.execute(_BY_HASH, {"hash": token_hash(token)}).first()
    if row is None:
        raise NotFound(UNKNOWN_LINK)
    return _subscription(row)
