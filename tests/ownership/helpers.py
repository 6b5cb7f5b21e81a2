"""Ownership test helpers: an owned item, a confirmed email address, links read from mail."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from app.catalog.models import Owner
from app.verify.models import Tag
from tests.factories import item_path, post_form, tagged_item, tap

AUTH = {"Authorization": "Basic YWRtaW46cHc="}  # admin:pw


def owned(app: Any, db: Any, keyring: Any, **kw: Any) -> tuple[Tag, Any]:
    """Return ``(tag, phone)``: a sold item claimed by the first tap of ``phone``."""
    tag = tagged_item(db, **kw)
    phone = app.test_client()
    assert tap(phone, db, keyring, tag).status_code == 200
    return tag, phone


def mail_link(message: Any) -> str:
    """Return the path of the link in a mailed message."""
    body = message.get_content()
    match = re.search(r"http://localhost(/\S+)", body)
    assert match, body
    return urlsplit(match.group(1)).path


def confirmed_owner(
    app: Any, db: Any, keyring: Any, mailbox: Any, address: str = "ana@Example.COM"
) -> tuple[Tag, Any]:
    """Return ``(tag, phone)``: the item's owner, with ``address`` confirmed and opted in."""
    tag = tagged_item(db)
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    resp = post_form(phone, item_path(tag, "email"), {"email": address, "opt_in": "yes"})
    assert resp.status_code == 200 and "Check your inbox" in resp.get_data(as_text=True)
    (message,) = mailbox.wait_for(1)
    assert message["To"] == "ana@example.com"
    link = mail_link(message)
    # Opening the link (a mail scanner would) changes nothing; pressing the button confirms.
    assert phone.get(link).status_code == 200
    db.expire_all()
    assert db.scalar(select(Owner.email_verified_at)) is None
    assert post_form(phone, link).status_code == 200
    return tag, phone
