"""After-sales services, called directly: counters, history, requests and their validation."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.aftersales import service
from app.aftersales.models import ServiceEvent, ServiceRequest
from app.catalog.access import NotOwner
from app.catalog.holdings import current_holding
from app.catalog.models import Item, Owner
from app.catalog.views import item_view
from app.core.audit import AuditEntry
from app.core.db import make_engine
from app.core.errors import Conflict, DomainError, NotFound
from app.ownership.service import reassign
from tests.aftersales.conftest import fresh
from tests.factories import tagged_item

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def count(db, model) -> int:  # type: ignore[no-untyped-def]
    return db.scalar(select(func.count()).select_from(model))


def audits(db, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# --- service events -------------------------------------------------------------------------------


def test_events_count_and_last_service_only_moves_forward(db, owned):
    item, _ = owned
    first = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    service.record_event(db, item, "full service", first, note="New gaskets",
                         location="Geneva workshop", now=NOW)
    db.commit()
    item = fresh(db, item)
    assert (item.service_count, item.last_service_at.replace(tzinfo=UTC)) == (1, first)

    # Recorded late, done earlier: counted, but the last service stays the later one.
    service.record_event(db, item.id, "strap replacement", first - timedelta(days=40), now=NOW)
    db.commit()
    item = fresh(db, item)
    assert (item.service_count, item.last_service_at.replace(tzinfo=UTC)) == (2, first)

    later = datetime(2026, 5, 2, 8, 30, tzinfo=UTC)
    service.record_event(db, item, "polish", later, now=NOW)
    db.commit()
    item = fresh(db, item)
    assert (item.service_count, item.last_service_at.replace(tzinfo=UTC)) == (3, later)
    assert item_view(item).service_count == 3

    history = service.service_history(db, item.id)
    assert [e.kind for e in history] == ["polish", "full service", "strap replacement"]
    assert history[1] == service.ServiceEntry(first, "full service", "New gaskets",
                                              "Geneva workshop")
    entries = audits(db, "service_event")
    assert [e.actor for e in entries] == ["admin"] * 3
    # The note may name people; the audit log holds ids and the kind only.
    assert all("note" not in e.detail and "New gaskets" not in str(e.detail) for e in entries)


def test_times_with_offsets_are_compared_as_instants(db, owned):
    item, _ = owned
    # 10:00 in Geneva summer time is 08:00 UTC: earlier than 09:00 UTC, though "10" > "09".
    service.record_event(db, item, "a", datetime(2026, 5, 1, 9, 0, tzinfo=UTC), now=NOW)
    service.record_event(
        db, item, "b", datetime(2026, 5, 1, 10, 0, tzinfo=timezone(timedelta(hours=2))), now=NOW
    )
    db.commit()
    item = fresh(db, item)
    assert item.last_service_at.replace(tzinfo=UTC) == datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    assert [e.kind for e in service.service_history(db, item.id)] == ["a", "b"]
    assert service.service_history(db, item.id)[1].at == datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def test_event_for_a_request_marks_it_done(db, owned):
    item, holding = owned
    req = service.create_request(db, item_view(item), holding, "repair", "Crown is loose", NOW)
    db.commit()
    event = service.record_event(db, item, "crown replaced", NOW, request_id=req.id, now=NOW)
    db.commit()
    assert db.get(ServiceRequest, req.id).status == "done"
    assert event.request_id == req.id
    assert service.open_requests(db) == []
    # A second event for the same job is fine; the request stays done.
    service.record_event(db, item, "check after repair", NOW, request_id=req.id, now=NOW)
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
        service.record_event(db, item, args.pop("kind"), args.pop("at"), now=NOW, **args)
    db.rollback()
    item = fresh(db, item)
    assert (item.service_count, item.last_service_at) == (0, None)
    assert count(db, ServiceEvent) == 0
    assert audits(db, "service_event") == []


def test_a_few_minutes_of_clock_skew_are_accepted(db, owned):
    item, _ = owned
    service.record_event(db, item, "check", NOW + timedelta(minutes=3), now=NOW)
    db.commit()
    assert fresh(db, item).service_count == 1


def test_event_cannot_answer_another_items_or_a_cancelled_request(db, owned):
    item, holding = owned
    other = tagged_item(db, category="bag").item
    req = service.create_request(db, item_view(item), holding, "cleaning", "Dusty dial", NOW)
    db.commit()
    with pytest.raises(DomainError, match="another item"):
        service.record_event(db, other, "cleaning", NOW, request_id=req.id, now=NOW)
    db.rollback()
    db.get(ServiceRequest, req.id).status = "cancelled"
    db.commit()
    with pytest.raises(DomainError, match="cancelled"):
        service.record_event(db, item, "cleaning", NOW, request_id=req.id, now=NOW)
    db.rollback()
    assert count(db, ServiceEvent) == 0
    assert fresh(db, other).service_count == 0


def test_unknown_item_is_not_found(db):
    with pytest.raises(NotFound):
        service.record_event(db, 424242, "full service", NOW, now=NOW)


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
                service.record_event(session, item.id, "check", at, now=NOW)
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


# --- service requests -----------------------------------------------------------------------------


def test_request_is_recorded_with_warranty_and_audited_without_the_message(db, owned):
    item, holding = owned
    req = service.create_request(db, item_view(item), holding, "repair",
                                 "  The clasp broke, call me on 0612345678  ", NOW)
    db.commit()
    row = db.get(ServiceRequest, req.id)
    assert (row.kind, row.status, row.under_warranty) == ("repair", "open", True)
    assert row.message == "The clasp broke, call me on 0612345678"
    assert row.ownership_id == holding.id
    (entry,) = audits(db, "service_request")
    assert (entry.actor, entry.item_id, entry.owner_id) == ("owner", item.id, holding.owner_id)
    assert "0612345678" not in str(entry.detail) and "clasp" not in str(entry.detail)
    assert service.reference(req.id) == f"SR-{req.id:06d}"


def test_request_after_the_warranty_ended_is_not_under_warranty(db, owned):
    item, holding = owned
    after = item.warranty_ends_at.replace(tzinfo=UTC)  # the end itself is outside
    req = service.create_request(db, item_view(fresh(db, item)), holding, "cleaning", "Dull",
                                 after)
    assert req.under_warranty is False


@pytest.mark.parametrize(
    ("kind", "message", "expected"),
    [
        ("engraving", "Please", "choose what the service is for"),
        ("", "Please", "choose what the service is for"),
        ("repair", "   \n ", "write the message"),
        ("repair", "x" * 2001, "at most 2000"),
    ],
)
def test_bad_request_input_changes_nothing(db, owned, kind, message, expected):
    item, holding = owned
    with pytest.raises(DomainError, match=expected):
        service.create_request(db, item_view(item), holding, kind, message, NOW)
    db.rollback()
    assert count(db, ServiceRequest) == 0
    assert audits(db, "service_request") == []


def test_request_message_of_exactly_2000_characters_fits(db, owned):
    item, holding = owned
    req = service.create_request(db, item_view(item), holding, "other", "y" * 2000, NOW)
    assert len(req.message) == 2000
    # A browser's maxlength counts a line break as one character but sends CRLF.
    text = "\r\n".join(["z" * 999, "z" * 1000])
    req = service.create_request(db, item_view(item), holding, "other", text, NOW)
    assert req.message == "z" * 999 + "\n" + "z" * 1000


def test_only_a_current_holding_can_request(db, owned):
    item, holding = owned
    with pytest.raises(NotOwner):
        service.create_request(db, item_view(item), None, "repair", "Broken", NOW)
    # The item changed hands after the page was opened: the old holding can no longer ask.
    reassign(db, item, None, NOW, actor="admin", reason="sold back to the boutique")
    db.commit()
    with pytest.raises(NotOwner):
        service.create_request(db, item_view(item), holding, "repair", "Broken", NOW)
    db.rollback()
    assert count(db, ServiceRequest) == 0


def test_resubmitting_returns_the_same_request_and_open_requests_are_capped(db, owned):
    item, holding = owned
    view = item_view(item)
    first = service.create_request(db, view, holding, "repair", "Broken", NOW)
    again = service.create_request(db, view, holding, "repair", " Broken ", NOW)
    assert again.id == first.id
    for n in range(service.MAX_OPEN_REQUESTS - 1):
        service.create_request(db, view, holding, "other", f"Question {n}", NOW)
    db.commit()
    with pytest.raises(Conflict, match="open service requests"):
        service.create_request(db, view, holding, "other", "One more", NOW)
    db.rollback()
    assert count(db, ServiceRequest) == service.MAX_OPEN_REQUESTS


def test_prefill_shows_item_warranty_history_and_only_a_verified_email(db, owned):
    item, holding = owned
    owner = db.get(Owner, holding.owner_id)
    owner.email = "ines@example.com"
    db.commit()
    service.record_event(db, item, "full service", datetime(2026, 4, 1, tzinfo=UTC), now=NOW)
    db.commit()
    view = item_view(fresh(db, item))
    prefill = service.request_prefill(db, view, owner, NOW)
    assert prefill["owner_email"] is None  # not confirmed: it may be a typo
    assert (prefill["product"], prefill["serial"], prefill["gtin"]) == (
        "Test watch", item.serial, view.product.gtin)
    assert prefill["warranty_active"] is True
    assert prefill["warranty_ends_at"] == datetime(2028, 1, 10, 9, 0, tzinfo=UTC)
    assert [e.kind for e in prefill["history"]] == ["full service"]
    assert prefill["kinds"] == service.SERVICE_KINDS
    owner.email_verified_at = NOW
    db.commit()
    req = service.create_request(db, view, current_holding(db, item.id), "repair", "Broken", NOW)
    db.commit()
    prefill = service.request_prefill(db, view, owner, NOW)
    assert prefill["owner_email"] == "ines@example.com"
    assert prefill["open_requests"] == [(service.reference(req.id), "repair", NOW)]


def test_requests_are_listed_by_status_and_brand(db, owned):
    item, holding = owned
    other = tagged_item(db, brand="other-house").item
    from app.ownership.service import claim

    claim(db, item_view(other), None, NOW)
    db.commit()
    a = service.create_request(db, item_view(item), holding, "repair", "A", NOW)
    b = service.create_request(db, item_view(other), current_holding(db, other.id), "cleaning",
                               "B", NOW + timedelta(minutes=1))
    db.commit()
    assert [r.id for r in service.open_requests(db)] == [a.id, b.id]
    assert [r.id for r in service.open_requests(db, "other-house")] == [b.id]
    row = service.open_requests(db, "maison-aurelia")[0]
    assert (row.gtin, row.serial, row.kind, row.message, row.contact_email) == (
        item.product.gtin, item.serial, "repair", "A", None)
    service.record_event(db, item, "repair", NOW, request_id=a.id, now=NOW)
    db.commit()
    assert [r.id for r in service.list_requests(db, "done")] == [a.id]
    assert len(service.list_requests(db, None)) == 2
    with pytest.raises(NotFound):
        service.open_requests(db, "no-such-brand")
    with pytest.raises(DomainError, match="Status must be"):
        service.list_requests(db, "pending")


def test_parse_moment(db):
    assert service.parse_moment("2026-03-14") == datetime(2026, 3, 14, tzinfo=UTC)
    assert service.parse_moment("2026-03-14T10:30:00Z") == datetime(2026, 3, 14, 10, 30,
                                                                    tzinfo=UTC)
    assert service.parse_moment("2026-03-14T10:30:00+02:00") == datetime(2026, 3, 14, 8, 30,
                                                                         tzinfo=UTC)
    assert service.parse_moment("2026-03-14T10:30") == datetime(2026, 3, 14, 10, 30, tzinfo=UTC)
    for bad in ("yesterday", "", "2026-13-01", "14/03/2026"):
        with pytest.raises(DomainError, match="not a date"):
            service.parse_moment(bad)


def test_history_of_an_item_never_serviced_is_empty(db):
    item = tagged_item(db).item
    assert service.service_history(db, item.id) == []
    assert db.get(Item, item.id).service_count == 0
