"""The brand's after-sales API: auth, JSON only, clear 4xx, and what a 201 changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.aftersales import events, requests
from app.aftersales.models import ServiceEvent, ServiceRequest
from app.catalog.views import item_view
from app.core.signals import service_recorded
from tests.aftersales.conftest import SETTINGS, basic, fresh


def events_url(item) -> str:  # type: ignore[no-untyped-def]
    return f"/admin/api/items/{item.product.gtin}/{item.serial}/service-events"


def event_count(db) -> int:  # type: ignore[no-untyped-def]
    return db.scalar(select(func.count()).select_from(ServiceEvent))


def test_api_does_not_exist_without_a_password(client, owned):
    item, _ = owned
    assert client.post(events_url(item), json={"kind": "x"}).status_code == 404


def test_api_needs_the_admin(admin_app, db, owned):
    item, _ = owned
    client = admin_app.test_client()
    resp = client.post(events_url(item), json={"kind": "full service"})
    assert resp.status_code == 401
    assert "WWW-Authenticate" in resp.headers
    assert client.post(events_url(item), json={"kind": "full service"},
                       headers=basic("wrong")).status_code == 401
    assert client.get("/admin/api/service-requests").status_code == 401
    assert event_count(db) == 0


def test_writes_must_be_json(admin_app, db, owned):
    item, _ = owned
    client = admin_app.test_client()
    resp = client.post(events_url(item), data={"kind": "full service"}, headers=basic())
    assert resp.status_code == 415
    assert resp.get_json()["error"] == "unsupported_media_type"
    assert event_count(db) == 0


def test_recording_an_event_returns_201_and_updates_the_item(admin_app, db, owned):
    item, holding = owned
    req = requests.create_request(db, item_view(item), holding, "repair", "Crown loose",
                                  datetime.now(UTC))
    db.commit()
    client = admin_app.test_client()
    resp = client.post(events_url(item), headers=basic(), json={
        "kind": "crown replaced", "at": "2026-03-01T10:00:00Z", "note": "Under warranty",
        "location": "Geneva workshop", "request_id": req.id,
    })
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["event"]["kind"] == "crown replaced"
    assert body["event"]["at"] == "2026-03-01T10:00:00+00:00"
    assert body["event"]["request_id"] == req.id
    assert body["item"] == {"gtin": item.product.gtin, "serial": item.serial,
                            "service_count": 1, "last_service_at": "2026-03-01T10:00:00+00:00"}
    assert fresh(db, item).service_count == 1
    assert db.get(ServiceRequest, req.id).status == "done"


def test_at_defaults_to_now(admin_app, db, owned):
    item, _ = owned
    before = datetime.now(UTC)
    resp = admin_app.test_client().post(events_url(item), headers=basic(),
                                        json={"kind": "check"})
    assert resp.status_code == 201
    at = datetime.fromisoformat(resp.get_json()["event"]["at"])
    assert before - timedelta(seconds=1) <= at <= datetime.now(UTC)


def test_unknown_item_is_404_json(admin_app, db, owned):
    item, _ = owned
    client = admin_app.test_client()
    resp = client.post(f"/admin/api/items/{item.product.gtin}/NOPE/service-events",
                       headers=basic(), json={"kind": "check"})
    assert resp.status_code == 404
    assert resp.get_json()["error"] == "not_found"
    resp = client.get(f"/admin/api/items/{item.product.gtin}/NOPE/service", headers=basic())
    assert resp.status_code == 404
    assert event_count(db) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "'kind' is required"),
        ({"kind": 3}, "'kind' is required"),
        ({"kind": ""}, "kind of service"),
        ({"kind": "k" * 41}, "at most 40"),
        ({"kind": "check", "at": "last tuesday"}, "not a date"),
        ({"kind": "check", "at": 1767225600}, "'at' must be a string"),
        ({"kind": "check", "at": "2999-01-01"}, "in the future"),
        ({"kind": "check", "request_id": "7"}, "'request_id' must be an integer"),
        ({"kind": "check", "request_id": True}, "'request_id' must be an integer"),
        ({"kind": "check", "request_id": 999999}, "no service request"),
        ({"kind": "check", "location": "x" * 121}, "at most 120"),
        ({"kind": "check", "note": ["a"]}, "'note' must be a string"),
        ({"kind": "check", "kindd": "typo"}, "Unknown field"),
    ],
)
def test_bad_input_is_400_json_and_changes_nothing(admin_app, db, owned, body, message):
    item, _ = owned
    resp = admin_app.test_client().post(events_url(item), headers=basic(), json=body)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    payload = resp.get_json()
    assert payload["error"] == "bad_request"
    assert message in payload["message"]
    assert event_count(db) == 0
    assert fresh(db, item).service_count == 0


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00"])
def test_a_moment_whose_offset_leaves_the_calendar_is_400_not_500(admin_app, db, owned, at):
    # Found writing the OpenAPI document: converting these to UTC overflows datetime.
    item, _ = owned
    resp = admin_app.test_client().post(events_url(item), headers=basic(),
                                        json={"kind": "check", "at": at})
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json() == {"error": "bad_request", "message": f"{at!r} is out of range: in "
                               "UTC it falls outside the years 1 to 9999."}
    assert event_count(db) == 0


def test_a_body_that_is_not_an_object_is_400(admin_app, db, owned):
    item, _ = owned
    client = admin_app.test_client()
    for raw in ("[1, 2]", "{not json"):
        resp = client.post(events_url(item), headers=basic(), data=raw,
                           content_type="application/json")
        assert resp.status_code == 400
        assert resp.get_json()["error"] == "bad_request"
    assert event_count(db) == 0


def test_item_service_file_lists_events_and_requests(admin_app, db, owned):
    item, holding = owned
    now = datetime.now(UTC)
    req = requests.create_request(db, item_view(item), holding, "cleaning", "Dusty", now)
    events.record_event(db, item, "polish", now - timedelta(days=3), location="Paris",
                        settings=SETTINGS, now=now)
    db.commit()
    resp = admin_app.test_client().get(
        f"/admin/api/items/{item.product.gtin}/{item.serial}/service", headers=basic())
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["item"]["service_count"] == 1
    assert [(e["kind"], e["location"]) for e in body["events"]] == [("polish", "Paris")]
    assert [(r["id"], r["kind"], r["status"], r["message"]) for r in body["requests"]] == [
        (req.id, "cleaning", "open", "Dusty")]


def test_service_requests_by_status_and_brand(admin_app, db, owned):
    item, holding = owned
    now = datetime.now(UTC)
    a = requests.create_request(db, item_view(item), holding, "repair", "A", now)
    b = requests.create_request(db, item_view(item), holding, "other", "B", now)
    events.record_event(db, item, "repair", now, request_id=a.id, settings=SETTINGS, now=now)
    db.commit()
    client = admin_app.test_client()

    def ids(query: str) -> list[int]:
        resp = client.get(f"/admin/api/service-requests{query}", headers=basic())
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return [r["id"] for r in resp.get_json()["requests"]]

    assert ids("") == [b.id]
    assert ids("?status=open") == [b.id]
    assert ids("?status=done") == [a.id]
    assert ids("?status=all&brand=maison-aurelia") == [a.id, b.id]
    first = client.get("/admin/api/service-requests", headers=basic()).get_json()["requests"][0]
    assert first["reference"] == requests.reference(b.id)
    assert first["item"]["serial"] == item.serial
    assert first["under_warranty"] is True
    resp = client.get("/admin/api/service-requests?status=pending", headers=basic())
    assert (resp.status_code, resp.get_json()["error"]) == (400, "bad_request")
    resp = client.get("/admin/api/service-requests?brand=nobody", headers=basic())
    assert resp.status_code == 404


def test_recording_tells_listeners_with_the_app_settings_and_commits_with_them(admin_app, db,
                                                                               owned):
    item, _ = owned
    heard = []

    def listener(sender, **kw):  # type: ignore[no-untyped-def]
        heard.append(kw)

    client = admin_app.test_client()
    with service_recorded.connected_to(listener):
        resp = client.post(events_url(item), headers=basic(), json={"kind": "check"})
    assert resp.status_code == 201
    (kw,) = heard
    # The app's own settings: a listener reads what it needs (the loyalty points table) there.
    assert kw["settings"] is admin_app.config
    assert (kw["item_id"], kw["event_id"]) == (item.id, resp.get_json()["event"]["id"])

    def broken(sender, **kw):  # type: ignore[no-untyped-def]
        raise RuntimeError("listener failed")

    with service_recorded.connected_to(broken):
        failed = client.post(events_url(item), headers=basic(), json={"kind": "polish"})
    assert failed.status_code == 500
    assert event_count(db) == 1  # the second event went with the listener's failure
    assert fresh(db, item).service_count == 1
