"""The till's code API is rate limited per address and per till account (code guessing)."""

from __future__ import annotations

import base64

import pytest

TILL = {"Authorization": "Basic " + base64.b64encode(b"till:till-pw").decode(),
        "Accept": "application/json"}


@pytest.fixture
def till(app):  # type: ignore[no-untyped-def]
    app.config.update(TILL_PASSWORD="till-pw")
    return app.test_client()


def test_code_guesses_past_the_limit_answer_429(app, till):
    app.config["RATE_LIMITS"] = {"TILL_PER_ADDRESS": "3 per minute"}
    for n in range(2):
        assert till.get(f"/admin/api/codes/GUESS{n}", headers=TILL).status_code == 404
    # Redeeming counts too: checks and redeems share one allowance.
    redeem = till.post("/admin/api/codes/GUESS9/redeem", json={"shop": "Rivoli"}, headers=TILL)
    assert redeem.status_code == 404
    refused = till.get("/admin/api/codes/GUESS3", headers=TILL)
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "rate_limited"
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    # Another till, elsewhere, is not held up by this one.
    other = till.get("/admin/api/codes/GUESS4", headers=TILL,
                     environ_base={"REMOTE_ADDR": "10.2.0.1"})
    assert other.status_code == 404


def test_the_till_account_has_its_own_limit_across_addresses(app, till):
    app.config["RATE_LIMITS"] = {"TILL_PER_ACCOUNT": "3 per minute"}
    for n in range(3):
        checked = till.get(f"/admin/api/codes/GUESS{n}", headers=TILL,
                           environ_base={"REMOTE_ADDR": f"10.3.0.{n}"})
        assert checked.status_code == 404
    refused = till.get("/admin/api/codes/GUESS9", headers=TILL,
                       environ_base={"REMOTE_ADDR": "10.3.1.1"})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0


def test_points_debits_share_the_tills_allowance(app, till):
    """Debiting points by serial is a costly door too (serial guessing, draining balances)."""
    app.config["RATE_LIMITS"] = {"TILL_PER_ADDRESS": "2 per minute"}
    for n in range(2):
        debit = till.post(f"/admin/api/items/0000000000000/NOSUCH{n}/points/debit",
                          json={"points": 10, "reference": "R-1"}, headers=TILL)
        assert debit.status_code == 404
    refused = till.post("/admin/api/items/0000000000000/NOSUCH9/points/debit",
                        json={"points": 10, "reference": "R-1"}, headers=TILL)
    assert refused.status_code == 429
