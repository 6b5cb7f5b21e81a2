"""Rewards reacting to other domains' signals: points for a service, a provenance record and a
take-back, each once per cause, in the sender's transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.catalog.models import Ownership
from app.core import signals
from app.rewards import listeners
from app.rewards.ledger import balance, ledger
from tests.factories import tagged_item
from tests.rewards.helpers import T0, owner

SETTINGS = {"LOYALTY_POINTS": {"service": 50, "provenance": 25, "take_back": 200}}


def owned_item(session: Session) -> tuple[int, int, int]:
    """Return ``(item id, owner id, ownership id)`` of a new item held by a new owner."""
    item_id, owner_id = tagged_item(session).item_id, owner(session)
    holding = Ownership(item_id=item_id, owner_id=owner_id, ordinal=1, began_by="first_tap",
                        started_at=T0)
    session.add(holding)
    session.commit()
    return item_id, owner_id, holding.id


def returned(results, listener):  # type: ignore[no-untyped-def]
    """Return what ``listener`` returned among a signal's ``send`` results."""
    values = [value for receiver, value in results if receiver is listener]
    assert len(values) == 1, "the listener is connected exactly once"
    return values[0]


def test_a_service_credits_the_items_current_owner_once_per_event(app, db):
    item_id, owner_id, _ = owned_item(db)
    sent = signals.service_recorded.send(db, settings=SETTINGS, item_id=item_id, event_id=7,
                                         at=T0)
    db.commit()
    assert returned(sent, listeners.on_service_recorded).points == 50
    assert balance(db, owner_id, "maison-aurelia") == 50
    again = signals.service_recorded.send(db, settings=SETTINGS, item_id=item_id, event_id=7,
                                          at=T0)
    assert returned(again, listeners.on_service_recorded) is None
    signals.service_recorded.send(db, settings=SETTINGS, item_id=item_id, event_id=8, at=T0)
    db.commit()
    assert balance(db, owner_id, "maison-aurelia") == 100
    assert [(e.cause_type, e.cause_id) for e in ledger(db, owner_id)] == [
        ("service", "7"), ("service", "8")]


def test_a_service_on_an_unowned_item_earns_nothing(app, db):
    item_id = tagged_item(db).item_id
    sent = signals.service_recorded.send(db, settings=SETTINGS, item_id=item_id, event_id=1,
                                         at=T0)
    assert returned(sent, listeners.on_service_recorded) is None


def test_provenance_earns_once_per_ownership_not_per_record(app, db):
    _, owner_id, ownership_id = owned_item(db)
    for record_id in ("rec-1", "rec-2"):
        signals.provenance_issued.send(db, settings=SETTINGS, owner_id=owner_id,
                                       ownership_id=ownership_id, record_id=record_id, at=T0)
    db.commit()
    assert balance(db, owner_id, "maison-aurelia") == 25
    assert [(e.cause_type, e.cause_id) for e in ledger(db, owner_id)] == [
        ("provenance", str(ownership_id))]


def test_a_take_back_returns_its_entry_to_the_sender_once(app, db):
    item_id, owner_id, _ = owned_item(db)
    sent = signals.item_taken_back.send(db, settings=SETTINGS, item_id=item_id,
                                        owner_id=owner_id, at=T0)
    db.commit()
    entry = returned(sent, listeners.on_item_taken_back)
    assert entry.points == 200 and entry.cause_type == "take_back"
    assert entry.cause_id == str(item_id)
    again = signals.item_taken_back.send(db, settings=SETTINGS, item_id=item_id,
                                         owner_id=owner_id, at=T0)
    assert returned(again, listeners.on_item_taken_back) is None
    assert balance(db, owner_id, "maison-aurelia") == 200


def test_behaviour_worth_no_points_earns_nothing(app, db):
    item_id, owner_id, _ = owned_item(db)
    sent = signals.item_taken_back.send(db, settings={"LOYALTY_POINTS": {}}, item_id=item_id,
                                        owner_id=owner_id, at=T0)
    assert returned(sent, listeners.on_item_taken_back) is None
    assert balance(db, owner_id, "maison-aurelia") == 0


def test_connecting_again_does_not_double_the_listeners(app, db):
    listeners.connect()
    listeners.connect()
    item_id, owner_id, _ = owned_item(db)
    sent = signals.service_recorded.send(db, settings=SETTINGS, item_id=item_id, event_id=3,
                                         at=T0)
    assert returned(sent, listeners.on_service_recorded).points == 50
    assert balance(db, owner_id, "maison-aurelia") == 50
