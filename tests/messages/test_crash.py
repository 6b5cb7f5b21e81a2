"""A real ``flask mail deliver`` worker killed with SIGKILL in the middle of a send.

What app/messages/delivery.py and app/core/outbox.py promise on a crash: the row is never lost.
A scheduled email goes at most once: killed while the server takes it, it is not sent again and
its row says so. Outbox mail goes at least once: killed there, one extra copy goes, carrying the
same Message-ID. A worker killed after its claim committed but before it reached the SMTP server
sends nothing, so the row goes exactly once. The worker is a subprocess (its own process, killed
for real); the retry after the lease runs in-process with an injected clock (no sleeping for the
lease).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core import outbox
from app.core.clock import now
from app.core.db import make_engine
from app.messages import delivery
from app.messages.models import ACCEPTED, FAILED, SENDING, Message
from app.messages.ticks import tick
from tests.conftest import Mailbox
from tests.messages.helpers import BRAND, REPO, SLOT, owned_serum, publish_demo
from tests.scheduler.test_cli import FLASK, _env

LEASE = 30  # seconds; the in-process retry runs with a clock past it
QUIET = 'quiet_hours: {from: "21:00", to: "08:00"}'


class Stalling(Mailbox):
    """A Mailbox whose first DATA is kept (the server has the message) but not answered until
    ``release`` is set: the worker is killed while it waits for "250 OK"."""

    def __init__(self) -> None:
        super().__init__()
        self.got_data = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        reply = await super().handle_DATA(server, session, envelope)
        if not self.got_data.is_set():
            self.got_data.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        return reply


@pytest.fixture
def sessions(app) -> Iterator[sessionmaker[Session]]:  # type: ignore[no-untyped-def]
    engine = make_engine(app.config["DATABASE_URL"])
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


@pytest.fixture
def stalling(app) -> Iterator[Stalling]:  # type: ignore[no-untyped-def]
    box = Stalling()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        box.port = probe.getsockname()[1]
    controller = Controller(box, hostname=box.host, port=box.port)
    controller.start()
    app.config.update(SMTP_HOST=box.host, SMTP_PORT=box.port, MAIL_LEASE_SECONDS=LEASE)
    yield box
    box.release.set()
    controller.stop()


def _worker(settings: dict[str, object], port: int) -> subprocess.Popen[bytes]:
    env = _env({**settings, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": port,
                "MAIL_LEASE_SECONDS": LEASE, "MAIL_POLL_SECONDS": 0.05})
    proc = subprocess.Popen([FLASK, "--app", "wsgi", "mail", "deliver"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    # Never hang the suite on a worker that outlives its test.
    watchdog = threading.Timer(60, proc.kill)
    watchdog.daemon = True
    watchdog.start()
    return proc


def _kill(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL


def _kill_while_the_server_takes_it(settings: dict[str, object], stalling: Stalling) -> None:
    """Start a real worker and SIGKILL it once the server holds the message's data, unanswered."""
    proc = _worker(settings, stalling.port)
    try:
        assert stalling.got_data.wait(30), "the worker never sent the message"
        _kill(proc)
    finally:
        proc.kill()
    stalling.release.set()
    assert len(stalling.messages) == 1


def _due_message(app, db) -> int:  # type: ignore[no-untyped-def]
    """Queue the refill reminder of one owner, due now by the real clock (the worker's)."""
    text = (REPO / "rulesets" / "maison-aurelia.yaml").read_text()
    assert QUIET in text
    # The worker runs on the real clock: quiet hours would defer the row depending on the hour.
    publish_demo(db, text.replace(QUIET, ""))
    owned_serum(db, 77)
    tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    db.commit()
    row = db.scalars(select(Message)).one()
    row.next_attempt_at = now() - timedelta(minutes=1)
    db.commit()
    return row.id


def _due_mail(app, db) -> int:  # type: ignore[no-untyped-def]
    mail_id = outbox.enqueue(db, app.config, to="owner@example.com", subject="Your link",
                             text="https://example.com/link", kind="magic_link", at=now())
    db.commit()
    return mail_id


def _message_state(db: Session, row_id: int) -> str:
    db.expire_all()
    return db.get(Message, row_id).state  # type: ignore[union-attr]


def _mail_state(db: Session, row_id: int) -> str:
    # An outbox row stays pending while claimed: its lease is what says a worker holds it.
    db.expire_all()
    row = db.get(outbox.OutboxMail, row_id)
    assert row is not None
    return f"{row.state} (leased)" if row.leased_until is not None else row.state


def _retry_messages(sessions: sessionmaker[Session], app, at: datetime) -> int:  # type: ignore[no-untyped-def]
    return delivery.deliver_due(sessions, app.config, at=at).delivered


def _retry_mail(sessions: sessionmaker[Session], app, at: datetime) -> int:  # type: ignore[no-untyped-def]
    return outbox.deliver_due(sessions, app.config, at=at).sent


KINDS: dict[str, tuple[Callable[..., int], Callable[[Session, int], str], Callable[..., int],
                       str, str]] = {
    "scheduled message": (_due_message, _message_state, _retry_messages, SENDING, ACCEPTED),
    "outbox mail": (_due_mail, _mail_state, _retry_mail, f"{outbox.PENDING} (leased)",
                    outbox.SENT),
}


def test_a_worker_killed_while_the_server_takes_an_email_leaves_one_copy_and_says_so(
        app, db, settings, stalling, sessions):
    """A scheduled email is delivered at most once: killed during the data, the worker may have
    delivered it, so no one sends it again, and the row says what happened."""
    row_id = _due_message(app, db)
    _kill_while_the_server_takes_it(settings, stalling)
    # Killed before it could record the send: the row still waits under the dead worker's lease,
    # marked as handed over to the mail server.
    db.expire_all()
    row = db.get(Message, row_id)
    assert row is not None and row.state == SENDING and row.sent_at is not None
    assert _retry_messages(sessions, app, now()) == 0
    # After the lease: not sent again, and not lost: failed as interrupted, for staff to see.
    assert _retry_messages(sessions, app, now() + timedelta(seconds=LEASE + 1)) == 0
    db.expire_all()
    row = db.get(Message, row_id)
    assert row is not None and (row.state, row.reason) == (FAILED, delivery.INTERRUPTED)
    assert _retry_messages(sessions, app, now() + timedelta(seconds=3 * LEASE)) == 0
    assert len(stalling.messages) == 1  # at most one copy


def test_an_outbox_mail_killed_while_the_server_takes_it_is_sent_once_more_at_most(
        app, db, settings, stalling, sessions):
    """Outbox mail (sign-in and confirmation links) is at least once: a person waits for it, and
    a second copy of a link is harmless."""
    make, state, retry, claimed, done = KINDS["outbox mail"]
    row_id = make(app, db)
    _kill_while_the_server_takes_it(settings, stalling)
    # Killed before it could record the send: the row still waits under the dead worker's lease.
    assert state(db, row_id) == claimed
    # Within the lease nobody takes it again (the dead worker might still have been alive).
    assert retry(sessions, app, now()) == 0
    assert retry(sessions, app, now() + timedelta(seconds=LEASE + 1)) == 1
    assert state(db, row_id) == done  # not lost
    copies = stalling.wait_for(2)
    assert len(copies) == 2  # at most one copy more than once
    ids = {str(mail["Message-ID"]) for mail in copies}
    assert len(ids) == 1 and ids != {"None"}  # the same message to the receiving side
    assert retry(sessions, app, now() + timedelta(seconds=3 * LEASE)) == 0
    assert len(stalling.messages) == 2


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_worker_killed_after_its_claim_but_before_sending_leaves_it_to_go_once(
        app, db, settings, smtp, sessions, kind):
    make, state, retry, claimed, done = KINDS[kind]
    row_id = make(app, db)
    app.config["MAIL_LEASE_SECONDS"] = LEASE
    # A server that accepts the connection and never greets: the worker waits before any SMTP.
    with socket.socket() as slow:
        slow.bind(("127.0.0.1", 0))
        slow.listen()
        slow.settimeout(30)
        proc = _worker(settings, slow.getsockname()[1])
        try:
            connection, _ = slow.accept()
            with connection:
                # The claim committed before the worker connected.
                assert state(db, row_id) == claimed
                _kill(proc)
        finally:
            proc.kill()
    assert retry(sessions, app, now() + timedelta(seconds=LEASE + 1)) == 1
    assert state(db, row_id) == done
    assert len(smtp.wait_for(1)) == 1
    assert retry(sessions, app, now() + timedelta(seconds=3 * LEASE)) == 0
    assert len(smtp.messages) == 1  # exactly once
