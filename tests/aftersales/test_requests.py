"""Service requests, called directly: warranty, validation, caps, pre-fill and listings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.aftersales import events, requests
from app.aftersales.models import ServiceRequest
from app.catalog.access import NotOwner
from app.catalog.holdings import current_holding
from app.catalog.models import Owner
from app.catalog.views import item_view
from app.core.audit import AuditEntry
from app.core.errors import Conflict, DomainError, NotFound
from app.ownership.brand import reassign
from tests.aftersales.conftest import SETTINGS, fresh
from tests.factories import tagged_item

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def count(db, model) -> int:  # type: ignore[no-untyped-def]
    return db.scalar(select(func.count()).select_from(model))


def audits(db, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_request_is_recorded_with_warranty_and_audited_without_the_message(db, owned):
    item, holding = owned
    req = requests.create_request(db, item_view(item), holding, "repair",
                                  "  The clasp broke, call me on 0612345678  ", NOW)
    db.commit()
    row = db.get(ServiceRequest, req.id)
    assert (row.kind, row.status, row.under_warranty) == ("repair", "open", True)
    assert row.message == "The clasp broke, call me on 0612345678"
    assert row.ownership_id == holding.id
    (entry,) = audits(db, "service_request")
    assert (entry.actor, entry.item_id, entry.owner_id) == ("owner", item.id, holding.owner_id)
    assert "0612345678" not in str(entry.detail) and "clasp" not in str(entry.detail)
    assert requests.reference(req.id) == f"SR-{req.id:06d}"


def test_request_after_the_warranty_ended_is_not_under_warranty(db, owned):
    item, holding = owned
    after = item.warranty_ends_at.replace(tzinfo=UTC)  # the end itself is outside
    req = requests.create_request(db, item_view(fresh(db, item)), holding, "cleaning", "Dull",
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
        requests.create_request(db, item_view(item), holding, kind, message, NOW)
    db.rollback()
    assert count(db, ServiceRequest) == 0
    assert audits(db, "service_request") == []


def test_request_message_of_exactly_2000_characters_fits(db, owned):
    item, holding = owned
    req = requests.create_request(db, item_view(item), holding, "other", "y" * 2000, NOW)
    assert len(req.message) == 2000
    # A browser's maxlength counts a line break as one character but sends CRLF.
    text = "\r\n".join(["z" * 999, "z" * 1000])
    req = requests.create_request(db, item_view(item), holding, "other", text, NOW)
    assert req.message == "z" * 999 + "\n" + "z" * 1000


def test_only_a_current_holding_can_request(db, owned):
    item, holding = owned
    with pytest.raises(NotOwner):
        requests.create_request(db, item_view(item), None, "repair", "Broken", NOW)
    # The item changed hands after the page was opened: the old holding can no longer ask.
    reassign(db, item, None, NOW, actor="admin", reason="sold back to the boutique")
    db.commit()
    with pytest.raises(NotOwner):
        requests.create_request(db, item_view(item), holding, "repair", "Broken", NOW)
    db.rollback()
    assert count(db, ServiceRequest) == 0


def test_resubmitting_returns_the_same_request_and_open_requests_are_capped(db, owned):
    item, holding = owned
    view = item_view(item)
    first = requests.create_request(db, view, holding, "repair", "Broken", NOW)
    again = requests.create_request(db, view, holding, "repair", " Broken ", NOW)
    assert again.id == first.id
    for n in range(requests.MAX_OPEN_REQUESTS - 1):
        requests.create_request(db, view, holding, "other", f"Question {n}", NOW)
    db.commit()
    with pytest.raises(Conflict, match="open service requests"):
        requests.create_request(db, view, holding, "other", "One more", NOW)
    db.rollback()
    assert count(db, ServiceRequest) == requests.MAX_OPEN_REQUESTS


def test_prefill_shows_item_warranty_history_and_only_a_verified_email(db, owned):
    item, holding = owned
    owner = db.get(Owner, holding.owner_id)
    owner.email = "ines@example.com"
    db.commit()
    events.record_event(db, item, "full service", datetime(2026, 4, 1, tzinfo=UTC),
                        settings=SETTINGS, now=NOW)
    db.commit()
    view = item_view(fresh(db, item))
    prefill = requests.request_prefill(db, view, owner, NOW)
    assert prefill["owner_email"] is None  # not confirmed: it may be a typo
    assert (prefill["product"], prefill["serial"], prefill["gtin"]) == (
        "Test watch", item.serial, view.product.gtin)
    assert prefill["warranty_active"] is True
    assert prefill["warranty_ends_at"] == datetime(2028, 1, 10, 9, 0, tzinfo=UTC)
    assert [e.kind for e in prefill["history"]] == ["full service"]
    assert prefill["kinds"] == requests.SERVICE_KINDS
    owner.email_verified_at = NOW
    db.commit()
    req = requests.create_request(db, view, current_holding(db, item.id), "repair", "Broken", NOW)
    db.commit()
    prefill = requests.request_prefill(db, view, owner, NOW)
    assert prefill["owner_email"] == "ines@example.com"
    assert prefill["open_requests"] == [(requests.reference(req.id), "repair", NOW)]


def test_requests_are_listed_by_status_and_brand(db, owned):
    item, holding = owned
    other = tagged_item(db, brand="other-house").item
    from app.ownership.lifecycle import claim

    claim(db, item_view(other), None, NOW)
    db.commit()
    a = requests.create_request(db, item_view(item), holding, "repair", "A", NOW)
    b = requests.create_request(db, item_view(other), current_holding(db, other.id), "cleaning",
                                "B", NOW + timedelta(minutes=1))
    db.commit()
    assert [r.id for r in requests.open_requests(db)] == [a.id, b.id]
    assert [r.id for r in requests.open_requests(db, "other-house")] == [b.id]
    row = requests.open_requests(db, "maison-aurelia")[0]
    assert (row.gtin, row.serial, row.kind, row.message, row.contact_email) == (
        item.product.gtin, item.serial, "repair", "A", None)
    events.record_event(db, item, "repair", NOW, request_id=a.id, settings=SETTINGS, now=NOW)
    db.commit()
    assert [r.id for r in requests.list_requests(db, "done")] == [a.id]
    assert len(requests.list_requests(db, None)) == 2
    with pytest.raises(NotFound):
        requests.open_requests(db, "no-such-brand")
    with pytest.raises(DomainError, match="Status must be"):
        requests.list_requests(db, "pending")
