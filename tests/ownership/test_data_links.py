"""Data links: anyone who confirmed an address, former owners included, gets a copy of their
data or its erasure through a one-time link mailed to that address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from app.catalog.models import Owner
from app.catalog.views import item_view
from app.core import outbox
from app.core.audit import AuditEntry
from app.ownership import brand
from app.ownership.email import confirm_email, request_email
from app.ownership.lifecycle import claim
from app.ownership.models import OwnerToken
from tests.factories import csrf, post_form, tagged_item
from tests.ownership.helpers import mail_link

ADDRESS = "ana@example.com"


def former_owners(app, db, phones: int = 1) -> list[int]:  # type: ignore[no-untyped-def]
    """Owners who each confirmed ``ADDRESS`` on their own phone, then sold their item back to
    the brand (so no owner page is left to them); returns their ids."""
    at = datetime.now(UTC) - timedelta(minutes=5)
    ids = []
    for _ in range(phones):
        tag = tagged_item(db)
        owner, _ = claim(db, item_view(tag.item), None, at)
        confirm_email(db, request_email(db, app.config, db.get_one(Owner, owner.id), ADDRESS,
                                        False, at), at)
        brand.take_back(db, tag.item, at, actor="admin", reason="returned to the shop")
        ids.append(owner.id)
    db.commit()
    return ids


def ask(client, email: str = ADDRESS, action: str = "export"):  # type: ignore[no-untyped-def]
    client.get("/privacy")  # a session, hence a CSRF token, as a browser has
    return post_form(client, "/privacy", {"email": email, "action": action})


def test_a_former_owner_downloads_their_data_by_a_mailed_link(app, db, mailbox):
    (owner_id,) = former_owners(app, db)
    browser = app.test_client()
    page = browser.get("/privacy")
    assert page.status_code == 200 and "Email me the link" in page.get_data(as_text=True)
    answer = ask(browser)
    assert answer.status_code == 200
    assert "a one-time link is on its way" in answer.get_data(as_text=True)
    (message,) = mailbox.wait_for(1)
    assert message["To"] == ADDRESS and "a copy of" in message.get_content()
    link = mail_link(message)

    # A mail scanner opening the link changes nothing; the button does it, once.
    shown = browser.get(link)
    assert shown.status_code == 200 and "Download my data" in shown.get_data(as_text=True)
    download = post_form(browser, link)
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.headers["Cache-Control"] == "no-store"
    data = download.get_json()
    assert data["owners"] == 1
    (document,) = data["exports"]
    assert document["owner"]["email"] == ADDRESS
    assert document["ownerships"][0]["ended_by"] is not None  # held once, no longer
    assert post_form(browser, link).status_code == 409
    assert browser.get(link).status_code == 409
    db.expire_all()
    assert db.get_one(Owner, owner_id).erased_at is None  # an export erases nothing


def test_an_erasure_link_erases_every_owner_who_confirmed_the_address(app, db, mailbox):
    first, second = former_owners(app, db, phones=2)
    browser = app.test_client()
    ask(browser, email="ANA@example.com", action="erase")
    (message,) = mailbox.wait_for(1)
    link = mail_link(message)
    assert "Erase my data" in browser.get(link).get_data(as_text=True)
    db.expire_all()
    assert db.get_one(Owner, first).erased_at is None  # not on GET

    done = post_form(browser, link)
    assert done.status_code == 200
    assert "from all 2 phones that confirmed your address" in done.get_data(as_text=True)
    db.expire_all()
    for owner_id in (first, second):
        owner = db.get_one(Owner, owner_id)
        assert owner.erased_at is not None and owner.email is None
    actions = db.scalars(select(AuditEntry.owner_id).where(AuditEntry.action == "erase")).all()
    assert sorted(actions) == [first, second]
    assert db.scalar(select(func.count()).select_from(OwnerToken)
                     .where(OwnerToken.email.is_not(None))) == 0
    assert post_form(browser, link).status_code == 409


def test_the_page_says_the_same_for_an_unknown_address_and_mails_nothing(app, db):
    former_owners(app, db)
    known = ask(app.test_client()).get_data(as_text=True)
    unknown = ask(app.test_client(), email="bob@example.com").get_data(as_text=True)
    strip = (lambda page: page.replace(csrf_marker(page), ""))  # noqa: E731
    assert strip(known) == strip(unknown)
    assert outbox.counts(db) == {"pending": 1}  # only the known address gets a link


def csrf_marker(page: str) -> str:
    start = page.find('name="csrf_token" value="')
    return page[start:page.find('"', start + 26) + 1] if start >= 0 else ""


def test_a_request_that_is_not_understood_is_refused_and_sends_nothing(app, db):
    former_owners(app, db)
    assert ask(app.test_client(), email="not an address").status_code == 400
    refused = ask(app.test_client(), action="delete-everything")
    assert refused.status_code == 400
    assert "Choose whether" in refused.get_data(as_text=True)
    assert outbox.counts(db) == {}


def test_links_are_limited_per_address_asked_for(app, db):
    app.config["RATE_LIMITS"] = {"DATA_LINK_PER_RECIPIENT": "2 per hour"}
    former_owners(app, db)
    assert ask(app.test_client()).status_code == 200
    assert ask(app.test_client(), email="ANA@example.com ").status_code == 200
    third = ask(app.test_client())
    assert third.status_code == 429 and int(third.headers["Retry-After"]) > 0
    assert ask(app.test_client(), email="bob@example.com").status_code == 200
    assert outbox.counts(db) == {"pending": 2}


def test_an_expired_link_does_nothing(app, db, mailbox):
    (owner_id,) = former_owners(app, db)
    browser = app.test_client()
    ask(browser, action="erase")
    link = mail_link(mailbox.wait_for(1)[0])
    db.execute(update(OwnerToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    db.commit()
    assert browser.get(link).status_code == 410
    assert post_form(browser, link).status_code == 410
    db.expire_all()
    assert db.get_one(Owner, owner_id).erased_at is None


def test_other_links_do_not_open_the_data_page(app, db):
    (owner_id,) = former_owners(app, db)
    at = datetime.now(UTC)
    token = request_email(db, app.config, db.get_one(Owner, owner_id), ADDRESS, True, at)
    db.commit()
    browser = app.test_client()
    assert browser.get(f"/privacy/{token}").status_code == 404
    assert post_form(browser, f"/privacy/{token}").status_code == 404
    assert browser.get("/privacy/not-a-token").status_code == 404


def test_the_erasure_needs_the_pages_csrf_token(app, db, mailbox):
    (owner_id,) = former_owners(app, db)
    browser = app.test_client()
    ask(browser, action="erase")
    link = mail_link(mailbox.wait_for(1)[0])
    csrf(browser)
    assert browser.post(link, data={}).status_code == 400
    db.expire_all()
    assert db.get_one(Owner, owner_id).erased_at is None


def test_every_page_links_to_the_data_page(app, db):
    page = app.test_client().get("/rewards/terms/maison-aurelia").get_data(as_text=True)
    assert 'href="/privacy"' in page
