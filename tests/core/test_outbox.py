"""The mail outbox: queued in the request's transaction, sent by a worker, retried, never twice
at once, given up when the link it carries has expired, and forgotten with the owner."""

from __future__ import annotations

import logging
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.catalog.models import Owner
from app.core import outbox, privacy
from app.core.outbox import OutboxMail

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def queue(app, db, n: int = 1, **kw) -> list[int]:  # type: ignore[no-untyped-def]
    fields = {"to": "ana@example.com", "subject": "Hello", "text": "Your link: http://x/1",
              "kind": "test", "at": NOW} | kw
    ids = [outbox.enqueue(db, app.config, **fields) for _ in range(n)]
    db.commit()
    return ids


def sessions(app):  # type: ignore[no-untyped-def]
    return app.extensions["aftertap.db"].sessionmaker


def row(db, mail_id: int) -> OutboxMail:  # type: ignore[no-untyped-def]
    db.expire_all()
    return db.get_one(OutboxMail, mail_id)


def test_a_queued_mail_is_sent_once_and_its_link_is_not_kept(app, db, smtp):
    (mail_id,) = queue(app, db)
    assert outbox.deliver_due(sessions(app), app.config, at=NOW).sent == 1
    assert outbox.deliver_due(sessions(app), app.config, at=NOW).sent == 0
    (message,) = smtp.wait_for(1)
    assert message["To"] == "ana@example.com"
    assert "http://x/1" in message.get_content()
    sent = row(db, mail_id)
    assert (sent.state, sent.attempts, sent.sent_at) == ("sent", 1, NOW)
    assert message["Message-ID"] == sent.message_id
    assert sent.body_text == ""  # the one-time link is not kept once delivered


def test_a_mail_not_yet_due_waits(app, db, smtp):
    queue(app, db, at=NOW + timedelta(minutes=5))
    assert outbox.deliver_due(sessions(app), app.config, at=NOW).sent == 0
    assert outbox.deliver_due(sessions(app), app.config, at=NOW + timedelta(minutes=5)).sent == 1


def test_failures_back_off_then_give_up_at_the_links_expiry(app, db):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=1, SMTP_TIMEOUT_SECONDS=2,
                      MAIL_RETRY_BASE_SECONDS=30, MAIL_RETRY_MAX_SECONDS=3600)
    (mail_id,) = queue(app, db, valid_until=NOW + timedelta(minutes=30))
    rng = random.Random(7)
    at, waits = NOW, []
    while row(db, mail_id).state == "pending":
        report = outbox.deliver_due(sessions(app), app.config, at=at, rng=rng)
        assert report.sent == 0
        mail = row(db, mail_id)
        waits.append((mail.next_attempt_at - at).total_seconds())
        at = mail.next_attempt_at
    dead = row(db, mail_id)
    assert dead.state == "dead" and dead.last_error == "ConnectionRefusedError"
    # Each wait lies between half and all of 30 s, 60 s, 120 s...: doubling, with jitter.
    for attempt, wait in enumerate(waits[:-1], start=1):
        full = 30 * 2 ** (attempt - 1)
        assert full / 2 <= wait <= full
    # No try after the link expired: the last one was planned past it, so it was given up.
    assert at > NOW + timedelta(minutes=30)
    assert dead.attempts == len(waits)


def test_retry_delays_stop_growing_at_the_cap(app):
    app.config.update(MAIL_RETRY_BASE_SECONDS=30, MAIL_RETRY_MAX_SECONDS=3600)
    rng = random.Random(1)
    assert all(1800 <= outbox.retry_delay(20, app.config, rng) <= 3600 for _ in range(50))


def test_a_recipient_refused_for_good_is_not_retried(app, db, smtp):
    smtp.refuse = "550 5.1.1 No such user"
    (mail_id,) = queue(app, db)
    report = outbox.deliver_due(sessions(app), app.config, at=NOW)
    assert (report.dead, report.retrying) == (1, 0)
    assert row(db, mail_id).last_error == "SMTPRecipientsRefused"


def test_a_recipient_refused_for_now_is_retried(app, db, smtp):
    smtp.refuse = "450 4.2.1 Mailbox busy"
    queue(app, db)
    assert outbox.deliver_due(sessions(app), app.config, at=NOW).retrying == 1


def test_a_mail_leased_by_a_worker_that_died_is_sent_after_the_lease(app, db, smtp):
    (mail_id,) = queue(app, db)
    with sessions(app)() as session:
        (claimed,) = outbox.claim_due(session, NOW, 600, 10)  # ... and the worker is killed
    assert claimed.id == mail_id
    assert outbox.deliver_due(sessions(app), app.config, at=NOW + timedelta(minutes=5)).sent == 0
    later = NOW + timedelta(minutes=11)
    assert outbox.deliver_due(sessions(app), app.config, at=later).sent == 1
    assert row(db, mail_id).attempts == 2


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_never_send_the_same_mail(app, db, smtp):
    queue(app, db, n=40)
    app.config.update(MAIL_BATCH=5)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            start.wait()
            outbox.deliver_due(sessions(app), app.config, at=NOW)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    messages = smtp.wait_for(40)
    assert len({m["Message-ID"] for m in messages}) == 40 == len(messages)
    assert outbox.counts(db) == {"sent": 40}


def test_an_erased_owner_is_sent_nothing_more(app, db, smtp):
    owner = Owner(public_id="o-1", created_at=NOW)
    db.add(owner)
    db.flush()
    queue(app, db, owner_id=owner.id)
    exported = privacy.export_owner(db, owner.id)
    assert exported["emails"] == [
        {"subject": "Hello", "state": "pending", "queued_at": NOW.isoformat(), "sent_at": None}]
    privacy.erase_owner(db, owner.id, NOW)
    db.commit()
    assert outbox.deliver_due(sessions(app), app.config, at=NOW).sent == 0
    assert db.scalars(select(OutboxMail)).all() == []


def test_the_worker_logs_no_address_and_survives_a_failing_round(app, db, smtp, caplog):
    queue(app, db)
    broken = {"first": True}
    real = sessions(app)

    def flaky():  # type: ignore[no-untyped-def]
        if broken.pop("first", False):
            raise ConnectionError("database restarting")
        return real()

    stop = threading.Event()
    caplog.set_level(logging.INFO)
    worker = threading.Thread(target=outbox.run_worker, args=(flaky, app.config, stop, 0.02))
    worker.start()
    try:
        smtp.wait_for(1)
    finally:
        stop.set()
        worker.join(timeout=10)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("app."))
    assert "mail delivery round failed" in ours and "1 sent" in ours
    assert "ana@example.com" not in ours  # the loopback SMTP server's own log is not ours


def test_mail_commands(app, db, smtp, runner):
    queue(app, db, n=2)
    db.execute(update(OutboxMail).values(next_attempt_at=datetime.now(UTC) - timedelta(1)))
    db.commit()
    assert runner.invoke(args=["mail", "status"]).output.splitlines()[0] == "pending: 2"
    result = runner.invoke(args=["mail", "deliver", "--once"])
    assert result.exit_code == 0 and result.output.strip() == "2 sent, 0 to retry, 0 dead"
    assert "sent: 2" in runner.invoke(args=["mail", "status"]).output
