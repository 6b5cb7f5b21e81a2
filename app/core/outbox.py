"""The mail outbox: emails are queued in the request's own transaction and sent by a worker.

Why a table and not a send in the request: a slow or unreachable SMTP server must never hold a
web worker, and an email must exist exactly when the link it carries does. The row is written in
the same transaction as the token it mails, so either both are committed or neither is; a broker
(Redis, RabbitMQ) could not join that transaction. The worker (``flask mail deliver``, started by
``make run``) sends due rows and retries failures with exponential back-off and jitter until the
mail's ``give_up_at``, after which it is ``dead``: a link that has expired is not worth sending.

Delivery is at least once: a worker killed between the SMTP server's "250 OK" and its own commit
sends that message again after the lease runs out. The ``Message-ID`` is fixed when the mail is
queued, so the copy is the same message to the receiving side. Several workers may run: each
claims a row with one conditional UPDATE (a lease), so two never send the same row at once.

The body of a sent mail is cleared: it carried a one-time link, and the row only needs to say
what was sent and when.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, bindparam, delete, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.core import mail
from app.core.clock import iso, now
from app.core.db import Base, UTCDateTime, update_rows
from app.core.privacy import Contributor

log = logging.getLogger(__name__)

PENDING, SENT, DEAD = "pending", "sent", "dead"


class OutboxMail(Base):
    """One email to send: its text, where it stands and when to try again."""

    __tablename__ = "outbox_mail"
    __table_args__ = (Index("ix_outbox_mail_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Whose mail it is, for the owner's export and erasure; None for mail to no known owner.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(10), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A worker that claimed the row owns it until then; after, another may retry it.
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    give_up_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The failure's kind only (e.g. "SMTPServerDisconnected"): never an address.
    last_error: Mapped[str | None] = mapped_column(String(80))


def enqueue(
    session: Session,
    settings: Mapping[str, Any],
    *,
    to: str,
    subject: str,
    text: str,
    kind: str,
    at: datetime,
    owner_id: int | None = None,
    html: str | None = None,
    valid_until: datetime | None = None,
) -> int:
    """Queue an email in ``session``'s transaction; return its id. The caller commits.

    ``valid_until``: when what the mail carries stops working (a link's expiry); retries stop
    there, and at ``MAIL_GIVE_UP_HOURS`` at the latest.
    """
    give_up = at + timedelta(hours=float(settings["MAIL_GIVE_UP_HOURS"]))
    if valid_until is not None:
        give_up = min(give_up, valid_until)
    row = OutboxMail(
        created_at=at, owner_id=owner_id, kind=kind, to_address=to, subject=subject,
        body_text=text, body_html=html, message_id=make_msgid(domain="aftertap.invalid"),
        state=PENDING, attempts=0, next_attempt_at=at, give_up_at=give_up,
    )
    session.add(row)
    session.flush()
    return row.id


_DUE = (
    select(OutboxMail.id)
    .where(OutboxMail.state == PENDING, OutboxMail.next_attempt_at <= bindparam("at"),
           (OutboxMail.leased_until.is_(None)) | (OutboxMail.leased_until < bindparam("at")))
    .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
    .limit(bindparam("limit"))
)
_CLAIM = (
    update(OutboxMail)
    .where(OutboxMail.id == bindparam("mail_id"), OutboxMail.state == PENDING,
           (OutboxMail.leased_until.is_(None)) | (OutboxMail.leased_until < bindparam("at")))
    .values(leased_until=bindparam("lease"), attempts=OutboxMail.attempts + 1)
)


@dataclass(frozen=True)
class Claimed:
    """A mail this worker holds the lease on."""

    id: int
    to: str
    subject: str
    text: str
    html: str | None
    message_id: str
    attempts: int
    give_up_at: datetime


def claim_due(session: Session, at: datetime, lease_seconds: float, limit: int) -> list[Claimed]:
    """Lease up to ``limit`` due mails to this worker and commit; return them, oldest first.

    A row another worker leased a moment earlier is skipped (its conditional UPDATE matched
    nothing), so no two workers send the same row at once.
    """
    ids = list(session.scalars(_DUE, {"at": at, "limit": limit}))
    lease = at + timedelta(seconds=lease_seconds)
    claimed = [
        mail_id for mail_id in ids
        if update_rows(session, _CLAIM, {"mail_id": mail_id, "at": at, "lease": lease}) == 1
    ]
    rows = session.scalars(select(OutboxMail).where(OutboxMail.id.in_(claimed))
                           .order_by(OutboxMail.id)).all() if claimed else []
    result = [Claimed(r.id, r.to_address, r.subject, r.body_text, r.body_html, r.message_id,
                      r.attempts, r.give_up_at) for r in rows]
    session.commit()
    return result


def retry_delay(attempts: int, settings: Mapping[str, Any], rng: random.Random) -> float:
    """Return seconds to wait after the ``attempts``-th failure: doubling, capped, jittered.

    Jitter (a uniform draw between half and all of the delay) keeps many mails that failed
    together from all coming back at the same moment.
    """
    base = float(settings["MAIL_RETRY_BASE_SECONDS"])
    cap = float(settings["MAIL_RETRY_MAX_SECONDS"])
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return rng.uniform(delay / 2, delay)


def _finish(session: Session, mail_id: int, values: dict[str, Any]) -> None:
    update_rows(session, update(OutboxMail).where(OutboxMail.id == mail_id)
                .values(leased_until=None, **values))
    session.commit()


@dataclass
class Report:
    """What one delivery round did."""

    sent: int = 0
    retrying: int = 0
    dead: int = 0


def deliver_due(
    sessions: Callable[[], Session],
    settings: Mapping[str, Any],
    at: datetime | None = None,
    rng: random.Random | None = None,
) -> Report:
    """Send every mail due at ``at`` (default now) once; return what happened.

    Each mail is sent outside any transaction (an SMTP server may take seconds), then marked
    sent, or scheduled again, or dead when the next try would be past its ``give_up_at`` or the
    server refused it for good.
    """
    rng = rng or random.Random()
    report = Report()
    batch = int(settings["MAIL_BATCH"])
    while True:
        moment = at or now()
        with sessions() as session:
            claimed = claim_due(session, moment, float(settings["MAIL_LEASE_SECONDS"]), batch)
        for item in claimed:
            message = mail.build_message(settings, item.to, item.subject, item.text, item.html,
                                         message_id=item.message_id)
            try:
                mail.send(settings, message)
            except mail.MailNotSent as exc:
                retry_at = (at or now()) + timedelta(
                    seconds=retry_delay(item.attempts, settings, rng))
                dead = exc.permanent or retry_at > item.give_up_at
                with sessions() as session:
                    _finish(session, item.id, {
                        "state": DEAD if dead else PENDING, "next_attempt_at": retry_at,
                        "last_error": exc.kind[:80],
                    })
                if dead:
                    report.dead += 1
                    log.warning("mail %d dead after %d attempt(s): %s", item.id, item.attempts,
                                exc.kind)
                else:
                    report.retrying += 1
                continue
            with sessions() as session:
                _finish(session, item.id, {"state": SENT, "sent_at": at or now(),
                                           "body_text": "", "body_html": None,
                                           "last_error": None})
            report.sent += 1
        if len(claimed) < batch:
            return report


def run_worker(
    sessions: Callable[[], Session],
    settings: Mapping[str, Any],
    stop: threading.Event,
    poll_seconds: float,
    also: Sequence[Callable[[], object]] = (),
) -> None:
    """Deliver due mail every ``poll_seconds`` until ``stop`` is set.

    ``also``: further rounds run each poll (the scheduled messages' delivery), each guarded
    like the mail's own.

    A failing round (the database restarting, say) is logged and tried again on the next poll:
    the worker outlives what it depends on.
    """
    while not stop.is_set():
        try:
            report = deliver_due(sessions, settings)
            if report.sent or report.retrying or report.dead:
                log.info("mail: %d sent, %d to retry, %d dead", report.sent, report.retrying,
                         report.dead)
        except Exception:  # any failure of a round must not stop the worker
            log.exception("mail delivery round failed; retrying in %.1f s", poll_seconds)
        for extra in also:
            try:
                extra()
            except Exception:  # as above: the next poll tries again
                log.exception("delivery round failed; retrying in %.1f s", poll_seconds)
        stop.wait(poll_seconds)


def counts(session: Session) -> dict[str, int]:
    """Return how many mails are in each state."""
    rows = session.execute(select(OutboxMail.state, func.count()).group_by(OutboxMail.state))
    return {row.state: int(row[1]) for row in rows}


def _export(session: Session, owner_id: int) -> dict[str, Any]:
    rows = session.scalars(select(OutboxMail).where(OutboxMail.owner_id == owner_id)
                           .order_by(OutboxMail.id))
    return {"emails": [{"subject": r.subject, "state": r.state,
                        "queued_at": iso(r.created_at), "sent_at": iso(r.sent_at)}
                       for r in rows]}


def _erase(session: Session, owner_id: int, _at: datetime) -> None:
    # Nothing is kept: a queued mail to an erased owner must not be sent either.
    session.execute(delete(OutboxMail).where(OutboxMail.owner_id == owner_id))


PRIVACY = Contributor(name="outbox", tables=("outbox_mail",), export=_export, erase=_erase)
"""The outbox's share of an owner's export and erasure (registered by the app factory)."""
