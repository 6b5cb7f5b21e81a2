"""Rate limits: the Basic-auth lock-out, the 429 shapes, keys without personal data, Redis.

Each door's own limit is tested beside its package (tests/tap, tests/rewards, tests/ownership).
"""

from __future__ import annotations

import base64
import os
import uuid

import pytest
from sqlalchemy.orm import Session

from app import create_app
from app.core.db import make_engine
from app.core.limits import limiter
from tests.conftest import IN_CI
from tests.factories import item_path, post_form, tagged_item, tap_url
from tests.ownership.helpers import owned

CODES = "/admin/api/codes/NOSUCHCODE"
JSON = {"Accept": "application/json"}


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def from_address(address: str) -> dict[str, object]:
    return {"environ_base": {"REMOTE_ADDR": address}}


@pytest.fixture
def admin_app(app):  # type: ignore[no-untyped-def]
    app.config.update(ADMIN_PASSWORD="right-password", TILL_PASSWORD="till-password")
    return app


def test_after_too_many_wrong_passwords_the_right_one_waits_too(admin_app, client):
    admin_app.config["RATE_LIMITS"] = {"LOGIN_FAILURES_PER_ADDRESS": "3 per 15 minutes"}
    # The right password works before any failure (the code is unknown: 404, not 401).
    assert client.get(CODES, headers=basic("admin", "right-password")).status_code == 404
    for _ in range(3):
        assert client.get(CODES, headers=basic("admin", "guess")).status_code == 401
    locked = client.get(CODES, headers={**basic("admin", "right-password"), **JSON})
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    body = locked.get_json()
    assert body["error"] == "rate_limited"
    assert body["retry_after"] == int(locked.headers["Retry-After"])
    # Another address is not locked out by this one's failures.
    other = client.get(CODES, headers=basic("admin", "right-password"), **from_address("10.0.0.9"))
    assert other.status_code == 404


def test_failures_count_per_account_across_addresses(admin_app, client):
    admin_app.config["RATE_LIMITS"] = {"LOGIN_FAILURES_PER_ACCOUNT": "4 per 15 minutes"}
    for n in range(4):
        wrong = client.get(CODES, headers=basic("admin", "guess"), **from_address(f"10.0.1.{n}"))
        assert wrong.status_code == 401
    fresh = client.get(CODES, headers=basic("admin", "right-password"),
                       **from_address("10.0.2.1"))
    assert fresh.status_code == 429
    # The till is another account: its password still works from a fresh address.
    till = client.get(CODES, headers=basic("till", "till-password"), **from_address("10.0.2.2"))
    assert till.status_code == 404


def test_admin_pages_lock_out_as_a_human_page(admin_app, client):
    admin_app.config["RATE_LIMITS"] = {"LOGIN_FAILURES_PER_ADDRESS": "2 per 15 minutes"}
    for _ in range(2):
        assert client.get("/admin/preview", headers=basic("admin", "guess")).status_code == 401
    page = client.get("/admin/preview", headers=basic("admin", "right-password"))
    assert page.status_code == 429
    assert page.mimetype == "text/html"
    assert int(page.headers["Retry-After"]) > 0
    assert "Too many requests" in page.get_data(as_text=True)


def test_asking_for_the_password_prompt_is_not_a_failure(admin_app, client):
    # A browser's first request carries no credentials: it only fetches the Basic prompt.
    admin_app.config["RATE_LIMITS"] = {"LOGIN_FAILURES_PER_ADDRESS": "2 per 15 minutes"}
    for _ in range(5):
        assert client.get(CODES).status_code == 401
    assert client.get(CODES, headers=basic("admin", "right-password")).status_code == 404


def _storage_keys() -> list[str]:
    return [str(key) for key in limiter.storage.storage]  # type: ignore[attr-defined]


def test_keys_hold_no_typed_username_in_clear(admin_app, client):
    # A username is whatever someone typed, e.g. their email address.
    assert client.get(CODES, headers=basic("ana@example.com", "pw")).status_code == 401
    keys = _storage_keys()
    assert keys, "the failure was not counted"
    assert not any("ana" in key or "example.com" in key for key in keys)
    assert any("account:" in key for key in keys)


# --- Redis --------------------------------------------------------------------------------------

REDIS_URL = os.environ.get("AFTERTAP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_client():  # type: ignore[no-untyped-def]
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        message = f"Redis is not reachable at {REDIS_URL} ({type(exc).__name__})"
        if IN_CI:
            pytest.fail(f"{message}; CI requires it", pytrace=False)
        pytest.skip(f"{message}; set AFTERTAP_TEST_REDIS_URL to run this test")
    yield client
    client.close()


def test_limits_hold_in_redis_with_nothing_personal_in_keys(settings, redis_client):
    prefix = f"aftertap-test-{uuid.uuid4().hex}"
    app = create_app({
        **settings,
        "RATE_LIMIT_STORAGE": REDIS_URL,
        "RATE_LIMIT_KEY_PREFIX": prefix,
        "ADMIN_PASSWORD": "right-password",
        "RATE_LIMITS": {"LOGIN_FAILURES_PER_ADDRESS": "2 per 15 minutes"},
    })
    client = app.test_client()
    try:
        assert client.get(CODES, headers=basic("ana@example.com", "pw")).status_code == 401
        assert client.get(CODES, headers=basic("admin", "guess")).status_code == 401
        locked = client.get(CODES, headers={**basic("admin", "right-password"), **JSON})
        assert locked.status_code == 429
        assert locked.get_json()["error"] == "rate_limited"
        assert int(locked.headers["Retry-After"]) > 0
        keys = [key.decode() for key in redis_client.scan_iter(f"{prefix}*")]
        assert keys, "nothing was counted in Redis"
        assert not any("ana" in key or "example.com" in key for key in keys)
    finally:
        for key in redis_client.scan_iter(f"{prefix}*"):
            redis_client.delete(key)
        app.extensions["aftertap.db"].engine.dispose()



def test_an_unreachable_storage_never_turns_a_request_into_a_500(settings, keyring, caplog):
    # Nothing listens on port 1: every call to the storage fails at once.
    app = create_app({
        **settings,
        "RATE_LIMIT_STORAGE": "redis://127.0.0.1:1/0",
        "ADMIN_PASSWORD": "right-password",
        "RATE_LIMITS": {"TAP_PER_ADDRESS": "2 per minute"},
    })
    client = app.test_client()
    engine = make_engine(app.config["DATABASE_URL"], sqlite_begin=None)
    try:
        # Logins fail open (the admin must still get in), and the log says why.
        assert client.get(CODES, headers=basic("admin", "right-password")).status_code == 404
        assert "rate limit storage unavailable" in caplog.text
        with Session(engine, expire_on_commit=False) as db:
            tag = tagged_item(db)
            statuses = [client.get(tap_url(db, keyring, tag)).status_code for _ in range(3)]
        # The taps are still limited, counted in this process's memory meanwhile.
        assert statuses == [200, 200, 429]
    finally:
        engine.dispose()
        app.extensions["aftertap.db"].engine.dispose()


def test_a_locked_out_login_is_told_how_long_the_window_still_runs(admin_app, client):
    # Locked for a 15-minute window: Retry-After says the minutes left, not a generic minute.
    admin_app.config["RATE_LIMITS"] = {"LOGIN_FAILURES_PER_ADDRESS": "1 per 15 minutes"}
    assert client.get(CODES, headers=basic("admin", "guess")).status_code == 401
    locked = client.get(CODES, headers=basic("admin", "right-password"))
    assert locked.status_code == 429
    assert 14 * 60 < int(locked.headers["Retry-After"]) <= 15 * 60


def test_one_owners_confirmation_emails_do_not_use_up_anothers(app, db, keyring):
    # CONFIRM_EMAIL_PER_OWNER counts per owner cookie: a neighbour's allowance is their own.
    app.config["RATE_LIMITS"] = {"CONFIRM_EMAIL_PER_OWNER": "1 per hour"}
    (mine, me), (theirs, them) = owned(app, db, keyring), owned(app, db, keyring)

    def ask(phone, tag, address):  # type: ignore[no-untyped-def]
        return post_form(phone, item_path(tag, "email"), {"email": address})

    assert ask(me, mine, "me@example.com").status_code == 200
    refused = ask(me, mine, "me.again@example.com")
    assert refused.status_code == 429
    # An hour's window: Retry-After is the time left in it, not a generic minute.
    assert 59 * 60 < int(refused.headers["Retry-After"]) <= 60 * 60
    assert ask(them, theirs, "them@example.com").status_code == 200
