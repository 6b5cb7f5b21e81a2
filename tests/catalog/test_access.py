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


def test_without_a_tap_or_as_a_visitor_the_refusal_says_which(app, db, keyring):
    # The two refusals tell a person what to do: tap again, or that only the owner can act.
    tag = tagged_item(db)
    owner_phone, visitor = app.test_client(), app.test_client()
    tap(owner_phone, db, keyring, tag)  # claims
    assert owner_phone.get(item_path(tag, "owner")).status_code == 200  # comes back: confirmed

    no_tap = visitor.get(item_path(tag, "owner"))
    assert no_tap.status_code == 403
    assert ("Hold your phone to the product again to do this. For your security, actions only "
            "work for a few minutes after a tap, on the phone that tapped.") in no_tap.get_data(
                as_text=True)
    tap(visitor, db, keyring, tag)
    not_owner = post_form(visitor, item_path(tag, "transfer"))
    assert not_owner.status_code == 403
    assert "Only the registered owner of this item can do this." in not_owner.get_data(
        as_text=True)


def test_erasing_takes_the_credentials_off_this_browser(app, db, keyring):
    # After "erase my data", the phone holds neither the owner cookie nor a live tap session: the
    # cookie is deleted with the attributes it was set with, and acting again needs a new tap.
    tag = tagged_item(db)
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    assert phone.get(item_path(tag, "owner")).status_code == 200

    erased = post_form(phone, item_path(tag, "erase"), {"confirm": "yes"})

    assert erased.status_code == 200
    (deleted,) = [c for c in erased.headers.getlist("Set-Cookie")
                  if c.startswith(f"{OWNER_COOKIE}=")]
    attributes = {part.strip() for part in deleted.split(";")}
    assert {f"{OWNER_COOKIE}=", "Max-Age=0", "HttpOnly", "Path=/", "SameSite=Lax"} <= attributes
    assert phone.get_cookie(OWNER_COOKIE) is None
    with phone.session_transaction() as browser:
        assert str(tag.item_id) not in browser.get("taps", {})
    again = phone.get(item_path(tag, "owner"))
    assert again.status_code == 403
    assert "Hold your phone to the product again" in again.get_data(as_text=True)


def test_a_browser_keeps_tap_sessions_for_its_last_eight_items(app, db, keyring):
    # A shop assistant taps nine items in a row: the first one's session is dropped, the other
    # eight stay live (the session cookie stays small).
    tags = [tagged_item(db, released=None) for _ in range(9)]
    phone = app.test_client()
    for tag in tags:
        assert tap(phone, db, keyring, tag).status_code == 200
    with phone.session_transaction() as browser:
        live = set(browser["taps"])
    assert live == {str(tag.item_id) for tag in tags[1:]}


def test_an_owner_cookie_signed_with_the_app_secret_is_that_owner(app, db, keyring):
    # Cookies are signed with the app secret and the "aftertap.owner" salt; an owner keeps the
    # item across releases only if that stays so.
    tag = tagged_item(db)
    owner_phone = app.test_client()
    tap(owner_phone, db, keyring, tag)
    assert owner_phone.get(item_path(tag, "owner")).status_code == 200
    public_id = db.scalar(select(Owner.public_id))
    cookie = URLSafeSerializer(app.config["SECRET_KEY"], salt="aftertap.owner").dumps(public_id)
    assert cookie == owner_phone.get_cookie(OWNER_COOKIE).value
