"""/admin/messages: a brand's messages with what became of each, in words, for its own staff."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.catalog.models import Item, Ownership
from app.core.clock import now
from app.core.staff import MARKETER, SERVICE
from app.messages.models import ACCEPTED, DEFERRED, FAILED, SCHEDULED, SUPPRESSED, Message
from tests.admin.helpers import BRAND_A, BRAND_B, Seeded, seed_brand, sign_in_as, staff_member


def _message(db, seeded: Seeded, n: int, state: str, reason: str | None = None,  # type: ignore[no-untyped-def]
             channel: str = "email") -> None:
    holding = db.scalar(select(Ownership).join(Item, Item.id == Ownership.item_id)
                        .where(Item.serial == seeded.serial))
    at = now() - timedelta(hours=100 - n)
    db.add(Message(brand=seeded.slug, schedule_id="refill-reminder", ownership_id=holding.id,
                   owner_id=holding.owner_id, slot=at, channel=channel,
                   template="refill_email", key=f"{seeded.slug}-{n}", state=state,
                   reason=reason, attempts=0, created_at=at, next_attempt_at=at,
                   give_up_at=at + timedelta(days=2),
                   sent_at=at if state == ACCEPTED else None))


def test_brand_staff_see_their_messages_in_words_and_never_another_brands(app, db):
    own = seed_brand(app, db, BRAND_A, "AAA-0001")
    other = seed_brand(app, db, BRAND_B, "BBB-0001")
    for n, (state, reason) in enumerate([
            (SCHEDULED, None), (DEFERRED, None), (ACCEPTED, None), (FAILED, "550 5.1.1"),
            (SUPPRESSED, "no_consent"), (SUPPRESSED, "cap"), (SUPPRESSED, "unsubscribed"),
            (SUPPRESSED, "erased"), (FAILED, "interrupted")]):
        _message(db, own, n, state, reason)
    _message(db, other, 50, SUPPRESSED, "cap")
    db.commit()

    marketer = app.test_client()
    sign_in_as(marketer, staff_member(db, own.brand_id, MARKETER, password=None))
    page = marketer.get("/admin/messages")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for words in ("Scheduled", "Waiting for the end of quiet hours", "Accepted by the mail server",
                  "Failed: 550 5.1.1",
                  "Not sent: the owner has not agreed to this kind of message",
                  "Not sent: the owner reached the ruleset&#39;s limit of messages",
                  "Not sent: the owner unsubscribed", "Not sent: the owner&#39;s data was erased",
                  "Failed: sending stopped while the mail server was taking it; it may have "
                  "arrived, so it is not sent again",
                  "Refill reminder", "Refill reminders", "Email", own.serial):
        assert words in text, words
    # Newest first; never an owner's address, a code or another brand's item.
    assert text.index("the owner&#39;s data was erased") < text.index("Accepted by the mail")
    for hidden in (own.email, other.serial, other.email, "no_consent", "refill_email",
                   "interrupted"):
        assert hidden not in text, hidden
    # Another brand's page is not theirs to ask for.
    assert marketer.get(f"/admin/messages?brand={BRAND_B}").status_code == 404

    theirs = app.test_client()
    sign_in_as(theirs, staff_member(db, other.brand_id, MARKETER, password=None))
    text = theirs.get("/admin/messages").get_data(as_text=True)
    assert other.serial in text and own.serial not in text

    service = app.test_client()
    sign_in_as(service, staff_member(db, own.brand_id, SERVICE, password=None))
    assert service.get("/admin/messages").status_code == 403


def test_messages_are_paginated_by_fifty(app, db):
    own = seed_brand(app, db, BRAND_A, "AAA-0001")
    for n in range(51):
        _message(db, own, n, ACCEPTED if n == 0 else SCHEDULED)
    db.commit()
    client = app.test_client()
    sign_in_as(client, staff_member(db, own.brand_id, MARKETER, password=None))
    first = client.get("/admin/messages").get_data(as_text=True)
    assert "Page 1 of 2" in first and "Accepted by the mail server" not in first
    second = client.get("/admin/messages?page=2").get_data(as_text=True)
    assert "Page 2 of 2" in second and "Accepted by the mail server" in second
