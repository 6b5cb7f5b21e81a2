"""``/admin/alerts``: the brand's integrity alerts for its staff, on both backends. Listed
newest first with their words, filtered, paginated; acknowledged once by a form with its CSRF
token; another brand's alert is a 404; signed-out visitors get the sign-in page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.core.audit import AuditEntry
from app.core.staff import MARKETER, SERVICE, TILL
from app.insights.models import Alert
from tests.admin.helpers import BRAND_A, BRAND_B, sign_in_as, staff_member
from tests.factories import csrf, tagged_item

AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def alert(db, brand: str, kind: str = "off_market", at: datetime = AT,  # type: ignore[no-untyped-def]
          serial: str | None = None, detail: dict | None = None) -> Alert:  # type: ignore[type-arg]
    tag = tagged_item(db, brand=brand, serial=serial, category="watch")
    row = Alert(brand_id=tag.item.product.brand_id, item_id=tag.item.id, kind=kind,
                day=at.date(), at=at, detail=detail or {"first": "JP", "second": "FR"})
    db.add(row)
    db.commit()
    return row


@pytest.fixture
def signed_in(app, db):  # type: ignore[no-untyped-def]
    """A client signed in as brand A's after-sales staff; returns (client, user)."""
    def sign(role: str = SERVICE):  # type: ignore[no-untyped-def]
        brand_id = alert(db, BRAND_A, serial="SEED-A").brand_id
        user = staff_member(db, brand_id, role, password=None)
        client = app.test_client()
        sign_in_as(client, user)
        return client, user
    return sign


def page(client, query: str = "") -> str:  # type: ignore[no-untyped-def]
    response = client.get(f"/admin/alerts{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_data(as_text=True)


def test_the_list_shows_each_alert_in_words_newest_first(app, db, signed_in):
    client, _ = signed_in()
    alert(db, BRAND_A, "clone_suspect", AT + timedelta(hours=2), serial="CLONE-1",
          detail={"first": "FR", "second": "JP", "gap_seconds": 3600, "needed_seconds": 43200})
    alert(db, BRAND_A, "stolen_seen", AT + timedelta(hours=1), serial="STOLEN-1",
          detail={"first": "US"})
    text = page(client)
    assert "Possible copied chip" in text and "Stolen item seen" in text
    assert "Tapped outside its market (grey market)" in text
    assert ("Genuine taps in France then Japan only 60 minutes apart, when the trip takes at "
            "least 12 hours") in text
    assert "This item, reported stolen, was tapped in United States." in text
    assert "Test watch" in text
    assert text.index("CLONE-1") < text.index("STOLEN-1") < text.index("SEED-A")
    # The staff nav links to it.
    assert 'href="/admin/alerts"' in page(client)


def test_filters_by_kind_and_state_and_refuses_what_it_does_not_know(app, db, signed_in):
    client, _ = signed_in()
    stolen = alert(db, BRAND_A, "stolen_seen", serial="STOLEN-1")
    assert "SEED-A" not in page(client, "?kind=stolen_seen")
    assert "STOLEN-1" in page(client, "?kind=stolen_seen")
    assert "STOLEN-1" not in page(client, "?kind=off_market")
    client.post(f"/admin/alerts/{stolen.id}/ack", data={"csrf_token": csrf(client)})
    opened, done = page(client, "?state=open"), page(client, "?state=acknowledged")
    assert "SEED-A" in opened and "STOLEN-1" not in opened
    assert "STOLEN-1" in done and "SEED-A" not in done
    for bad in ("?kind=nope", "?state=closed"):
        refused = client.get(f"/admin/alerts{bad}")
        assert refused.status_code == 400


def test_pages_of_fifty(app, db, signed_in):
    client, _ = signed_in()
    brand_id = db.scalar(select(Alert.brand_id))
    first = db.scalar(select(Alert.item_id))
    for n in range(60):  # one item, a different day each: one alert per item, kind and day
        at = AT - timedelta(days=n + 1)
        db.add(Alert(brand_id=brand_id, item_id=first, kind="clone_suspect", day=at.date(),
                     at=at, detail={}))
    db.commit()
    one, two = page(client), page(client, "?page=2")
    assert one.count('id="alert-') == 50 and two.count('id="alert-') == 11
    assert "Page 1 of 2" in one and "Page 2 of 2" in two
    assert page(client, "?page=99").count('id="alert-') == 11  # past the end: the last page


def test_acknowledge_once_then_say_it_already_was(app, db, signed_in):
    client, user = signed_in()
    target = db.scalar(select(Alert))
    assert target is not None
    done = client.post(f"/admin/alerts/{target.id}/ack", data={"csrf_token": csrf(client)})
    assert done.status_code == 200
    assert "The alert is acknowledged." in done.get_data(as_text=True)
    db.expire_all()
    row = db.get_one(Alert, target.id)
    assert row.acknowledged_by == f"staff:{user.id}" and row.acknowledged_at is not None
    first_at = row.acknowledged_at
    again = client.post(f"/admin/alerts/{target.id}/ack", data={"csrf_token": csrf(client)})
    assert again.status_code == 200
    assert "already acknowledged: nothing changed" in again.get_data(as_text=True)
    db.expire_all()
    assert db.get_one(Alert, target.id).acknowledged_at == first_at
    audits = list(db.scalars(select(AuditEntry).where(AuditEntry.action == "alert_ack")))
    assert [(a.actor, a.item_id, a.detail) for a in audits] == [
        (f"staff:{user.id}", target.item_id, {"alert_id": target.id})]


def test_an_acknowledgement_without_the_csrf_token_is_refused(app, db, signed_in):
    client, _ = signed_in()
    target = db.scalar(select(Alert))
    assert target is not None
    for data in ({}, {"csrf_token": "forged"}):
        refused = client.post(f"/admin/alerts/{target.id}/ack", data=data)
        assert refused.status_code == 400
    db.expire_all()
    assert db.get_one(Alert, target.id).acknowledged_at is None


def test_another_brands_alert_is_not_found_and_left_alone(app, db, signed_in):
    client, _ = signed_in()
    theirs = alert(db, BRAND_B, serial="BBB-1")
    assert "BBB-1" not in page(client)
    for path in (f"/admin/alerts/{theirs.id}/ack", "/admin/alerts/999999/ack",
                 f"/admin/alerts/{theirs.id}/ack?brand={BRAND_B}"):
        missing = client.post(path, data={"csrf_token": csrf(client)})
        assert missing.status_code == 404, path
    assert client.get(f"/admin/alerts?brand={BRAND_B}").status_code == 404
    db.expire_all()
    assert db.get_one(Alert, theirs.id).acknowledged_at is None
    assert db.scalar(select(func.count()).select_from(AuditEntry)
                     .where(AuditEntry.action == "alert_ack")) == 0


def test_roles_marketers_read_only_tills_nothing(app, db, signed_in):
    client, _ = signed_in(MARKETER)
    target = db.scalar(select(Alert))
    assert target is not None
    text = page(client)
    assert "SEED-A" in text and "Acknowledge</button>" not in text
    refused = client.post(f"/admin/alerts/{target.id}/ack", data={"csrf_token": csrf(client)})
    assert refused.status_code == 403
    till = app.test_client()
    sign_in_as(till, staff_member(db, target.brand_id, TILL, password=None))
    assert till.get("/admin/alerts").status_code == 403
    db.expire_all()
    assert db.get_one(Alert, target.id).acknowledged_at is None


def test_sign_in_is_required(app, db, signed_in):
    signed_in()  # an account exists, so the brand side exists
    target = db.scalar(select(Alert))
    assert target is not None
    anonymous = app.test_client()
    shown = anonymous.get("/admin/alerts")
    assert shown.status_code == 401 and "SEED-A" not in shown.get_data(as_text=True)
    refused = anonymous.post(f"/admin/alerts/{target.id}/ack",
                             data={"csrf_token": csrf(anonymous)})
    assert refused.status_code == 401
    db.expire_all()
    assert db.get_one(Alert, target.id).acknowledged_at is None
