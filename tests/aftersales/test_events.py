"""Service events, called directly: counters, history, the event signal and input checks."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.aftersales import events, requests
from app.aftersales.inputs import parse_moment
from app.aftersales.models import ServiceEvent, ServiceRequest
from app.catalog.models import Item
from app.catalog.views import item_view
from app.core.audit import AuditEntry
from app.core.db import make_engine
from app.core.errors import DomainError, NotFound
from app.core.signals import service_recorded
from tests.aftersales.conftest import SETTINGS, fresh
from tests.factories import tagged_item

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def count(db, model) -> int:  # type: ignore[no-untyped-def]
    return db.scalar(select(func.count()).select_from(model))


def audits(db, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_events_count_and_last_service_only_moves_forward(db, owned):
    item, _ = owned
    first = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    events.record_event(db, item, "full service", first, note="New gaskets",
                        location="Geneva workshop", settings=SETTINGS, now=NOW)
    db.commit()
    item = fresh(db, item)
    assert (item.service_count, item.last_service_at.replace(tzinfo=UTC)) == (1, first)

    # Recorded late, done earlier: counted, but the last service stays the later one.
    events.record_event(db, item.id, "strap replacement", first - timedelta(days=40),
                        settings=SETTINGS, now=NOW)
    db.commit()
    item = fresh(db, item)
    assert (item.service_count, item.last_service_at.replace(tzinfo=UTC)) == (2, first)

    later = datetime(2026, 5, 2, 8, 30, tzinfo=UTC)
    events.record_event(db, item, "polish", later, settings=SETTINGS, now=NOW)
    db.commit()
    item = fresh(db, item)
    assert (item.service_count, item.last_service_at.replace(tzinfo=UTC)) == (3, later)
    assert item_view(item).service_count == 3

    history = events.service_history(db, item.id)
    assert [e.kind for e in history] == ["polish", "full service", "strap replacement"]
    assert history[1] == events.ServiceEntry(first, "full service", "New gaskets",
                                             "Geneva workshop")
    entries = audits(db, "service_event")
    assert [e.actor for e in entries] == ["admin"] * 3
    # The note may name people; the audit log holds ids and the kind only.
    assert all("note" not in e.detail and "New gaskets" not in str(e.detail) for e in entries)


def test_times_with_offsets_are_compared_as_instants(db, owned):
    item, _ = owned
    # 10:00 in Geneva summer time is 08:00 UTC: earlier than 09:00 UTC, though "10" > "09".
    events.record_event(db, item, "a", datetime(2026, 5, 1, 9, 0, tzinfo=UTC),
                        settings=SETTINGS, now=NOW)
    events.record_event(
        db, item, "b", datetime(2026, 5, 1, 10, 0, tzinfo=timezone(timedelta(hours=2))),
        settings=SETTINGS, now=NOW,
    )
    db.commit()
    item = fresh(db, item)
    assert item.last_service_at.replace(tzinfo=UTC) == datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    assert [e.kind for e in events.service_history(db, item.id)] == ["a", "b"]
    assert events.service_history(db, item.id)[1].at == datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def test_event_for_a_request_marks_it_done(db, owned):
    item, holding = owned
    req = requests.create_request(db, item_view(item), holding, "repair", "Crown is loose", NOW)
    db.commit()
    event = events.record_event(db, item, "crown replaced", NOW, request_id=req.id,
                                settings=SETTINGS, now=NOW)
    db.commit()
    assert db.get(ServiceRequest, req.id).status == "done"
    assert event.request_id == req.id
    assert requests.open_requests(db) == []
    # A second event for the same job is fine; the request stays done.
    events.record_event(db, item, "check after repair", NOW, request_id=req.id,
                        settings=SETTINGS, now=NOW)
    db.commit()
    assert fresh(db, item).service_count == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "   "}, "kind of service"),
        ({"kind": "x" * 41}, "at most 40"),
        ({"kind": "two\nlines"}, "one line"),
        ({"at": NOW + timedelta(hours=1)}, "in the future"),
        ({"note": "n" * 2001}, "at most 2000"),
        ({"location": "l" * 121}, "at most 120"),
        ({"request_id": 999_999}, "no service request #999999"),
        ({"request_id": "1"}, "must be a number"),
    ],
)
def test_bad_event_input_changes_nothing(db, owned, kwargs, message):
    item, _ = owned
    args = {"kind": "full service", "at": NOW, **kwargs}
    with pytest.raises(DomainError, match=message):
        events.record_event(db, item, args.pop("kind"), args.pop("at"), settings=SETTINGS,
                            now=NOW, **args)
    db.rollback()
    item = fresh(db, item)
    assert (item.service_count, item.last_service_at) == (0, None)
    assert count(db, ServiceEvent) == 0
    assert audits(db, "service_event") == []


def test_a_few_minutes_of_clock_skew_are_accepted(db, owned):
    item, _ = owned
    events.record_event(db, item, "check", NOW + timedelta(minutes=3), settings=SETTINGS, now=NOW)
    db.commit()
    assert fresh(db, item).service_count == 1


def test_event_cannot_answer_another_items_or_a_cancelled_request(db, owned):
    item, holding = owned
    other = tagged_item(db, category="bag").item
    req = requests.create_request(db, item_view(item), holding, "cleaning", "Dusty dial", NOW)
    db.commit()
    with pytest.raises(DomainError, match="another item"):
        events.record_event(db, other, "cleaning", NOW, request_id=req.id, settings=SETTINGS,
                            now=NOW)
    db.rollback()
    db.get(ServiceRequest, req.id).status = "cancelled"
    db.commit()
    with pytest.raises(DomainError, match="cancelled"):
        events.record_event(db, item, "cleaning", NOW, request_id=req.id, settings=SETTINGS,
                            now=NOW)
    db.rollback()
    assert count(db, ServiceEvent) == 0
    assert fresh(db, other).service_count == 0


def test_unknown_item_is_not_found(db):
    with pytest.raises(NotFound):
        events.record_event(db, 424242, "full service", NOW, settings=SETTINGS, now=NOW)


def test_concurrent_events_are_all_counted(app, db, owned):
    item, _ = owned
    url = app.config["DATABASE_URL"]
    engine = make_engine(url)
    moments = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=d) for d in range(8)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(moments))

    def record(at: datetime) -> None:
        try:
            with Session(engine) as session:
                barrier.wait()
                events.record_event(session, item.id, "check", at, settings=SETTINGS, now=NOW)
                session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(m,)) for m in reversed(moments)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    assert errors == []
    item = fresh(db, item)
    assert item.service_count == len(moments)
    assert item.last_service_at.replace(tzinfo=UTC) == max(moments)


def test_parse_moment(db):
    assert parse_moment("2026-03-14") == datetime(2026, 3, 14, tzinfo=UTC)
    assert parse_moment("2026-03-14T10:30:00Z") == datetime(2026, 3, 14, 10, 30, tzinfo=UTC)
    assert parse_moment("2026-03-14T10:30:00+02:00") == datetime(2026, 3, 14, 8, 30,
                                                                 tzinfo=UTC)
    assert parse_moment("2026-03-14T10:30") == datetime(2026, 3, 14, 10, 30, tzinfo=UTC)
    for bad in ("yesterday", "", "2026-13-01", "14/03/2026"):
        with pytest.raises(DomainError, match="not a date"):
            parse_moment(bad)


def test_history_of_an_item_never_serviced_is_empty(db):
    item = tagged_item(db).item
    assert events.service_history(db, item.id) == []
    assert db.get(Item, item.id).service_count == 0


def test_recording_sends_service_recorded_inside_its_transaction(db, owned):
    item, _ = owned
    heard = []

    def listener(sender, **kw):  # type: ignore[no-untyped-def]
        # Sent on the recording session once the event is written, so a listener's writes share
        # its transaction (tests/aftersales/test_api.py shows they commit or fail together).
        heard.append((sender, kw, sender.get(ServiceEvent, kw["event_id"]) is not None))

    with service_recorded.connected_to(listener):
        event = events.record_event(db, item, "polish", NOW - timedelta(days=1),
                                    settings=SETTINGS, now=NOW)
    assert heard == [(db, {"settings": SETTINGS, "item_id": item.id, "event_id": event.id,
                           "at": NOW}, True)]


def test_a_refused_event_sends_nothing(db, owned):
    item, _ = owned
    heard = []
    with (service_recorded.connected_to(lambda sender, **kw: heard.append(kw)),
          pytest.raises(DomainError)):
        events.record_event(db, item, " ", NOW, settings=SETTINGS, now=NOW)
    assert heard == []
