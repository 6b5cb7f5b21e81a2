"""The tap as a phone and an API client see it: verdicts, statuses, pages, the tap log."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.verify.models import FailedTapHour, Tag, TapEvent
from app.verify.service import mint_tap_url
from tests.factories import tagged_item

JSON = {"Accept": "application/json"}


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def fresh(db, keyring, tag: Tag, **kw) -> str:  # type: ignore[no-untyped-def]
    url = path_of(mint_tap_url(db, keyring, tag, "http://localhost", **kw))
    db.commit()
    return url


def events(db, verdict: str | None = None) -> list[TapEvent]:  # type: ignore[no-untyped-def]
    stmt = select(TapEvent).order_by(TapEvent.id)
    if verdict:
        stmt = stmt.where(TapEvent.verdict == verdict)
    return list(db.scalars(stmt))


@pytest.mark.parametrize("mode", ["aes", "lrp", "plain"])
def test_first_genuine_tap_unboxes_then_welcomes_back(app, client, db, keyring, mode):
    tag = tagged_item(db)
    first = client.get(fresh(db, keyring, tag, mode=mode), headers=JSON)
    assert first.status_code == 200
    body = first.get_json()
    assert body["verdict"] == "genuine"
    assert body["uid"] == tag.uid
    assert body["counter"] == 1
    assert body["item"] == {"gtin": tag.item.product.gtin, "serial": tag.item.serial}
    assert body["experience"] == {"journey": "unboxing", "template": "unboxing"}

    # The first tap made this browser the owner: its next tap is the owner's care page, while
    # someone else's phone is welcomed back.
    second = client.get(fresh(db, keyring, tag, mode=mode), headers=JSON)
    assert second.status_code == 200
    assert second.get_json()["experience"]["journey"] == "care"
    assert second.get_json()["counter"] == 2
    friend = app.test_client().get(fresh(db, keyring, tag, mode=mode), headers=JSON)
    assert friend.get_json()["experience"]["journey"] == "welcome-back"
    assert friend.get_json()["counter"] == 3


def test_t_form_works_like_digital_link(client, db, keyring):
    tag = tagged_item(db)
    resp = client.get(fresh(db, keyring, tag, form="t"), headers=JSON)
    assert resp.status_code == 200
    assert resp.get_json()["verdict"] == "genuine"


def test_replayed_link_is_409_and_tells_person_to_tap_again(client, db, keyring):
    tag = tagged_item(db)
    url = fresh(db, keyring, tag)
    assert client.get(url).status_code == 200
    again = client.get(url)
    assert again.status_code == 409
    page = again.get_data(as_text=True)
    assert "already been used" in page
    assert "tap it again" in page
    assert again.headers["Cache-Control"] == "no-store"
    assert client.get(url, headers=JSON).get_json()["verdict"] == "replayed"


def test_older_counter_after_newer_is_replayed(client, db, keyring):
    tag = tagged_item(db)
    older, newer = fresh(db, keyring, tag), fresh(db, keyring, tag)
    assert client.get(newer, headers=JSON).status_code == 200
    assert client.get(older, headers=JSON).status_code == 409


def test_forged_mac_is_invalid_and_records_nothing_about_the_tag(client, db, keyring):
    tag = tagged_item(db)
    url = fresh(db, keyring, tag)
    forged = url[:-1] + ("0" if url[-1] != "0" else "1")
    resp = client.get(forged, headers=JSON)
    assert resp.status_code == 400
    assert resp.get_json() | {"experience": None} == {
        "verdict": "invalid",
        "uid": None,
        "counter": None,
        "tamper": None,
        "item": None,
        "experience": None,
        "ownership": None,
        "reward": None,
    }
    db.expire_all()
    assert db.get(Tag, tag.id).last_counter is None
    # The genuine URL still works: a forgery must not burn the counter.
    assert client.get(url, headers=JSON).status_code == 200
    assert "could not verify" in client.get(forged).get_data(as_text=True)


def test_wrong_item_in_digital_link_path_is_invalid(client, db, keyring):
    tag, other = tagged_item(db), tagged_item(db)
    url = fresh(db, keyring, tag)
    wrong = url.replace(f"/21/{tag.item.serial}?", f"/21/{other.item.serial}?")
    resp = client.get(wrong, headers=JSON)
    assert resp.status_code == 400
    assert resp.get_json()["verdict"] == "invalid"
    assert events(db)[-1].reason == "wrong item in path"
    assert client.get(url, headers=JSON).status_code == 200


def test_unregistered_tag_is_404(client, db, keyring):
    tag = tagged_item(db)
    url = fresh(db, keyring, tag)
    db.delete(tag)
    db.commit()
    resp = client.get(url, headers=JSON)
    assert resp.status_code == 404
    assert resp.get_json()["verdict"] == "unknown_tag"
    assert "do not know this product" in client.get(url).get_data(as_text=True)


def test_revoked_tag_is_410(client, db, keyring, runner):
    tag = tagged_item(db)
    url = fresh(db, keyring, tag)
    result = runner.invoke(args=["tags", "revoke", tag.item.serial])
    assert result.exit_code == 0, result.output
    resp = client.get(url, headers=JSON)
    assert resp.status_code == 410
    assert resp.get_json()["verdict"] == "revoked"
    assert "no longer valid" in client.get(url).get_data(as_text=True)


def test_retired_key_version_is_revoked(client, db, keyring):
    tag = tagged_item(db, key_version="old-2025")
    # Simulation is a property of the version; retire-only versions still mint in tests.
    resp = client.get(fresh(db, keyring, tag), headers=JSON)
    assert resp.status_code == 410
    assert resp.get_json()["verdict"] == "revoked"


def test_tag_tamper_status_reaches_the_response(client, db, keyring):
    tag = tagged_item(db, key_version="tamper-2026")
    url = mint_tap_url(db, keyring, tag, "http://localhost", file_data=b"OO" + bytes(14))
    db.commit()
    body = client.get(path_of(url), headers=JSON).get_json()
    assert body["verdict"] == "genuine"
    assert body["tamper"] == "tampered_open"
    assert events(db)[-1].tamper == "tampered_open"


def test_every_verdict_is_logged_with_its_decision(client, db, keyring):
    tag = tagged_item(db)
    url = fresh(db, keyring, tag)
    client.get(url)
    client.get(url)
    client.get("/t?picc_data=00&cmac=00")
    logged = [(e.verdict, e.journey) for e in events(db)]
    assert logged == [
        ("genuine", "unboxing"),
        ("replayed", "not-verified"),
        # A forged tap is tied to no brand: a neutral page, no brand's journeys (issue 11).
        ("invalid", None),
    ]
    assert all(
        e.ruleset_version and e.ruleset_version.startswith("maison_aurelia__")
        for e in events(db) if e.item_id is not None
    )


def test_country_only_from_the_trusted_header(app, client, db, keyring):
    tag = tagged_item(db)
    client.get(fresh(db, keyring, tag), headers={"CF-IPCountry": "JP"})
    assert events(db)[-1].country is None
    app.config["TRUSTED_COUNTRY_HEADER"] = "CF-IPCountry"
    client.get(fresh(db, keyring, tag), headers={"CF-IPCountry": "jp"})
    client.get(fresh(db, keyring, tag), headers={"CF-IPCountry": "<script>"})
    db.expire_all()
    assert [e.country for e in events(db)][-2:] == ["JP", None]


def test_failed_tap_flood_keeps_counts_but_caps_detail_rows(app, client, db):
    app.config["FAILED_TAP_DETAIL_PER_HOUR"] = 5
    for i in range(12):
        assert client.get(f"/t?picc_data={i:032X}&cmac={i:016X}").status_code == 400
    assert len(events(db, "invalid")) == 5
    assert db.scalar(select(func.sum(FailedTapHour.count))) == 12


def test_page_is_mobile_first_and_self_contained(client, db, keyring):
    tag = tagged_item(db)
    resp = client.get(fresh(db, keyring, tag))
    html = resp.get_data(as_text=True)
    assert 'name="viewport"' in html
    assert "Welcome to your" in html
    assert "http://" not in html.replace("http://localhost", "") and "https://" not in html
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize(
    "query",
    [
        "",
        "picc_data=&cmac=",
        "picc_data=" + "G" * 32 + "&cmac=" + "0" * 16,
        "picc_data=" + "0" * 31 + "&cmac=" + "0" * 16,
        "uid=04AABBCCDDEEFF&ctr=00000Z&cmac=" + "0" * 16,
        "picc_data=" + "0" * 32 + "&cmac=" + "0" * 16 + "&cmac=" + "0" * 16,
        "picc_data=" + "0" * 5000,
        "%ff%fe=%00",
    ],
    ids=["empty", "blank", "non-hex", "short", "bad-ctr", "duplicate", "huge", "binary"],
)
def test_malformed_taps_are_400_never_500(client, query):
    resp = client.get(f"/t?{query}", headers=JSON)
    assert resp.status_code == 400
    assert resp.get_json()["verdict"] == "invalid"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=st.characters(codec="ascii", exclude_characters="#"), max_size=300))
def test_arbitrary_query_never_5xx(client, query):
    resp = client.get("/t", query_string=query, headers=JSON)
    assert resp.status_code in (400, 404, 409, 410)


def test_unknown_route_and_method_are_human(client):
    resp = client.get("/no-such-page")
    assert resp.status_code == 404
    assert "nothing at this address" in resp.get_data(as_text=True)
    assert client.post("/t", headers=JSON).status_code in (400, 405)


def test_experience_that_needs_an_item_falls_back_instead_of_failing(settings, tmp_path, db,
                                                                     keyring, caplog):
    """Regression: a journey sending an unregistered tag to an item page raised a 500. An
    unregistered tag is now tied to no brand, so no ruleset decides it: the neutral page."""
    from app import create_app

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "b.yaml").write_text(
        "brand: maison-aurelia\njourneys:\n"
        "  - {id: care-for-all, priority: 1, experience: care}\n"
    )
    app = create_app({**settings, "RULESETS_DIR": str(rules)})
    tag = tagged_item(db)
    url = fresh(db, keyring, tag)
    db.delete(tag)
    db.commit()
    resp = app.test_client().get(url)
    assert resp.status_code == 404
    assert "We do not know this product" in resp.get_data(as_text=True)
    assert events(db)[-1].journey is None
    app.extensions["aftertap.db"].engine.dispose()


def test_demo_ruleset_flags_a_stranger_tapping_outside_the_market(app, client, db, keyring):
    app.config["TRUSTED_COUNTRY_HEADER"] = "CF-IPCountry"
    tag = tagged_item(db, market="FR")
    first = client.get(fresh(db, keyring, tag), headers={**JSON, "CF-IPCountry": "CN"})
    assert first.get_json()["experience"]["journey"] == "unboxing"
    # The owner travelling is not grey market; a stranger's phone abroad is.
    owner_abroad = client.get(fresh(db, keyring, tag), headers={**JSON, "CF-IPCountry": "CN"})
    assert owner_abroad.get_json()["experience"]["journey"] == "care"
    stranger = app.test_client()
    again = stranger.get(fresh(db, keyring, tag), headers={**JSON, "CF-IPCountry": "CN"})
    assert again.get_json()["experience"]["journey"] == "grey-market-check"
    home = stranger.get(fresh(db, keyring, tag), headers={**JSON, "CF-IPCountry": "FR"})
    assert home.get_json()["experience"]["journey"] == "welcome-back"
