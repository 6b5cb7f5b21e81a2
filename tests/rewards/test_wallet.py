"""The owner's wallet: won codes and unrevealed gifts on the owner page, the points catalogue
(spend, stock, budget, races), and the till taking points as payment (per brand)."""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.catalog.models import Ownership
from app.core.clock import now
from app.rewards import wallet
from app.rewards.ledger import EARN, InsufficientPoints, balance, ledger, post_entry
from app.rewards.models import RewardPool, RewardPrize
from app.rules.service import RulesetError as RulesetInvalid
from app.rules.service import parse_ruleset
from tests.factories import age_ownership, item_path, post_form, tagged_item, tap
from tests.rewards.helpers import BRAND, T0, owner

JSON = {"Accept": "application/json"}
CATALOGUE = """brand: maison-aurelia
journeys:
  - {id: all, priority: 0, when: {}, experience: care}
points:
  worth: 100 points = 5 EUR
  catalogue:
    - {id: kit, label: Care kit, cost: 100, code: generated, stock: 3, expires: 30d}
    - {id: capped, label: Capped, cost: 10, code: generated, budget: 1}
    - {id: listed, label: From a list, cost: 10, code: {list: none-imported}}
"""


def doc():  # type: ignore[no-untyped-def]
    return parse_ruleset(CATALOGUE, "test.yaml").doc


def problems(text: str) -> str:
    with pytest.raises(RulesetInvalid) as err:
        parse_ruleset(CATALOGUE.replace("    - {id: kit, label: Care kit, cost: 100, code: "
                                        "generated, stock: 3, expires: 30d}", text), "t.yaml")
    return str(err.value)


def test_the_catalogue_and_worth_are_read_and_checked():
    points = doc().points
    assert points.worth is not None and points.worth.value_of(250) == "12.50 EUR"
    assert [i.id for i in points.catalogue] == ["kit", "capped", "listed"]
    assert "'cost' cannot be less than 1" in problems(
        "    - {id: kit, label: Kit, cost: 0, code: generated}")
    assert "'label' is required" in problems("    - {id: kit, cost: 5, code: generated}")
    assert "'code' must be generated or {list: NAME}" in problems(
        "    - {id: kit, label: Kit, cost: 5, code: coupon}")
    assert "'code' is required" in problems("    - {id: kit, label: Kit, cost: 5}")
    with pytest.raises(RulesetInvalid, match="'worth' must be like"):
        parse_ruleset(CATALOGUE.replace("100 points = 5 EUR", "lots"), "t.yaml")


def test_spending_takes_points_stock_and_gives_a_code(db):
    me, item = owner(db), tagged_item(db).item_id
    post_entry(db, me, EARN, 250, "admin", "gift", T0, brand=BRAND)
    view = wallet.spend(db, doc(), BRAND, me, item, "kit", T0)
    db.commit()
    assert view.code and view.expires_at == T0 + timedelta(days=30)
    assert balance(db, me, BRAND) == 150
    assert ledger(db, me)[-1].points == -100 and ledger(db, me)[-1].cause_type == "catalogue"


def test_short_of_points_changes_nothing(db):
    me, item = owner(db), tagged_item(db).item_id
    post_entry(db, me, EARN, 99, "admin", "gift", T0, brand=BRAND)
    db.commit()
    with pytest.raises(InsufficientPoints):
        wallet.spend(db, doc(), BRAND, me, item, "kit", T0)
    db.commit()
    assert balance(db, me, BRAND) == 99 and len(ledger(db, me)) == 1
    assert db.scalar(select(RewardPrize.given).where(RewardPrize.prize_id == "kit")) == 0


def test_budget_and_empty_code_list_refuse_and_refund(db):
    me, item = owner(db), tagged_item(db).item_id
    post_entry(db, me, EARN, 100, "admin", "gift", T0, brand=BRAND)
    wallet.spend(db, doc(), BRAND, me, item, "capped", T0)
    db.commit()
    with pytest.raises(wallet.SoldOut):
        wallet.spend(db, doc(), BRAND, me, item, "capped", T0)
    with pytest.raises(wallet.SoldOut):
        wallet.spend(db, doc(), BRAND, me, item, "listed", T0)
    db.commit()
    assert balance(db, me, BRAND) == 90
    capped = select(RewardPool.given).where(RewardPool.reward_id == "catalogue:capped")
    assert db.scalar(capped) == 1


def test_parallel_spends_exactly_k_succeed(app, db):
    if db.bind.dialect.name != "postgresql":
        pytest.skip("the race needs concurrent writers (PostgreSQL)")
    owners = [owner(db) for _ in range(4)]
    item = tagged_item(db).item_id
    for o in owners:  # 250 points each: two spends of 100, so at most 8 of 20 tries
        post_entry(db, o, EARN, 250, "admin", "gift", T0, brand=BRAND)
    db.commit()
    database = app.extensions["aftertap.db"]
    start = threading.Event()
    ruleset = doc()

    def attempt(o: int) -> bool:
        start.wait()
        with database.writer(), database.sessionmaker() as s:
            try:
                wallet.spend(s, ruleset, BRAND, o, item, "kit", T0)
            except (InsufficientPoints, wallet.SoldOut):
                s.rollback()
                return False
            s.commit()
            return True

    with ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(attempt, owners[n % 4]) for n in range(20)]
        start.set()
        won = sum(f.result() for f in futures)
    db.expire_all()
    assert won == 3  # the stock of 3 binds before the balances do
    assert db.scalar(select(RewardPrize.given).where(RewardPrize.prize_id == "kit")) == 3
    assert all(balance(db, o, BRAND) >= 0 for o in owners)
    assert sum(250 - balance(db, o, BRAND) for o in owners) == 300


def _owner_of(db, tag) -> int:  # type: ignore[no-untyped-def]
    db.expire_all()
    return db.scalar(select(Ownership.owner_id).where(Ownership.item_id == tag.item_id,
                                                     Ownership.ended_at.is_(None)))


def test_a_won_code_stays_on_the_owner_page_and_a_spend_from_it(app, db, keyring):
    # Day 80 of a serum: the refill scratch card, whose prizes carry a code.
    tag = tagged_item(db, category="serum")
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    age_ownership(db, tag, 80)
    body = tap(phone, db, keyring, tag, as_json=True).get_json()
    link = body["reward"]["reveal"]
    owner_page = item_path(tag, "owner")
    # Not revealed yet: the gift waits in the wallet with its link.
    assert link in phone.get(owner_page).get_data(as_text=True)
    won = post_form(phone, link + "/reveal", headers=JSON).get_json()
    tap(phone, db, keyring, tag)  # a later tap page no longer shows the reward
    page = phone.get(owner_page).get_data(as_text=True)
    assert won["code"] in page and "use by" in page and link not in page
    # The demo catalogue: 100 welcome points are short of the 150-point samples.
    assert "You need 50 more points" in page and "worth €5.00" in page
    short = post_form(phone, item_path(tag, "points/sample-trio"), headers=JSON)
    assert short.status_code == 409 and "not enough points" in short.get_json()["message"]
    me = _owner_of(db, tag)
    post_entry(db, me, EARN, 100, "admin", "gift", T0, brand=BRAND)
    db.commit()
    bought = post_form(phone, item_path(tag, "points/sample-trio"), headers=JSON)
    assert bought.status_code == 201
    assert bought.get_json()["code"] in phone.get(owner_page).get_data(as_text=True)
    # Another phone, even with the item in hand, cannot spend the owner's points.
    other = app.test_client()
    tap(other, db, keyring, tag)
    assert post_form(other, item_path(tag, "points/sample-trio")).status_code == 403
    assert balance(db, me, BRAND) == 50


def test_an_unrevealed_gift_leaves_the_wallet_when_it_expires(app, db, keyring):
    tag = tagged_item(db, category="serum")
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    age_ownership(db, tag, 80)
    body = tap(phone, db, keyring, tag, as_json=True).get_json()
    me = _owner_of(db, tag)
    at = now()
    waiting = wallet.wallet(db, None, BRAND, me, at).waiting
    assert len(waiting) == 1 and body["reward"]["reveal"].endswith(waiting[0][0].token)
    # The refill card's reward expires after 14 days.
    assert wallet.wallet(db, None, BRAND, me, at + timedelta(days=13)).waiting
    assert wallet.wallet(db, None, BRAND, me, at + timedelta(days=15)).waiting == []


TILL = {"Authorization": "Basic " + base64.b64encode(b"till:shop-secret").decode()}


def test_the_till_takes_points_as_payment_once_refused_when_short(app, db, keyring):
    app.config.update(TILL_PASSWORD="shop-secret", ADMIN_PASSWORD="admin-secret")
    tag = tagged_item(db)
    tap(app.test_client(), db, keyring, tag)  # unboxing: 100 welcome points
    me = _owner_of(db, tag)
    url = f"/admin/api/items/{tag.item.product.gtin}/{tag.item.serial}/points/debit"
    client = app.test_client()
    assert client.post(url, json={"points": 40, "reference": "R1"}).status_code == 401
    assert client.post(url, json={"points": 0, "reference": "R1"}, headers=TILL).status_code == 400
    assert client.post(url, json={"points": 40}, headers=TILL).status_code == 400
    paid = client.post(url, json={"points": 40, "reference": "R1"}, headers=TILL)
    assert paid.status_code == 200 and paid.get_json()["balance"] == 60
    short = client.post(url, json={"points": 61, "reference": "R2"}, headers=TILL)
    assert short.status_code == 409
    assert balance(db, me, BRAND) == 60 and ledger(db, me)[-1].cause_type == "till"
