"""After-sales in an owner's export and erasure: their service requests, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.aftersales import events, feedback, requests
from app.aftersales.models import ServiceEvent, ServiceRequest
from app.aftersales.privacy import ERASED_MESSAGE, PRIVACY
from app.catalog.holdings import current_holding
from app.catalog.views import item_view
from app.core import privacy
from app.ownership.brand import reassign
from app.ownership.lifecycle import claim
from tests.aftersales.conftest import SETTINGS
from tests.factories import tagged_item

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def someone_elses_request(db):  # type: ignore[no-untyped-def]
    """Return the id of a request by another owner, on another item."""
    other = tagged_item(db, category="bag").item
    claim(db, item_view(other), None, NOW)
    db.commit()
    row = requests.create_request(db, item_view(other), current_holding(db, other.id), "cleaning",
                                  "Call Bob on 0699999999", NOW)
    db.commit()
    return row.id


def test_the_app_registers_after_sales_for_service_requests_only(app):
    (contributor,) = [c for c in privacy.contributors() if c.name == "aftersales"]
    assert contributor is PRIVACY
    # Service events are the brand's records about an item: they name no owner.
    assert contributor.tables == ("service_requests", "service_feedback")
    assert {"service_requests"} <= privacy.covered_tables()
    assert "service_events" not in privacy.covered_tables()


def test_export_lists_the_owners_requests_of_every_item_they_held(db, owned):
    item, holding = owned
    first = requests.create_request(db, item_view(item), holding, "repair", "Crown loose", NOW)
    requests.create_request(db, item_view(item), holding, "other", "Strap?",
                            NOW + timedelta(hours=1))
    events.record_event(db, item, "crown replaced", NOW + timedelta(hours=2),
                        request_id=first.id, settings=SETTINGS, now=NOW + timedelta(hours=2))
    db.commit()
    # The owner gives the item back: what they asked while they held it is still theirs.
    reassign(db, item, None, NOW + timedelta(days=1), actor="admin", reason="bought back")
    db.commit()
    someone_elses_request(db)

    exported = PRIVACY.export(db, holding.owner_id)
    assert exported == {"service_requests": [
        {"kind": "repair", "message": "Crown loose", "created_at": NOW.isoformat(),
         "status": "done"},
        {"kind": "other", "message": "Strap?",
         "created_at": (NOW + timedelta(hours=1)).isoformat(), "status": "open"},
    ], "service_feedback": []}
    assert privacy.export_owner(db, holding.owner_id)["service_requests"] == (
        exported["service_requests"])


def test_an_owner_without_requests_exports_an_empty_list(db, owned):
    _, holding = owned
    assert PRIVACY.export(db, holding.owner_id) == {"service_requests": [],
                                                    "service_feedback": []}


def test_erase_wipes_the_owners_messages_and_keeps_the_rest(db, owned):
    item, holding = owned
    mine = requests.create_request(db, item_view(item), holding, "repair",
                                   "Call me on 0612345678", NOW)
    events.record_event(db, item, "repair", NOW, note="Workshop note", request_id=mine.id,
                        settings=SETTINGS, now=NOW)
    db.commit()
    theirs = someone_elses_request(db)

    PRIVACY.erase(db, holding.owner_id, NOW + timedelta(days=1))
    db.commit()
    db.expire_all()
    row = db.get(ServiceRequest, mine.id)
    assert (row.message, row.kind, row.status) == (ERASED_MESSAGE, "repair", "done")
    assert row.created_at == NOW and row.under_warranty is True
    assert db.get(ServiceRequest, theirs).message == "Call Bob on 0699999999"
    # The brand's record of the work stays: it is about the item, not the owner.
    assert db.scalars(select(ServiceEvent.note)).all() == ["Workshop note"]
    assert PRIVACY.export(db, holding.owner_id)["service_requests"][0]["message"] == "(erased)"


def test_the_owners_service_feedback_is_exported_and_its_text_erased(db, owned):
    item, holding = owned
    event = events.record_event(db, item, "polish", NOW, settings=SETTINGS, now=NOW)
    feedback.record_feedback(db, SETTINGS, holding, item.id, event.id, 4, "Call me on 0612",
                             NOW + timedelta(hours=1))
    db.commit()
    assert PRIVACY.export(db, holding.owner_id)["service_feedback"] == [
        {"rating": 4, "text": "Call me on 0612",
         "created_at": (NOW + timedelta(hours=1)).isoformat()}]
    PRIVACY.erase(db, holding.owner_id, NOW + timedelta(days=1))
    db.commit()
    assert PRIVACY.export(db, holding.owner_id)["service_feedback"][0]["text"] == ERASED_MESSAGE
