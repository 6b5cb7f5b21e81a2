"""Staff sign-in, sessions, password links, API tokens and the `flask staff` commands.

Each guard has a test here that fails when the guard is removed: CSRF on every form, a new
session on sign-in, lock-out per account and per address, single-use hashed reset links, the
same answer for unknown addresses, revoked tokens, disabled accounts, sign-out everywhere.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.core import outbox, staff
from app.core.audit import AuditEntry
from app.core.clock import now
from tests.admin.helpers import (
    BRAND_A,
    BRAND_B,
    PASSWORD,
    bearer,
    seed_brand,
    sign_in_as,
    staff_member,
)
from tests.factories import csrf, post_form, tagged_item

EMAIL = "lea@brand.example"


@pytest.fixture
def brand_a(db):  # type: ignore[no-untyped-def]
    return tagged_item(db, brand=BRAND_A, serial="AAA-0001").item.product.brand_id


def login(client, email: str = EMAIL, password: str = PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    client.get("/admin/login")
    return post_form(client, "/admin/login", {"email": email, "password": password, **extra})


def from_address(app, address: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def signed_in(client) -> bool:  # type: ignore[no-untyped-def]
    return client.get("/admin/").status_code == 200


# --- signing in ----------------------------------------------------------------------------------


def test_sign_in_starts_a_new_session_and_opens_the_brand_pages(app, db, brand_a):
    staff_member(db, brand_a, "service", EMAIL)
    client = app.test_client()
    page = client.get("/admin/")
    assert page.status_code == 401 and 'name="password"' in page.get_data(as_text=True)
    # A session planted before sign-in (fixation): none of it survives, the CSRF token is new.
    with client.session_transaction() as browser:
        browser["planted"] = "by someone else"
    client.get("/admin/login")
    before = csrf(client)
    answer = login(client, next="/admin/service")
    assert answer.status_code == 303 and answer.headers["Location"] == "/admin/service"
    with client.session_transaction() as browser:
        assert "planted" not in browser
        assert browser["csrf"] != before
    assert signed_in(client)


def test_wrong_password_and_unknown_address_get_the_same_answer(app, db, brand_a):
    staff_member(db, brand_a, "service", EMAIL)
    client = app.test_client()
    wrong = login(client, password="not the password at all")
    unknown = login(client, email="nobody@brand.example")
    assert wrong.status_code == unknown.status_code == 401
    assert "do not match an account" in wrong.get_data(as_text=True)
    assert "do not match an account" in unknown.get_data(as_text=True)
    assert not signed_in(client)


def test_next_never_leads_off_the_brand_side(app, db, brand_a):
    staff_member(db, brand_a, "service", EMAIL)
    for target in ("//evil.example/admin", "https://evil.example", "/\\evil.example", "/items"):
        answer = login(app.test_client(), next=target)
        assert answer.headers["Location"] == "/admin/", target


def test_login_logout_and_reset_forms_need_the_csrf_token(app, db, brand_a):
    staff_member(db, brand_a, "service", EMAIL)
    client = app.test_client()
    client.get("/admin/login")
    form = {"email": EMAIL, "password": PASSWORD}
    assert client.post("/admin/login", data=form).status_code == 400
    assert login(client).status_code == 303
    assert client.post("/admin/logout").status_code == 400
    assert signed_in(client)
    assert client.post("/admin/reset", data={"email": EMAIL}).status_code == 400
    token, _ = staff.issue_link(db, app.config, db.get_one(staff.StaffUser, 1), "reset", now())
    db.commit()
    assert client.post(f"/admin/password/{token}",
                       data={"password": "x" * 20, "confirm": "x" * 20}).status_code == 400
    assert staff.link_is_live(db, token, now())


def test_sign_out_ends_every_session_of_the_account(app, db, brand_a):
    staff_member(db, brand_a, "service", EMAIL)
    laptop, phone = app.test_client(), app.test_client()
    login(laptop)
    login(phone)
    copied = laptop.get_cookie("session").value
    assert post_form(laptop, "/admin/logout").status_code == 303
    assert not signed_in(laptop)
    # The cookie from before sign-out, replayed, and the other device: both signed out.
    laptop.set_cookie("session", copied)
    assert not signed_in(laptop)
    assert not signed_in(phone)


def test_a_session_expires(app, db, brand_a):
    user = staff_member(db, brand_a, "service", EMAIL)
    client = app.test_client()
    sign_in_as(client, user)
    assert signed_in(client)
    with client.session_transaction() as browser:
        browser["staff"] = {**browser["staff"], "at": browser["staff"]["at"] - 13 * 3600}
    assert not signed_in(client)


def test_a_disabled_account_is_signed_out_and_cannot_sign_in(app, db, runner, brand_a):
    user = staff_member(db, brand_a, "service", EMAIL)
    client = app.test_client()
    sign_in_as(client, user)
    assert signed_in(client)
    assert runner.invoke(args=["staff", "disable", EMAIL]).exit_code == 0
    assert not signed_in(client)
    assert login(app.test_client()).status_code == 401


# --- lock-out ------------------------------------------------------------------------------------


def test_repeated_failures_lock_the_account_even_for_the_right_password(app, db, brand_a):
    app.config["RATE_LIMITS"] = {**app.config["RATE_LIMITS"],
                                 "LOGIN_FAILURES_PER_ACCOUNT": "3 per 15 minutes"}
    staff_member(db, brand_a, "service", EMAIL)
    for n in range(3):
        # Each from its own address: the account is what is counted here.
        client = from_address(app, f"10.0.0.{n}")
        assert login(client, password="wrong password number").status_code == 401
    locked = login(from_address(app, "10.0.0.9"))
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    # Another account is not locked by this one's failures.
    staff_member(db, brand_a, "marketer", "other@brand.example")
    other = login(from_address(app, "10.0.0.8"),
                  email="other@brand.example")
    assert other.status_code == 303


def test_repeated_failures_lock_the_address_across_accounts(app, db, brand_a):
    app.config["RATE_LIMITS"] = {**app.config["RATE_LIMITS"],
                                 "LOGIN_FAILURES_PER_ADDRESS": "3 per 15 minutes"}
    staff_member(db, brand_a, "service", EMAIL)
    client = app.test_client()
    for n in range(3):
        assert login(client, email=f"guess{n}@brand.example").status_code == 401
    assert login(client).status_code == 429
    assert login(from_address(app, "10.9.9.9")).status_code == 303


def test_no_email_address_reaches_the_logs(app, db, brand_a, caplog):
    staff_member(db, brand_a, "service", EMAIL)
    with caplog.at_level(logging.DEBUG):
        client = app.test_client()
        login(client, password="wrong password here")
        login(client)
        post_form(client, "/admin/reset", {"email": EMAIL})
    assert EMAIL not in caplog.text


# --- password links ------------------------------------------------------------------------------


def test_password_reset_end_to_end_through_the_mail(app, db, brand_a, mailbox):
    staff_member(db, brand_a, "service", EMAIL)
    client = app.test_client()
    client.get("/admin/reset")
    answer = post_form(client, "/admin/reset", {"email": EMAIL.upper()})
    assert answer.status_code == 200 and "If that address has a staff account" in \
        answer.get_data(as_text=True)
    (message,) = mailbox.wait_for(1)
    assert message["To"] == EMAIL
    link = re.search(r"http://localhost(/admin/password/\S+)", message.get_content()).group(1)
    token = link.rsplit("/", 1)[1]
    # Stored hashed: the token itself is nowhere in the database.
    assert db.scalar(select(func.count()).select_from(staff.StaffLink)
                     .where(staff.StaffLink.token_hash == token)) == 0
    assert client.get(link).status_code == 200
    mismatch = post_form(client, link, {"password": "new password 1234", "confirm": "other one"})
    assert mismatch.status_code == 400
    done = post_form(client, link, {"password": "new password 1234",
                                    "confirm": "new password 1234"})
    assert done.status_code == 303
    # Single use: the same link again is dead, and the new password is the one that works.
    assert client.get(link).status_code == 404
    again = post_form(client, link, {"password": "third password 12", "confirm":
                                     "third password 12"})
    assert again.status_code == 404
    assert login(app.test_client(), password=PASSWORD).status_code == 401
    assert login(app.test_client(), password="new password 1234").status_code == 303


def test_reset_answers_the_same_for_an_unknown_address_and_mails_nothing(app, db, brand_a):
    staff_member(db, brand_a, "service", EMAIL)
    client = app.test_client()
    known = post_form(client, "/admin/reset", {"email": EMAIL}).get_data(as_text=True)
    unknown = post_form(client, "/admin/reset", {"email": "nobody@brand.example"})
    assert unknown.status_code == 200 and unknown.get_data(as_text=True) == known
    assert outbox.counts(db) == {"pending": 1}


def test_reset_requests_are_rate_limited_per_recipient(app, db, brand_a):
    staff_member(db, brand_a, "service", EMAIL)
    for n in range(3):
        client = from_address(app, f"10.1.0.{n}")
        assert post_form(client, "/admin/reset", {"email": EMAIL}).status_code == 200
    client = from_address(app, "10.1.0.9")
    assert post_form(client, "/admin/reset", {"email": EMAIL}).status_code == 429


def test_a_link_is_spent_once_and_expires(app, db, brand_a):
    user = staff_member(db, brand_a, "service", EMAIL)
    token, _ = staff.issue_link(db, app.config, user, staff.RESET_PASSWORD, now())
    db.commit()
    staff.use_link(db, token, "first new password", now())
    db.commit()
    with pytest.raises(staff.LinkNotValid):
        staff.use_link(db, token, "second new password", now())
    db.rollback()
    late, _ = staff.issue_link(db, app.config, user, staff.RESET_PASSWORD, now())
    db.commit()
    with pytest.raises(staff.LinkNotValid):
        staff.use_link(db, late, "second new password", now() + timedelta(minutes=31))
    db.rollback()
    short, _ = staff.issue_link(db, app.config, user, staff.RESET_PASSWORD, now())
    db.commit()
    with pytest.raises(staff.DomainError):
        staff.use_link(db, short, "too short", now())
    db.rollback()
    assert staff.link_is_live(db, short, now())


def test_a_new_password_ends_the_other_sessions(app, db, brand_a):
    user = staff_member(db, brand_a, "service", EMAIL)
    client = app.test_client()
    sign_in_as(client, user)
    token, _ = staff.issue_link(db, app.config, user, staff.RESET_PASSWORD, now())
    staff.use_link(db, token, "a brand new password", now())
    db.commit()
    assert not signed_in(client)


# --- API tokens ----------------------------------------------------------------------------------


def test_tokens_are_scoped_to_brand_and_role_and_a_revoked_one_gets_401(app, db, runner):
    own = seed_brand(app, db, BRAND_A, "AAA-0001")
    other = seed_brand(app, db, BRAND_B, "BBB-0001")
    made = runner.invoke(args=["staff", "token", "create", "--brand", BRAND_A, "--role", "till",
                               "--name", "Rivoli till"])
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    assert token.startswith("atk_")
    assert db.scalar(select(func.count()).select_from(staff.ApiToken)
                     .where(staff.ApiToken.token_hash == token)) == 0
    client = app.test_client()
    assert client.get(f"/admin/api/codes/{own.code}", headers=bearer(token)).status_code == 200
    assert client.get(f"/admin/api/codes/{other.code}", headers=bearer(token)).status_code == 404
    item = f"/admin/api/items/{own.gtin}/{own.serial}"
    assert client.get(item, headers=bearer(token)).status_code == 403
    redeemed = client.post(f"/admin/api/codes/{own.code}/redeem", json={"shop": "Rivoli"},
                           headers=bearer(token))
    assert redeemed.status_code == 200
    token_id = int(re.search(r"#(\d+)", made.output).group(1))
    assert db.scalar(select(AuditEntry.actor).where(AuditEntry.action == "reward_redeem")) == \
        f"token:{token_id}"
    assert runner.invoke(args=["staff", "token", "revoke", str(token_id)]).exit_code == 0
    revoked = client.get(f"/admin/api/codes/{own.code}", headers=bearer(token))
    assert revoked.status_code == 401
    assert client.get(f"/admin/api/codes/{own.code}",
                      headers=bearer("atk_made-up")).status_code == 401


def test_wrong_tokens_are_counted_like_wrong_passwords(app, db, brand_a):
    app.config["RATE_LIMITS"] = {**app.config["RATE_LIMITS"],
                                 "LOGIN_FAILURES_PER_ADDRESS": "3 per 15 minutes"}
    _token_id, token = staff.create_token(db, brand_a, "till", "till", now(), actor="test")
    db.commit()
    client = app.test_client()
    for n in range(3):
        assert client.get("/admin/api/codes/X", headers=bearer(f"atk_guess{n}")).status_code == 401
    assert client.get("/admin/api/codes/X", headers=bearer(token)).status_code == 429


# --- development passwords and a fresh install -----------------------------------------------


def test_development_passwords_can_be_refused(app, db, brand_a):
    import base64

    app.config["ADMIN_PASSWORD"] = "dev password"
    basic = {"Authorization": "Basic " + base64.b64encode(b"admin:dev password").decode()}
    client = app.test_client()
    assert client.get("/admin/", headers=basic).status_code == 200
    app.config["ALLOW_DEV_PASSWORDS"] = False
    staff_member(db, brand_a, "service", EMAIL)
    refused = client.get("/admin/", headers=basic)
    assert refused.status_code == 401 and "WWW-Authenticate" not in refused.headers


def test_a_fresh_install_has_no_brand_side_until_someone_can_sign_in(app, db, brand_a):
    client = app.test_client()
    assert client.get("/admin/").status_code == 404
    assert client.get("/admin/api/service-requests").status_code == 404
    staff_member(db, brand_a, "service", EMAIL, password=None)
    assert client.get("/admin/").status_code == 401
    assert client.get("/admin/api/service-requests").status_code == 401


# --- commands ------------------------------------------------------------------------------------


def test_staff_add_prints_a_one_time_link_and_list_and_disable(app, db, runner, brand_a):
    added = runner.invoke(args=["staff", "add", EMAIL, "--brand", BRAND_A, "--role", "marketer"])
    assert added.exit_code == 0, added.output
    link = re.search(r"http://localhost(/admin/password/\S+)", added.output).group(1)
    client = app.test_client()
    assert client.get(link).status_code == 200
    assert post_form(client, link, {"password": PASSWORD, "confirm": PASSWORD}).status_code == 303
    assert login(client).status_code == 303
    listed = runner.invoke(args=["staff", "list", "--brand", BRAND_A])
    assert f"{EMAIL}\t{BRAND_A}\tmarketer\tactive" in listed.output
    again = runner.invoke(args=["staff", "add", EMAIL, "--brand", BRAND_A, "--role", "till"])
    assert again.exit_code == 1 and "exists already" in again.output
    nobrand = runner.invoke(args=["staff", "add", "x@y.example", "--brand", "nope", "--role",
                                  "till"])
    assert nobrand.exit_code == 1 and "No brand" in nobrand.output
    assert runner.invoke(args=["staff", "disable", EMAIL]).exit_code == 0
    assert "disabled" in runner.invoke(args=["staff", "list"]).output
    actions = set(db.scalars(select(AuditEntry.action).where(AuditEntry.actor == "cli")))
    assert actions == {"staff_add", "staff_disable"}


def test_staff_add_send_mails_the_link_through_the_outbox(app, db, runner, brand_a, mailbox):
    sent = runner.invoke(args=["staff", "add", EMAIL, "--brand", BRAND_A, "--role", "service",
                               "--send"])
    assert sent.exit_code == 0 and "/admin/password/" not in sent.output
    (message,) = mailbox.wait_for(1)
    assert message["To"] == EMAIL and "/admin/password/" in message.get_content()
    assert "after-sales service" in message.get_content()


def test_token_list_never_shows_a_token(app, db, runner, brand_a):
    made = runner.invoke(args=["staff", "token", "create", "--brand", BRAND_A, "--role",
                               "service", "--name", "CRM"])
    token = made.output.strip().splitlines()[-1]
    listed = runner.invoke(args=["staff", "token", "list"])
    assert "CRM\tservice\tlive" in listed.output and token not in listed.output
    db.execute(update(staff.ApiToken).values(revoked_at=now()))
    db.commit()
    assert "revoked" in runner.invoke(args=["staff", "token", "list"]).output


def test_bad_input_to_the_staff_commands_is_one_line_each(app, db, runner, brand_a):
    cases = [
        (["staff", "add", "not-an-address", "--brand", BRAND_A, "--role", "till"],
         "valid email address"),
        (["staff", "disable", "nobody@brand.example"], "No staff account"),
        (["staff", "list", "--brand", "nope"], "No brand"),
        (["staff", "token", "create", "--brand", "nope", "--role", "till", "--name", "x"],
         "No brand"),
        (["staff", "token", "create", "--brand", BRAND_A, "--role", "till", "--name", " "],
         "Name the token"),
        (["staff", "token", "revoke", "999"], "No API token 999"),
        (["staff", "token", "list", "--brand", "nope"], "No brand"),
        (["staff", "add", "a@b.example", "--brand", BRAND_A, "--role", "owner"], "Invalid value"),
    ]
    for args, message in cases:
        result = runner.invoke(args=args)
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    made = runner.invoke(args=["staff", "token", "create", "--brand", BRAND_A, "--role", "till",
                               "--name", "till"])
    token_id = re.search(r"#(\d+)", made.output).group(1)
    assert "revoked" in runner.invoke(args=["staff", "token", "revoke", token_id]).output
    assert "already" in runner.invoke(args=["staff", "token", "revoke", token_id]).output
    with pytest.raises(staff.DomainError):
        staff.check_role("owner")
    assert staff.reset_target(db, "no address") is None
    assert staff.authenticate(db, "no address", PASSWORD) is None


def test_the_all_brands_admin_picks_a_brand_and_an_unknown_one_is_404(app, db, brand_a):
    import base64

    app.config["ADMIN_PASSWORD"] = "dev password"
    basic = {"Authorization": "Basic " + base64.b64encode(b"admin:dev password").decode()}
    client = app.test_client()
    assert client.get(f"/admin/stolen?brand={BRAND_A}", headers=basic).status_code == 200
    assert client.get("/admin/stolen?brand=nope", headers=basic).status_code == 404
    assert client.get("/admin/rulesets", headers=basic).status_code == 200
    wrong = {"Authorization": "Basic " + base64.b64encode(b"admin:wrong").decode()}
    assert client.get("/admin/", headers=wrong).status_code == 401
