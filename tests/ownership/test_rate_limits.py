"""Rate limits on the ownership doors that send mail or accept transfers.

Confirmation emails: per owner, per item, per recipient (hashed) and per address. Recovery
emails: per item and per address. Transfer accepts: per address.
"""

from __future__ import annotations

from app.core import outbox
from app.core.limits import limiter
from tests.factories import JSON_ACCEPT, item_path, post_form, tagged_item, tap
from tests.ownership.helpers import confirmed_owner, owned


def sent(db) -> int:  # type: ignore[no-untyped-def]
    """Emails queued for sending (the outbox worker sends each one)."""
    return sum(outbox.counts(db).values())


def ask(phone, tag, address, **kw):  # type: ignore[no-untyped-def]
    return post_form(phone, item_path(tag, "email"), {"email": address}, **kw)


def test_an_owner_cannot_mail_address_after_address(app, db, keyring):
    app.config["RATE_LIMITS"] = {"CONFIRM_EMAIL_PER_OWNER": "2 per hour"}
    tag, phone = owned(app, db, keyring)
    second = tagged_item(db)
    assert tap(phone, db, keyring, second).status_code == 200  # the same owner's second item
    assert ask(phone, tag, "a1@example.com").status_code == 200
    assert ask(phone, second, "a2@example.com").status_code == 200
    refused = ask(phone, second, "a3@example.com")
    assert refused.status_code == 429
    assert refused.mimetype == "text/html"
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    assert sent(db) == 2


def test_confirmation_emails_are_limited_per_item(app, db, keyring):
    app.config["RATE_LIMITS"] = {"CONFIRM_EMAIL_PER_ITEM": "2 per hour"}
    tag, phone = owned(app, db, keyring)
    second = tagged_item(db)
    tap(phone, db, keyring, second)
    assert ask(phone, tag, "a1@example.com").status_code == 200
    assert ask(phone, tag, "a2@example.com").status_code == 200
    refused = ask(phone, tag, "a3@example.com", headers=JSON_ACCEPT)
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "rate_limited"
    # The owner's other item has its own allowance.
    assert ask(phone, second, "a3@example.com").status_code == 200
    assert sent(db) == 3


def test_one_inbox_cannot_be_flooded_from_many_items(app, db, keyring):
    app.config["RATE_LIMITS"] = {"CONFIRM_EMAIL_PER_RECIPIENT": "2 per hour"}
    tag1, phone1 = owned(app, db, keyring)
    tag2, phone2 = owned(app, db, keyring)
    assert ask(phone1, tag1, "victim@example.com").status_code == 200
    assert ask(phone2, tag2, "victim@example.com").status_code == 200
    # Same inbox, however it is spelled.
    assert ask(phone2, tag2, " Victim@EXAMPLE.com").status_code == 429
    assert ask(phone2, tag2, "someone-else@example.com").status_code == 200
    # The counts are kept under a keyed hash: no address, no owner cookie in clear.
    keys = [str(key) for key in limiter.storage.storage]  # type: ignore[attr-defined]
    assert any("/email:" in key for key in keys)
    cookie = phone1.get_cookie("aftertap_owner")
    assert cookie is not None
    assert not any("victim" in k or "example.com" in k or cookie.value in k for k in keys)


def test_confirmation_emails_are_limited_per_address(app, db, keyring):
    app.config["RATE_LIMITS"] = {"CONFIRM_EMAIL_PER_ADDRESS": "2 per hour"}
    tag1, phone1 = owned(app, db, keyring)
    tag2, phone2 = owned(app, db, keyring)
    assert ask(phone1, tag1, "a1@example.com").status_code == 200
    assert ask(phone2, tag2, "a2@example.com").status_code == 200
    assert ask(phone1, tag1, "a3@example.com").status_code == 429
    elsewhere = ask(phone1, tag1, "a3@example.com", environ_base={"REMOTE_ADDR": "10.4.0.1"})
    assert elsewhere.status_code == 200


def test_a_strangers_refused_attempts_do_not_use_up_the_owners_allowance(app, db, keyring):
    app.config["RATE_LIMITS"] = {"CONFIRM_EMAIL_PER_ITEM": "2 per hour"}
    tag, phone = owned(app, db, keyring)
    stranger = app.test_client()
    for _ in range(3):
        assert ask(stranger, tag, "eve@example.com").status_code == 403
    assert ask(phone, tag, "ana@example.com").status_code == 200
    assert sent(db) == 1


def test_recovery_emails_to_the_owner_are_limited_per_item(app, db, keyring, mailbox):
    tag, _old_phone = confirmed_owner(app, db, keyring, mailbox)
    app.config["RATE_LIMITS"] = {"RECOVERY_EMAIL_PER_ITEM": "2 per hour"}
    new_phone = app.test_client()
    tap(new_phone, db, keyring, tag)
    for _ in range(2):
        assert post_form(new_phone, item_path(tag, "recover"),
                         {"email": "ana@example.com"}).status_code == 200
    refused = post_form(new_phone, item_path(tag, "recover"), {"email": "ana@example.com"},
                        headers=JSON_ACCEPT)
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    assert len(mailbox.wait_for(3)) == 3  # the confirmation and two recovery links, no more


def test_recovery_requests_are_limited_per_address(app, db, keyring):
    app.config["RATE_LIMITS"] = {"RECOVERY_EMAIL_PER_ADDRESS": "2 per hour"}
    tag1, _ = owned(app, db, keyring)
    tag2, _ = owned(app, db, keyring)
    phone = app.test_client()
    tap(phone, db, keyring, tag1)
    tap(phone, db, keyring, tag2)
    for _ in range(2):
        assert post_form(phone, item_path(tag1, "recover"),
                         {"email": "guess@example.com"}).status_code == 200
    assert post_form(phone, item_path(tag2, "recover"),
                     {"email": "guess@example.com"}).status_code == 429


def test_transfer_accepts_are_limited_per_address(app, db, keyring):
    app.config["RATE_LIMITS"] = {"TRANSFER_ACCEPT_PER_ADDRESS": "2 per minute"}
    phone = app.test_client()
    for n in range(2):
        assert post_form(phone, f"/transfer/guess{n}/accept").status_code == 404
    refused = post_form(phone, "/transfer/guess3/accept")
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    elsewhere = post_form(phone, "/transfer/guess4/accept",
                          environ_base={"REMOTE_ADDR": "10.5.0.1"})
    assert elsewhere.status_code == 404
