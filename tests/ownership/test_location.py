"""A position only when the person shares it, rounded to 0.1 degree, on their own tap."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.core.errors import DomainError
from app.ownership.location import round_location
from app.verify.models import TapEvent
from tests.factories import item_path, post_form, tagged_item, tap


def test_round_location() -> None:
    assert round_location(48.85661, 2.35222) == (48.9, 2.4)
    with pytest.raises(DomainError):
        round_location(float("nan"), 0)


def test_location_is_only_stored_when_shared_and_rounded(app, db, keyring):
    tag = tagged_item(db)
    client = app.test_client()
    tap(client, db, keyring, tag)
    event = db.scalar(select(TapEvent).where(TapEvent.item_id == tag.item_id))
    assert (event.latitude, event.longitude) == (None, None)

    bad = post_form(client, item_path(tag, "location"), {"latitude": "north", "longitude": "1"})
    assert bad.status_code == 400
    far = post_form(client, item_path(tag, "location"), {"latitude": "123", "longitude": "1"})
    assert far.status_code == 400
    ok = post_form(client, item_path(tag, "location"),
                   {"latitude": "48.85661", "longitude": "2.35222"})
    assert ok.status_code == 200
    db.expire_all()
    event = db.get(TapEvent, event.id)
    assert (event.latitude, event.longitude) == (48.9, 2.4)

    stranger = app.test_client()
    resp = post_form(stranger, item_path(tag, "location"), {"latitude": "1", "longitude": "1"})
    assert resp.status_code == 403
    assert db.scalar(select(func.count()).select_from(TapEvent)
                     .where(TapEvent.latitude.is_not(None))) == 1
