"""Commerce events, the service: what an event must hold, how its owner is found, secrets and
their rotation, second purchase (overall and by reward cohort), and the owner's privacy."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from app.catalog.models import Owner
from app.catalog.owner_refs import owner_reference
from app.core import privacy
from app.core.privacy import email_digest
from app.insights import commerce
from app.insights.commerce import InvalidEvent, NoSigningSecret, Recorded
from app.insights.models import CommerceEvent, CommerceSource
from app.ownership.owners import create_owner
from app.ownership.privacy import erase_owner
from app.rewards.models import RewardExposure, RewardPool
from tests.factories import gtin
from tests.insights.commerce_helpers import order, owner_of, shop

NOW = datetime.now(UTC).replace(microsecond=0)
_ids = itertools.count()
EMAIL = "Camille@Example.org"


def _record(app, db, shop_, payload: Any, event_id: str = "msg_1") -> Recorded:  # type: ignore[no-untyped-def]
    return commerce.record(db, app.config, shop_.brand_id, event_id, payload, NOW)


def test_the_address_hash_is_of_the_trimmed_lower_cased_address():
    assert email_digest("  Camille@Example.ORG ") == hashlib.sha256(
        b"camille@example.org").hexdigest()


def _bad(gtin_: str) -> list[tuple[str, dict[str, Any], str]]:
    """(what, payload, the field the refusal names)."""
    def o(**data: Any) -> dict[str, Any]:
        return order(gtin_, **data)
    many = [{"gtin": gtin_}] * 101
    return [
        ("unknown type", {**o(), "type": "order.shipped"}, "type"),
        ("no data", {"type": "order.created"}, "data"),
        ("not an object", ["order.created"], "type"),
        ("three decimals in EUR", o(amount="12.345"), "data.amount"),
        ("decimals in JPY", o(amount="129.0", currency="JPY"), "data.amount"),
        ("negative", o(amount="-1.00"), "data.amount"),
        ("a number, not text", o(amount=129.0), "data.amount"),
        ("both amounts", o(amount_minor=12900), "data.amount"),
        ("neither amount", {"type": "order.created",
                            "data": {k: v for k, v in o()["data"].items() if k != "amount"}},
         "data.amount"),
        ("minor as a boolean", {"type": "order.created", "data": {
            **{k: v for k, v in o()["data"].items() if k != "amount"}, "amount_minor": True}},
         "data.amount_minor"),
        ("too large", {"type": "order.created", "data": {
            **{k: v for k, v in o()["data"].items() if k != "amount"},
            "amount_minor": 10**16}}, "data.amount"),
        ("lower-case currency", o(currency="eur"), "data.currency"),
        ("no such currency", o(currency="QQQ"), "data.currency"),
        ("no offset", o(occurred_at="2026-11-30T09:15:00"), "data.occurred_at"),
        ("not a time", o(occurred_at="yesterday"), "data.occurred_at"),
        ("two days ahead", o(occurred_at=(NOW + timedelta(days=2)).isoformat()),
         "data.occurred_at"),
        ("no products", o(products=[]), "data.products"),
        ("101 products", o(products=many), "data.products"),
        ("quantity 0", o(products=[{"gtin": gtin_, "quantity": 0}]), "data.products"),
        ("quantity as text", o(products=[{"gtin": gtin_, "quantity": "1"}]), "data.products"),
        ("a product that is a string", o(products=[gtin_]), "data.products"),
        ("both owner keys", o(owner={"id": "own_x", "email_sha256": "0" * 64}), "data.owner"),
        ("no owner key", o(owner={}), "data.owner"),
        ("owner missing", {"type": "order.created", "data": {
            k: v for k, v in o()["data"].items() if k != "owner"}}, "data.owner"),
        ("a short hash", o(owner={"email_sha256": "ab" * 16}), "data.owner.email_sha256"),
        ("a made-up reference", o(owner={"id": "own_" + "A" * 22}), "data.owner.id"),
    ]


def test_every_malformed_field_is_a_422_naming_it_and_nothing_is_stored(app, db):
    shop_ = shop(db)
    for what, payload, field in _bad(shop_.gtin):
        with pytest.raises(InvalidEvent) as refused:
            _record(app, db, shop_, payload)
            pytest.fail(what)
        assert refused.value.status == 422
        assert refused.value.details == {"field": field}, what
    assert db.scalar(select(CommerceEvent.id)) is None


@pytest.mark.parametrize("event_id", ["", "has space", "x" * 101, "tab\there", "é"])
def test_an_event_id_must_be_visible_ascii(app, db, event_id):
    shop_ = shop(db)
    with pytest.raises(InvalidEvent) as refused:
        _record(app, db, shop_, order(shop_.gtin), event_id=event_id)
    assert refused.value.details == {"field": "webhook-id"}


def test_malformed_gtins_are_listed(app, db):
    shop_ = shop(db)
    with pytest.raises(InvalidEvent) as refused:
        _record(app, db, shop_, order(shop_.gtin, products=[{"gtin": "123"},
                                                            {"gtin": shop_.gtin[:-1] + "0"}]))
    assert refused.value.details["gtins"] == ["123", shop_.gtin[:-1] + "0"]


@pytest.mark.parametrize(("amount", "currency", "minor"), [
    ("129.00", "EUR", 12900), ("129.5", "EUR", 12950), ("129", "EUR", 12900),
    ("0", "EUR", 0), ("129", "JPY", 129), ("1.234", "BHD", 1234),
])
def test_amounts_are_kept_in_the_currencys_minor_units(app, db, amount, currency, minor):
    shop_ = shop(db)
    done = _record(app, db, shop_, order(shop_.gtin, amount=amount, currency=currency))
    assert (done.event["amount_minor"], done.event["currency"]) == (minor, currency)


@given(minor=st.integers(0, commerce.MAX_AMOUNT_MINOR), currency=st.sampled_from(
    ["EUR", "JPY", "BHD", "CHF"]))
def test_an_amount_written_out_reads_back_as_the_same_minor_units(minor, currency):
    digits = {"EUR": 2, "JPY": 0, "BHD": 3, "CHF": 2}[currency]
    text = str(minor) if not digits else f"{minor // 10**digits}.{minor % 10**digits:0{digits}d}"
    assert commerce._amount_minor({"amount": text}, digits) == minor
    assert commerce._amount_minor({"amount_minor": minor}, digits) == minor


def test_a_gtin_given_short_is_stored_as_gtin_14_and_a_refund_as_a_refund(app, db):
    shop_ = shop(db)
    short = shop_.gtin.lstrip("0")
    done = _record(app, db, shop_, order(short, type="order.refunded"))
    assert done.created and done.event["type"] == "order.refunded"
    assert done.event["products"] == [{"gtin": shop_.gtin, "quantity": 1}]
    assert db.scalar(select(CommerceEvent.kind)) == "refund"


def test_a_second_record_of_one_id_returns_the_first(app, db):
    shop_ = shop(db)
    first = _record(app, db, shop_, order(shop_.gtin))
    again = _record(app, db, shop_, order(shop_.gtin, amount="5.00"))
    assert first.created and not again.created and again.event == first.event


def test_an_address_two_owners_confirmed_names_nobody(app, db):
    shop_ = shop(db)
    owner_of(db, "maison-aurelia", EMAIL)
    owner_of(db, "maison-aurelia", EMAIL.lower())
    _record(app, db, shop_, order(shop_.gtin, {"email_sha256": email_digest(EMAIL).upper()}))
    row = db.scalars(select(CommerceEvent)).one()
    assert row.owner_id is None and row.email_hash == email_digest(EMAIL)


def test_an_unconfirmed_or_erased_owner_is_not_named(app, db):
    shop_ = shop(db)
    unconfirmed = owner_of(db, "maison-aurelia", EMAIL)
    db.get_one(Owner, unconfirmed).email_verified_at = None
    erased = owner_of(db, "maison-aurelia")
    erase_owner(db, erased, NOW, actor="test")
    db.commit()
    _record(app, db, shop_, order(shop_.gtin, {"email_sha256": email_digest(EMAIL)}), "m1")
    reference = owner_reference(app.config, shop_.brand_id, erased)
    _record(app, db, shop_, order(shop_.gtin, {"id": reference}), "m2")
    assert db.scalars(select(CommerceEvent.owner_id)).all() == [None, None]


def test_an_owners_reference_for_this_brand_names_them(app, db):
    shop_ = shop(db)
    owner_id = owner_of(db, "maison-aurelia")
    other_brands_owner = owner_of(db, "nordwand")
    mine = owner_reference(app.config, shop_.brand_id, owner_id)
    _record(app, db, shop_, order(shop_.gtin, {"id": mine}), "m1")
    # A reference made for this brand to an owner of none of its items: kept unlinked.
    theirs = owner_reference(app.config, shop_.brand_id, other_brands_owner)
    _record(app, db, shop_, order(shop_.gtin, {"id": theirs}), "m2")
    rows = db.execute(select(CommerceEvent.event_id, CommerceEvent.owner_id)
                      .order_by(CommerceEvent.event_id)).all()
    assert [tuple(r) for r in rows] == [("m1", owner_id), ("m2", None)]


# --- secrets -------------------------------------------------------------------------------------


def test_rotation_keeps_the_previous_secret_and_drop_old_keeps_the_newest(app, db):
    shop_ = shop(db)
    second = commerce.rotate_secret(db, shop_.brand_id, NOW)
    third = commerce.rotate_secret(db, shop_.brand_id, NOW)
    assert second.startswith("whsec_") and len({shop_.secret, second, third}) == 3
    assert db.get_one(CommerceSource, shop_.brand_id).secrets == [third, second]
    assert commerce.drop_old_secrets(db, shop_.brand_id, NOW) == 1
    assert commerce.drop_old_secrets(db, shop_.brand_id, NOW) == 0
    assert db.get_one(CommerceSource, shop_.brand_id).secrets == [third]


def test_verify_refuses_without_a_secret(app, db):
    shop_ = shop(db)
    db.delete(db.get_one(CommerceSource, shop_.brand_id))
    db.flush()
    with pytest.raises(NoSigningSecret):
        commerce.verify(db, shop_.brand_id, "{}", {})
    with pytest.raises(commerce.NotFound):
        commerce.drop_old_secrets(db, shop_.brand_id, NOW)


def test_the_cli_prints_a_new_secret_once_and_drops_old_ones(app, db, runner):
    shop_ = shop(db)
    made = runner.invoke(args=["commerce", "secret", "--brand", "maison-aurelia"])
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert secret.startswith("whsec_")
    db.expire_all()
    assert db.get_one(CommerceSource, shop_.brand_id).secrets == [secret, shop_.secret]
    dropped = runner.invoke(args=["commerce", "secret", "--brand", "maison-aurelia",
                                  "--drop-old"])
    assert dropped.exit_code == 0 and "1 older secret(s) dropped" in dropped.output
    db.expire_all()
    assert db.get_one(CommerceSource, shop_.brand_id).secrets == [secret]
    unknown = runner.invoke(args=["commerce", "secret", "--brand", "no-such-brand"])
    assert unknown.exit_code != 0 and "No brand 'no-such-brand'" in unknown.output


# --- second purchase -----------------------------------------------------------------------------

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 2, 1, tzinfo=UTC)


def _orders(db, brand_id: int, owner_id: int | None, *days: float, kind: str = "order") -> None:  # type: ignore[no-untyped-def]
    for day in days:
        at = START + timedelta(days=day)
        db.add(CommerceEvent(brand_id=brand_id, event_id=f"e{next(_ids)}", kind=kind,
                             owner_id=owner_id, amount_minor=100, currency="EUR",
                             products=[{"gtin": gtin(1), "quantity": 1}], occurred_at=at,
                             received_at=at))
    db.flush()


def _owners(db, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    return [create_owner(db, NOW).id for _ in range(n)]


def test_second_purchase_share_and_median_days(app, db):
    a_shop, b_shop = shop(db), shop(db, brand="nordwand")
    brand = a_shop.brand_id
    fast, never, before, slow, refunder, tied, elsewhere = _owners(db, 7)
    _orders(db, brand, fast, 1, 11, 40)  # second 10 days after the first
    _orders(db, brand, never, 5)
    _orders(db, brand, before, -3, 2)  # first order before the range: not in this cohort
    _orders(db, brand, slow, 30.5, 50.5)  # second after the range still counts: 20 days
    _orders(db, brand, _owners(db, 1)[0], 31, 32)  # first on the day the range ends: not in it
    _orders(db, brand, refunder, 3, kind="refund")  # a refund is not an order
    _orders(db, brand, tied, 30.9, 30.9)  # first on the range's last day; two at once: 0 days
    _orders(db, b_shop.brand_id, elsewhere, 2, 3)  # another brand's
    _orders(db, brand, None, 2, 3)  # nobody we know
    _orders(db, brand, fast, 32, kind="refund")
    db.commit()
    figures = commerce.second_purchase(db, brand, START, END)
    assert figures == {"all": commerce.SecondPurchase(owners=4, repeat=3, median_days=10.0)}
    assert figures["all"].share == 0.75
    assert commerce.second_purchase(db, brand, END, END + timedelta(days=1))["all"] == (
        commerce.SecondPurchase(owners=1, repeat=1, median_days=1.0))
    later = END + timedelta(days=60)
    nobody = commerce.second_purchase(db, brand, later, later + timedelta(days=1))["all"]
    assert nobody.share is None


def test_second_purchase_by_cohort_of_a_reward(app, db):
    shop_ = shop(db)
    brand = shop_.brand_id
    t1, t2, h1, h2, unexposed = _owners(db, 5)
    for owner_id, days in ((t1, (1, 5)), (t2, (2, 9)), (h1, (3, 4)), (h2, (4,)),
                           (unexposed, (5, 6))):
        _orders(db, brand, owner_id, *days)
    pool = RewardPool(brand="maison-aurelia", reward_id="gift", mechanic="click_to_reveal")
    other = RewardPool(brand="maison-aurelia", reward_id="other", mechanic="click_to_reveal")
    db.add_all([pool, other])
    db.flush()
    exposures = [(pool, t1, "treatment", 0), (pool, t2, "treatment", 0),
                 (pool, h1, "holdout", 0), (pool, h1, "treatment", 1),  # the first one counts
                 (pool, h2, "holdout", 0), (other, unexposed, "treatment", 0)]
    for n, (p, owner_id, cohort, day) in enumerate(exposures):
        db.add(RewardExposure(pool_id=p.id, message_key=f"k{n}", owner_id=owner_id,
                              cohort=cohort, at=START + timedelta(days=day)))
    db.commit()
    figures = commerce.second_purchase(db, brand, START, END, reward_id="gift")
    assert figures == {
        "treatment": commerce.SecondPurchase(owners=2, repeat=2, median_days=5.5),
        "holdout": commerce.SecondPurchase(owners=2, repeat=1, median_days=1.0),
    }
    nothing = commerce.SecondPurchase(0, 0, None)
    assert commerce.second_purchase(db, brand, START, END, reward_id="none") == {
        "treatment": nothing, "holdout": nothing}


# --- privacy -------------------------------------------------------------------------------------


def test_the_owners_orders_are_exported_and_untied_on_erasure(app, db):
    shop_ = shop(db)
    owner_id = owner_of(db, "maison-aurelia", EMAIL)
    done = _record(app, db, shop_, order(shop_.gtin, {"email_sha256": email_digest(EMAIL)}))
    db.commit()
    exported = privacy.export_owner(db, owner_id)["commerce_events"]
    assert exported == [{"brand": "maison-aurelia", **done.event}]
    # Another order by the same address that matched nobody (before the owner confirmed it).
    db.add(CommerceEvent(brand_id=shop_.brand_id, event_id="unlinked", kind="order",
                         owner_id=None, email_hash=email_digest(EMAIL), amount_minor=1,
                         currency="EUR", products=[], occurred_at=NOW, received_at=NOW))
    db.commit()
    erase_owner(db, owner_id, NOW, actor="test")
    db.commit()
    rows = db.execute(select(CommerceEvent.owner_id, CommerceEvent.email_hash)).all()
    assert [tuple(r) for r in rows] == [(None, None), (None, None)]
    assert privacy.export_owner(db, owner_id)["commerce_events"] == []
