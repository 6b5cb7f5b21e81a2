"""Who this browser is: a tap session counts for its own item only; the owner cookie is signed."""

from __future__ import annotations

from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from app.catalog.access import OWNER_COOKIE
from app.catalog.models import Owner, Ownership
from tests.factories import item_path, post_form, tagged_item, tap


def _owners_of(db, tag) -> list[int]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return list(db.scalars(select(Ownership.owner_id).where(Ownership.item_id == tag.item_id)))


def test_a_tap_of_one_item_does_not_open_another(app, db, keyring):
    # The browser owns bag A and bag B, and has just tapped A. B is at home: its owner pages stay
    # shut, and an unclaimed item C cannot be claimed with A's tap either.
    a, b = tagged_item(db), tagged_item(db)
    c = tagged_item(db, released=None)
    phone = app.test_client()
    assert tap(phone, db, keyring, b).status_code == 200  # claims B
    assert tap(phone, db, keyring, a).status_code == 200  # claims A
    app.config["TAP_SESSION_SECONDS"] = 600
    with phone.session_transaction() as browser:
        # Only A's tap session is live now (B's has expired).
        taps = dict(browser["taps"])
        taps.pop(str(b.item_id))
        browser["taps"] = taps

    assert phone.get(item_path(a, "owner")).status_code == 200
    refused = phone.get(item_path(b, "owner"))
    assert refused.status_code == 403
    assert "Hold your phone to the product again" in refused.get_data(as_text=True)
    assert post_form(phone, item_path(b, "transfer")).status_code == 403

    claim = post_form(phone, item_path(c, "claim"))
    assert claim.status_code == 403
    assert _owners_of(db, c) == []


def test_an_owner_cookie_with_a_forged_signature_is_nobody(app, db, keyring):
    tag = tagged_item(db)
    owner_phone = app.test_client()
    tap(owner_phone, db, keyring, tag)
    assert owner_phone.get(item_path(tag, "owner")).status_code == 200  # comes back: confirmed
    public_id = db.scalar(select(Owner.public_id))
    # Someone else has the item in hand (a live tap session) and a cookie naming the owner, signed
    # with the wrong key (or not at all): they must stay a visitor.
    other = app.test_client()
    assert tap(other, db, keyring, tag, as_json=True).get_json()["ownership"]["you_own_it"] is False
    forgeries = [
        URLSafeSerializer("not-the-app-secret", salt="aftertap.owner").dumps(public_id),
        owner_phone.get_cookie(OWNER_COOKIE).value.rsplit(".", 1)[0] + ".AAAA",
        owner_phone.get_cookie(OWNER_COOKIE).value.rsplit(".", 1)[0],
    ]
    for forged in forgeries:
        other.set_cookie(OWNER_COOKIE, forged)
        assert other.get(item_path(tag, "owner")).status_code == 403, forged
        assert post_form(other, item_path(tag, "transfer")).status_code == 403, forged
        body = tap(other, db, keyring, tag, as_json=True).get_json()
        assert body["ownership"]["you_own_it"] is False, forged
    # The genuine cookie on that same browser is the owner: the refusals above were the signature.
    other.set_cookie(OWNER_COOKIE, owner_phone.get_cookie(OWNER_COOKIE).value)
    assert other.get(item_path(tag, "owner")).status_code == 200
    assert _owners_of(db, tag) == [db.scalar(select(Owner.id))]
