"""The messages domain's share of an owner's export and erasure (``app.core.privacy``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.catalog.models import Owner
from app.core import privacy
from app.core.clock import iso
from app.core.db import update_rows
from app.messages.models import DEFERRED, SCHEDULED, SENDING, SUPPRESSED, Consent, Message


def _export(session: Session, owner_id: int) -> dict[str, Any]:
    messages = session.scalars(select(Message).where(Message.owner_id == owner_id)
                               .order_by(Message.id))
    consents = session.scalars(select(Consent).where(Consent.owner_id == owner_id)
                               .order_by(Consent.id))
    timezone = session.scalar(select(Owner.timezone).where(Owner.id == owner_id))
    return {
        "message_time_zone": timezone,  # the owner's own choice; None: from where they tap
        "messages": [{"schedule": m.schedule_id, "channel": m.channel, "state": m.state,
                      "due": iso(m.slot), "sent_at": iso(m.sent_at)} for m in messages],
        "message_consents": [{"channel": c.channel, "kind": c.kind, "granted": c.granted}
                             for c in consents],
    }


def _erase(session: Session, owner_id: int, _at: datetime) -> None:
    # Consent answers and the chosen time zone are personal choices: gone. Message rows hold
    # ids and states only; the ones not sent yet must never go, so they are suppressed (staff
    # see why).
    session.execute(delete(Consent).where(Consent.owner_id == owner_id))
    update_rows(session, update(Owner).where(Owner.id == owner_id).values(timezone=None))
    update_rows(session, update(Message)
                .where(Message.owner_id == owner_id,
                       Message.state.in_([SCHEDULED, DEFERRED, SENDING]))
                .values(state=SUPPRESSED, reason="erased", leased_until=None))


PRIVACY = privacy.Contributor(name="messages", tables=("messages", "message_consents"),
                              export=_export, erase=_erase)


def register() -> None:
    """Register the contributor (called by ``init_app``)."""
    privacy.register(PRIVACY)
