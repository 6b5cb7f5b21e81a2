"""The tap routes' rate limit: per address, shared by ``/t`` and ``/01/<gtin>/21/<serial>``."""

from __future__ import annotations

from tests.factories import JSON_ACCEPT, tagged_item, tap, tap_url


def test_taps_past_the_limit_answer_429_per_address(app, db, keyring):
    app.config["RATE_LIMITS"] = {"TAP_PER_ADDRESS": "3 per minute"}
    tag = tagged_item(db)
    phone = app.test_client()
    for _ in range(3):
        assert tap(phone, db, keyring, tag).status_code == 200
    refused = tap(phone, db, keyring, tag, as_json=True)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.get_json()["error"] == "rate_limited"
    page = tap(phone, db, keyring, tag)
    assert page.status_code == 429 and page.mimetype == "text/html"
    # Another shop's phone, at another address, still taps.
    other = app.test_client()
    fresh = other.get(tap_url(db, keyring, tag), environ_base={"REMOTE_ADDR": "10.1.0.1"})
    assert fresh.status_code == 200


def test_both_tap_forms_share_one_allowance(app, db, keyring):
    app.config["RATE_LIMITS"] = {"TAP_PER_ADDRESS": "2 per minute"}
    tag = tagged_item(db)
    phone = app.test_client()
    assert tap(phone, db, keyring, tag).status_code == 200
    assert phone.get("/t?picc_data=00&cmac=00").status_code == 400
    link = f"/01/{tag.item.product.gtin}/21/{tag.item.serial}"
    assert phone.get(link, headers=JSON_ACCEPT).status_code == 429


def test_the_default_lets_a_shop_demo_tap_fast(app, db, keyring):
    tag = tagged_item(db)
    phone = app.test_client()
    statuses = {tap(phone, db, keyring, tag).status_code for _ in range(40)}
    assert statuses == {200}
