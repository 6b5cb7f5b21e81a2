"""Points are kept per owner and brand: points earned with one brand are neither shown nor spent
by another brand's wallet, catalogue or till; the migration that split the old single balance."""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from app.catalog.models import Ownership
from app.core.db import make_engine
from app.core.migrate import downgrade, upgrade
from app.rewards import wallet
from app.rewards.ledger import EARN, InsufficientPoints, balance, balances, ledger, post_entry
from app.rewards.models import LoyaltyAccount, LoyaltyEntry, RewardGrant
from app.rules.service import parse_ruleset
from tests.factories import tagged_item
from tests.rewards.helpers import T0, owner

A, B = "maison-aurelia", "other-brand"
TILL = {"Authorization": "Basic " + base64.b64encode(b"till:shop-secret").decode(),
        "Accept": "application/json"}


def catalogue(brand: str, stock: str = "stock: 50"):  # type: ignore[no-untyped-def]
    return parse_ruleset(f"""brand: {brand}
journeys:
  - {{id: all, priority: 0, when: {{}}, experience: care}}
points:
  catalogue:
    - {{id: kit, label: Care kit, cost: 100, code: generated, {stock}}}
""", "test.yaml").doc


def _own(db, owner_id: int, item_id: int) -> None:  # type: ignore[no-untyped-def]
    db.add(Ownership(item_id=item_id, owner_id=owner_id, ordinal=1, began_by="confirmed",
                     started_at=T0, confirmed_at=T0))
    db.commit()


def test_points_of_brand_a_are_not_in_brand_bs_wallet_nor_spent_in_its_catalogue(db):
    me = owner(db)
    item_b = tagged_item(db, brand=B, serial="B-1").item_id
    post_entry(db, me, EARN, 250, "admin", "gift", T0, brand=A)
    db.commit()
    assert wallet.wallet(db, catalogue(B), B, me, T0).points == 0
    assert wallet.wallet(db, catalogue(A), A, me, T0).points == 250
    [line] = wallet.wallet(db, catalogue(B), B, me, T0).catalogue
    assert not line.available
    with pytest.raises(InsufficientPoints):
        wallet.spend(db, catalogue(B), B, me, item_b, "kit", T0)
    db.rollback()
    assert balances(db, me) == {A: 250} and len(ledger(db, me)) == 1
    # With points of its own, B's catalogue takes them and leaves A's alone.
    post_entry(db, me, EARN, 100, "admin", "gift", T0, brand=B)
    bought = wallet.spend(db, catalogue(B), B, me, item_b, "kit", T0)
    db.commit()
    assert bought.code and balances(db, me) == {A: 250, B: 0}
    # The grant names the ledger line that paid for it, not a message.
    grant = db.scalars(select(RewardGrant).where(RewardGrant.id == bought.id)).one()
    assert grant.message_key is None
    assert grant.ledger_entry_id == ledger(db, me, B)[-1].id


def test_brand_bs_till_cannot_take_brand_as_points(app, db):
    app.config.update(TILL_PASSWORD="shop-secret", ADMIN_PASSWORD="admin-secret")
    me = owner(db)
    tag_b = tagged_item(db, brand=B, serial="B-2")
    _own(db, me, tag_b.item_id)
    post_entry(db, me, EARN, 500, "admin", "gift", T0, brand=A)
    post_entry(db, me, EARN, 30, "admin", "gift", T0, brand=B)
    db.commit()
    url = f"/admin/api/items/{tag_b.item.product.gtin}/{tag_b.item.serial}/points/debit"
    client = app.test_client()
    short = client.post(url, json={"points": 31, "reference": "R1"}, headers=TILL)
    assert short.status_code == 409, short.get_data(as_text=True)
    assert "insufficient_points" in short.get_data(as_text=True)
    paid = client.post(url, json={"points": 30, "reference": "R2"}, headers=TILL)
    assert paid.status_code == 200 and paid.get_json()["balance"] == 0
    db.expire_all()
    assert balance(db, me, A) == 500 and balance(db, me, B) == 0
    assert [(e.brand, e.points) for e in ledger(db, me, B)] == [(B, 30), (B, -30)]


def test_racing_spends_take_only_that_brands_points(app, db):
    if db.bind.dialect.name != "postgresql":
        pytest.skip("the race needs concurrent writers (PostgreSQL)")
    me = owner(db)
    item = tagged_item(db).item_id
    post_entry(db, me, EARN, 250, "admin", "gift", T0, brand=A)
    post_entry(db, me, EARN, 10_000, "admin", "gift", T0, brand=B)
    db.commit()
    database = app.extensions["aftertap.db"]
    start = threading.Event()
    doc = catalogue(A, "stock: 50")

    def attempt(_: int) -> bool:
        start.wait()
        with database.writer(), database.sessionmaker() as s:
            try:
                wallet.spend(s, doc, A, me, item, "kit", T0)
            except InsufficientPoints:
                s.rollback()
                return False
            s.commit()
            return True

    with ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(attempt, n) for n in range(20)]
        start.set()
        won = sum(f.result() for f in futures)
    db.expire_all()
    assert won == 2  # 250 points with A buy two kits of 100, whatever B holds
    assert balances(db, me) == {A: 50, B: 10_000}
    assert sum(e.points for e in ledger(db, me, A)) == 50


def test_the_migration_splits_the_old_single_balance_by_brand(app, db, database_url):
    me = owner(db)
    item_a = tagged_item(db, serial="A-9").item_id
    item_b = tagged_item(db, brand=B, serial="B-9").item_id
    _own(db, me, item_a)
    db.close()
    downgrade(database_url, "0017")
    engine = make_engine(database_url)
    at = T0.isoformat() if database_url.startswith("sqlite") else T0
    try:
        with engine.begin() as conn:
            def line(kind: str, points: int, after: int, cause: str, cause_id: str,
                     brand: str | None) -> int:
                return int(conn.execute(text(
                    "INSERT INTO loyalty_entries (owner_id, at, kind, points, balance_after, "
                    "cause_type, cause_id, brand) VALUES (:o, :at, :k, :p, :a, :c, :ci, :b) "
                    "RETURNING id"), {"o": me, "at": at, "k": kind, "p": points, "a": after,
                                      "c": cause, "ci": cause_id, "b": brand}).scalar_one())
            # The old world: one balance across brands, behaviour lines without a brand, and
            # brand B's till paid partly with brand A's points (the defect).
            line("earn", 100, 100, "take_back", str(item_a), None)
            line("earn", 50, 150, "take_back", str(item_b), None)
            till = line("spend", -120, 30, "till", "R1", B)
            paid = line("spend", -10, 20, "catalogue", "kit", A)
            conn.execute(text("INSERT INTO loyalty_accounts (owner_id, balance, updated_at) "
                              "VALUES (:o, 20, :at)"), {"o": me, "at": at})
            pool = conn.execute(text(
                "INSERT INTO reward_pools (brand, reward_id, mechanic, given) "
                "VALUES (:b, 'catalogue:kit', 'catalogue', 1) RETURNING id"), {"b": A}).scalar()
            conn.execute(text(
                "INSERT INTO reward_grants (pool_id, message_key, owner_id, item_id, journey, "
                "token, created_at, outcome, points) VALUES (:pool, :key, :o, :i, 'catalogue', "
                "'tok-0018', :at, 'prize', 0)"),
                {"pool": pool, "key": f"catalogue:{paid}", "o": me, "i": item_a, "at": at})
    finally:
        engine.dispose()
    upgrade(database_url)
    db.expire_all()
    rows = db.scalars(select(LoyaltyEntry).where(LoyaltyEntry.owner_id == me)
                      .order_by(LoyaltyEntry.id)).all()
    assert [(r.brand, r.points, r.balance_after, r.cause_type) for r in rows] == [
        (A, 100, 100, "take_back"), (B, 50, 50, "take_back"),
        (B, -50, 0, "till"), (A, -10, 20, "catalogue"),
        # The part of B's till sale that A's points paid: its own line, same cause and moment.
        (A, -70, 30, "till")]
    assert rows[2].id == till and rows[-1].cause_id == "R1"
    accounts = db.execute(select(LoyaltyAccount.brand, LoyaltyAccount.balance)
                          .where(LoyaltyAccount.owner_id == me)
                          .order_by(LoyaltyAccount.brand)).all()
    assert [tuple(a) for a in accounts] == [(A, 20), (B, 0)]
    grant = db.scalars(select(RewardGrant).where(RewardGrant.token == "tok-0018")).one()
    assert grant.message_key is None and grant.ledger_entry_id == paid
    # The split accounts work as any other: B has nothing left to spend.
    with pytest.raises(InsufficientPoints):
        post_entry(db, me, "spend", 1, "till", "R2", T0 + timedelta(days=1), brand=B)
    db.rollback()
