"""A brand's messages for its staff: what went, what waits and why some did not go, in words.

Never the owner's address: staff see the item's serial, which is enough to find its file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.catalog.models import Item, Ownership
from app.core.i18n import N_
from app.messages.consent import CHANNEL_LABELS, kind_title
from app.messages.models import (
    ACCEPTED,
    DEFERRED,
    FAILED,
    SCHEDULED,
    SENDING,
    SENT,
    SUPPRESSED,
    Message,
)

PER_PAGE = 50


STATE_WORDS = {
    SCHEDULED: N_("Scheduled"), DEFERRED: N_("Waiting for the end of quiet hours"),
    SENDING: N_("Being sent"), ACCEPTED: N_("Accepted by the mail server"),
    SENT: N_("Sent to your CRM"), FAILED: N_("Failed"), SUPPRESSED: N_("Not sent"),
}
# Why a message did not go. A failure's reason is the transport's (an SMTP or HTTP status,
# an error name): shown as it is, since it is what the mail or CRM team will look up.
REASON_WORDS = {
    "no_consent": N_("the owner has not agreed to this kind of message"),
    "cap": N_("the owner reached the ruleset's limit of messages"),
    "unsubscribed": N_("the owner unsubscribed"),
    "erased": N_("the owner's data was erased"),
    "no_address": N_("the owner has no confirmed email address"),
    "no_ruleset": N_("the brand has no live ruleset"),
    "no endpoint": N_("no CRM endpoint is set up"),
    "interrupted": N_("sending stopped while the mail server was taking it; it may have "
                      "arrived, so it is not sent again"),
}


@dataclass(frozen=True)
class MessageLine:
    """One message as brand staff see it."""

    schedule: str
    message: str
    channel: str
    serial: str
    state: str
    reason: str | None
    due_at: datetime
    created_at: datetime
    sent_at: datetime | None


def _words(identifier: str) -> str:
    return identifier.replace("-", " ").replace("_", " ").capitalize()


def brand_messages(session: Session, brand: str, page: int = 1) -> tuple[list[MessageLine], int]:
    """Return page ``page`` (from 1) of ``brand``'s messages, newest first, and the number of
    pages (at least 1)."""
    total = session.scalar(select(func.count()).select_from(Message)
                           .where(Message.brand == brand)) or 0
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(1, page), pages)
    rows = session.execute(
        select(Message, Item.serial)
        .join(Ownership, Ownership.id == Message.ownership_id)
        .join(Item, Item.id == Ownership.item_id)
        .where(Message.brand == brand)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .offset((page - 1) * PER_PAGE).limit(PER_PAGE))
    lines = []
    for message, serial in rows:
        reason = None
        if message.state in (FAILED, SUPPRESSED) or (message.state == SCHEDULED
                                                      and message.reason):
            raw = message.reason or ""
            reason = REASON_WORDS.get(raw, raw) or None
        state = STATE_WORDS.get(message.state, _words(message.state))
        if message.state == SCHEDULED and reason:
            # A retry keeps the last failure's reason.
            state = N_("To be tried again after a failure")
        lines.append(MessageLine(
            # The schedule's id as it is: the ruleset gives schedules no words (the page shows
            # it as code).
            message.schedule_id, kind_title(message.template),
            CHANNEL_LABELS.get(message.channel, _words(message.channel)), serial, state, reason,
            message.next_attempt_at, message.created_at, message.sent_at))
    return lines, pages
