"""verify_tap's defences beyond the MAC: a tap must verify under the tag's own key version."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.verify.models import FailedTapHour, Tag, TapEvent
from app.verify.service import (
    GENUINE,
    INVALID,
    REPLAYED,
    REVOKED,
    ImportRejected,
    SimulationNotAllowed,
    TagNotFound,
    TapInput,
    TapOutcome,
    find_tag,
    import_tags,
    mint_tap_url,
    record_tap,
    verify_tap,
)
from app.verify.sun import mint_query
from tests.factories import JSON_ACCEPT, gtin, statements_sent, tagged_item, tap_url


@pytest.mark.parametrize("mode", ["aes", "lrp"])
def test_tap_signed_under_another_configured_key_version_is_refused(client, db, keyring, mode):
    # The tag was personalised with test-2026. A URL that verifies under tamper-2026, another
    # version in the same keys file, proves only that someone holds that version's keys: it must
    # not count as a tap of this tag, nor burn its counter.
    tag = tagged_item(db, key_version="test-2026")
    query = mint_query(keyring["tamper-2026"], bytes.fromhex(tag.uid), 5, mode=mode)
    path = f"/01/{tag.item.product.gtin}/21/{tag.item.serial}?{query}"

    resp = client.get(path, headers=JSON_ACCEPT)

    assert resp.status_code == 400
    assert resp.get_json()["verdict"] == "invalid"
    assert resp.get_json()["ownership"] is None
    assert "could not verify" in client.get(path).get_data(as_text=True)
    event = db.scalars(select(TapEvent).order_by(TapEvent.id.desc())).first()
    assert (event.verdict, event.reason) == ("invalid", "tag signed with another key version")
    db.expire_all()
    assert db.get(Tag, tag.id).last_counter is None
    assert db.get(Tag, tag.id).genuine_taps == 0
    # The tag's genuine taps still work.
    genuine = client.get(tap_url(db, keyring, tag), headers=JSON_ACCEPT)
    assert genuine.get_json()["verdict"] == "genuine"


def test_a_serial_two_products_share_needs_the_gtin_to_name_one_tag(db):
    # `tags tap`/`tags revoke` SERIAL: a bag and a serum both numbered 0001. Without the GTIN the
    # command must refuse rather than act on one of them; with it, it acts on that product's tag.
    bag = tagged_item(db, serial="SHARED-0001", category="bag")
    serum = tagged_item(db, serial="SHARED-0001", category="serum")

    with pytest.raises(TagNotFound, match="several products; give --gtin"):
        find_tag(db, "SHARED-0001")
    assert find_tag(db, "SHARED-0001", gtin=bag.item.product.gtin).id == bag.id
    assert find_tag(db, "SHARED-0001", gtin=serum.item.product.gtin).id == serum.id
    with pytest.raises(TagNotFound, match="no tagged item"):
        find_tag(db, "SHARED-0001", gtin=gtin())


@pytest.mark.parametrize("market", ["FRA", "F1", "É1"])
def test_a_market_that_is_not_a_two_letter_country_code_rejects_the_import(db, keyring, market):
    brand = tagged_item(db).item.product.brand
    row = {"uid": "04A1B2C3D4E5F6", "gtin": gtin(), "serial": "M-1", "key_version": "test-2026",
           "market": market, "product_name": "Tote", "category": "bag"}

    with pytest.raises(ImportRejected) as rejected:
        import_tags(db, keyring, brand, [(2, row)])

    assert rejected.value.problems == [
        (2, f"market {market!r} must be a two-letter country code")]
    assert str(rejected.value) == "1 problem(s)"


def test_a_tap_is_recorded_with_its_tag_item_counter_mode_and_ruleset(client, db, keyring):
    tag = tagged_item(db)
    body = client.get(tap_url(db, keyring, tag), headers=JSON_ACCEPT).get_json()

    event = db.scalars(select(TapEvent).order_by(TapEvent.id.desc())).first()
    assert (event.verdict, event.tag_id, event.item_id, event.counter, event.mode) == (
        "genuine", tag.id, tag.item_id, body["counter"], "aes")
    assert event.ruleset_version and event.journey == body["experience"]["journey"]


def test_failed_taps_are_counted_per_hour(db):
    # A flood within one hour is one row per verdict, whatever the minutes.
    for minute in (5, 40, 59):
        outcome = TapOutcome(INVALID, datetime(2026, 11, 29, 10, minute, 7, tzinfo=UTC))
        record_tap(db, outcome, failed_detail_per_hour=100)
    record_tap(db, TapOutcome(INVALID, datetime(2026, 11, 29, 11, 0, tzinfo=UTC)),
               failed_detail_per_hour=100)

    rows = db.execute(select(FailedTapHour.hour, FailedTapHour.count)
                      .order_by(FailedTapHour.hour)).all()
    assert [(r.hour.hour, r.hour.minute, r.count) for r in rows] == [(10, 0, 3), (11, 0, 1)]


def test_only_a_simulating_key_version_mints_taps(db, keyring):
    # Real chips' keys (simulate = false) must never let the service mint a valid tap.
    tag = tagged_item(db)
    real = dict(keyring, **{"test-2026": dataclasses.replace(keyring["test-2026"],
                                                              simulate=False)})
    with pytest.raises(SimulationNotAllowed):
        mint_tap_url(db, real, tag, "http://localhost")
    assert db.get(Tag, tag.id).sim_counter == 0


def test_minting_a_tap_advances_only_that_tags_counter(db, keyring):
    tag, other = tagged_item(db), tagged_item(db)
    mint_tap_url(db, keyring, tag, "http://localhost")
    mint_tap_url(db, keyring, tag, "http://localhost")
    db.expire_all()
    assert (db.get(Tag, tag.id).sim_counter, db.get(Tag, other.id).sim_counter) == (2, 0)


def test_every_bad_row_of_an_import_is_reported_not_only_the_first(db, keyring):
    brand = tagged_item(db).item.product.brand
    rows = [(2, {"uid": "", "gtin": gtin(), "serial": "A-1", "key_version": "test-2026"}),
            (3, {"uid": "04A1B2C3D4E5F6", "gtin": "", "serial": "A-2", "key_version": "test-2026"})]
    with pytest.raises(ImportRejected) as rejected:
        import_tags(db, keyring, brand, rows)
    assert [line for line, _ in rejected.value.problems] == [2, 3]


def test_an_item_that_already_has_a_tag_cannot_get_a_second_one(db, keyring):
    tag = tagged_item(db)
    other = tagged_item(db)  # another tagged item: only the row's own item counts
    assert other.id != tag.id
    row = {"uid": "04A1B2C3D4E5F6", "gtin": tag.item.product.gtin, "serial": tag.item.serial,
           "key_version": "test-2026"}
    with pytest.raises(ImportRejected) as rejected:
        import_tags(db, keyring, tag.item.product.brand, [(2, row)])
    assert [line for line, _ in rejected.value.problems] == [2]


def test_a_tap_that_does_not_verify_still_records_the_country(app, client, db):
    # Forged taps by country is how a brand sees where its counterfeits turn up.
    app.config["TRUSTED_COUNTRY_HEADER"] = "CF-IPCountry"
    assert client.get(f"/t?picc_data={7:032X}&cmac={7:016X}",
                      headers={"CF-IPCountry": "IT"}).status_code == 400
    event = db.scalars(select(TapEvent).order_by(TapEvent.id.desc())).first()
    assert (event.verdict, event.country) == ("invalid", "IT")


def test_a_genuine_tap_is_verified_in_one_round_trip_on_postgresql(db, keyring):
    """The tag read and the counter advance are one statement on PostgreSQL (SQLite, whose
    RETURNING cannot name joined tables, takes two in-process); the outcome is the same."""
    tag = tagged_item(db)
    kv = keyring["test-2026"]
    first_at = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    for counter, at in ((1, first_at), (2, datetime(2026, 3, 4, 9, 0, tzinfo=UTC))):
        tap = TapInput(mint_query(kv, bytes.fromhex(tag.uid), counter), at,
                       path_gtin=tag.item.product.gtin, path_serial=tag.item.serial)
        outcome, sent = statements_sent(db, lambda t=tap: verify_tap(db, keyring, t))
        assert outcome.verdict == GENUINE and outcome.number == counter
        assert outcome.item is not None and outcome.item.serial == tag.item.serial
        assert len(sent) == (1 if db.bind.dialect.name == "postgresql" else 2)
    assert outcome.previous_genuine_at == first_at
    db.rollback()


@pytest.mark.parametrize("problem", ["replayed", "wrong item", "revoked"])
def test_what_the_one_statement_refuses_the_two_step_path_names(db, keyring, problem):
    """A genuine-looking tap the conditional advance refuses gets its exact verdict, and the
    counter does not move."""
    tag, other = tagged_item(db), tagged_item(db)
    kv = keyring["test-2026"]
    tag.last_counter = 7
    if problem == "revoked":
        tag.revoked_at = datetime(2026, 2, 1, tzinfo=UTC)
    db.commit()
    counter = 7 if problem == "replayed" else 8
    path_item = other.item if problem == "wrong item" else tag.item
    tap = TapInput(mint_query(kv, bytes.fromhex(tag.uid), counter),
                   datetime(2026, 3, 1, tzinfo=UTC),
                   path_gtin=path_item.product.gtin, path_serial=path_item.serial)
    outcome, _ = statements_sent(db, lambda: verify_tap(db, keyring, tap))
    assert outcome.verdict == {"replayed": REPLAYED, "wrong item": INVALID,
                               "revoked": REVOKED}[problem]
    db.rollback()
    db.expire_all()
    assert db.get(Tag, tag.id).last_counter == 7
