"""``flask service record | requests`` as a workshop uses them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import func, select

from app.aftersales import events, requests
from app.aftersales.models import ServiceEvent, ServiceRequest
from app.catalog.views import item_view
from app.core.signals import service_recorded
from tests.aftersales.conftest import SETTINGS, fresh


def event_count(db) -> int:  # type: ignore[no-untyped-def]
    return db.scalar(select(func.count()).select_from(ServiceEvent))


def test_record_updates_the_item_and_answers_the_request(runner, db, owned):
    item, holding = owned
    req = requests.create_request(db, item_view(item), holding, "repair", "Loose crown",
                                  datetime.now(UTC))
    db.commit()
    result = runner.invoke(args=[
        "service", "record", item.product.gtin, item.serial, "--kind", "crown replaced",
        "--at", "2026-03-01T10:00:00Z", "--note", "Gasket too", "--location", "Geneva",
        "--request", str(req.id),
    ])
    assert result.exit_code == 0, result.output
    assert f"on {item.product.gtin}/{item.serial}: crown replaced at 2026-03-01" in result.output
    assert f"request {requests.reference(req.id)} done" in result.output
    assert "serviced 1 time(s)" in result.output
    item = fresh(db, item)
    assert item.service_count == 1
    assert item.last_service_at.replace(tzinfo=UTC) == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert db.get(ServiceRequest, req.id).status == "done"
    (entry,) = events.service_history(db, item.id)
    assert (entry.kind, entry.note, entry.location) == ("crown replaced", "Gasket too", "Geneva")


def test_record_without_at_means_now(runner, db, owned):
    item, _ = owned
    result = runner.invoke(args=["service", "record", item.product.gtin, item.serial,
                                 "--kind", "check"])
    assert result.exit_code == 0, result.output
    assert fresh(db, item).service_count == 1


def test_record_bad_input_is_a_clear_message_and_changes_nothing(runner, db, owned):
    item, _ = owned
    gtin, serial = item.product.gtin, item.serial
    cases = [
        (["service", "record", gtin, "NOPE", "--kind", "check"], 1, "No item"),
        (["service", "record", gtin, serial, "--kind", " "], 1, "kind of service"),
        (["service", "record", gtin, serial, "--kind", "check", "--at", "2999-01-01"], 1,
         "in the future"),
        (["service", "record", gtin, serial, "--kind", "check", "--request", "99999"], 1,
         "no service request"),
        (["service", "record", gtin, serial, "--kind", "check", "--at", "soon"], 2,
         "not a date"),
        (["service", "record", gtin, serial, "--kind", "check", "--request", "x"], 2,
         "not a valid integer"),
        (["service", "record", gtin, serial], 2, "Missing option '--kind'"),
    ]
    for args, code, message in cases:
        result = runner.invoke(args=args)
        assert result.exit_code == code, (args, result.output)
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit), result.exception
    assert event_count(db) == 0
    assert fresh(db, item).service_count == 0


def test_requests_lists_open_ones_and_filters(runner, db, owned):
    item, holding = owned
    now = datetime.now(UTC)
    a = requests.create_request(db, item_view(item), holding, "repair", "Clasp\nbroke", now)
    b = requests.create_request(db, item_view(item), holding, "cleaning", "Dusty", now)
    events.record_event(db, item, "repair", now, request_id=a.id, settings=SETTINGS, now=now)
    db.commit()

    result = runner.invoke(args=["service", "requests"])
    assert result.exit_code == 0, result.output
    assert requests.reference(b.id) in result.output
    assert requests.reference(a.id) not in result.output
    assert "under warranty" in result.output and "Dusty" in result.output

    result = runner.invoke(args=["service", "requests", "--status", "done", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["id"], r["message"], r["status"]) for r in rows] == [(a.id, "Clasp\nbroke",
                                                                     "done")]

    result = runner.invoke(args=["service", "requests", "--status", "all", "--brand",
                                 "maison-aurelia"])
    assert requests.reference(a.id) in result.output and requests.reference(b.id) in result.output
    # A message's line breaks never break the listing's one-request-per-two-lines layout.
    assert "Clasp broke" in result.output


def test_requests_bad_input(runner, db):
    result = runner.invoke(args=["service", "requests", "--brand", "nobody"])
    assert result.exit_code == 1
    assert "No brand 'nobody'" in result.output
    result = runner.invoke(args=["service", "requests", "--status", "pending"])
    assert result.exit_code == 2
    assert "Invalid value for '--status'" in result.output
    result = runner.invoke(args=["service", "requests"])
    assert (result.exit_code, result.output.strip()) == (0, "no open service requests")


def test_record_tells_listeners_with_the_app_settings_and_commits_with_them(app, runner, db,
                                                                            owned):
    item, _ = owned
    args = ["service", "record", item.product.gtin, item.serial, "--kind", "check"]
    heard = []

    def listener(sender, **kw):  # type: ignore[no-untyped-def]
        heard.append(kw)

    with service_recorded.connected_to(listener):
        result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    (kw,) = heard
    assert kw["settings"] is app.config
    assert kw["item_id"] == item.id

    def broken(sender, **kw):  # type: ignore[no-untyped-def]
        raise RuntimeError("listener failed")

    with service_recorded.connected_to(broken):
        result = runner.invoke(args=args)
    assert isinstance(result.exception, RuntimeError)
    assert event_count(db) == 1
    assert fresh(db, item).service_count == 1
