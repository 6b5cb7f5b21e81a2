"""Ownership services called directly, and the brand's CLI."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.catalog.models import Owner, Ownership
from app.catalog.views import item_view
from app.core.db import make_engine
from app.core.errors import Conflict, Forbidden
from app.ownership import service as svc
from tests.factories import tagged_item

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        ("2026-01-31", 1, "2026-02-28"),
        ("2024-01-31", 1, "2024-02-29"),
        ("2026-11-23", 24, "2028-11-23"),
        ("2026-12-15", 1, "2027-01-15"),
    ],
)
def test_add_months(start: str, months: int, end: str) -> None:
    moment = datetime.fromisoformat(start)
    assert svc.add_months(moment, months).date().isoformat() == end


def test_round_location() -> None:
    assert svc.round_location(48.85661, 2.35222) == (48.9, 2.4)
    with pytest.raises(svc.DomainError):
        svc.round_location(float("nan"), 0)


def test_claim_refuses_unsold_items_and_second_owners(app, db):
    boutique = tagged_item(db, released=False)
    with pytest.raises(Forbidden):
        svc.claim(db, item_view(boutique.item), None, NOW)
    unknown = tagged_item(db, released=None)
    with pytest.raises(Forbidden):
        svc.claim(db, item_view(unknown.item), None, NOW)
    sold = tagged_item(db)
    owner, _ = svc.claim(db, item_view(sold.item), None, NOW)
    db.commit()
    with pytest.raises(Conflict):
        svc.claim(db, item_view(sold.item), None, NOW)
    assert svc.current_holding(db, sold.item_id).owner_id == owner.id


def test_lifecycle_fact_reads_real_state(app, db):
    tag = tagged_item(db, attributes={"warranty_months": 12})
    view = item_view(tag.item)
    owner, _ = svc.claim(db, view, None, NOW)
    svc.activate_warranty(db, view, NOW)
    db.commit()
    db.expire_all()
    later = NOW.replace(month=12)
    state = svc.lifecycle(db, item_view(tag.item), owner.id)
    fact = svc.lifecycle_fact(state, later)
    assert fact["ownership.state"] == "owned"
    assert fact["ownership.ordinal"] == 1
    assert fact["ownership.days"] == 30
    assert fact["owner.is_current"] is True
    assert fact["warranty.active"] is True
    assert fact["warranty.days_left"] == 365 - 30
    stranger = svc.lifecycle_fact(svc.lifecycle(db, item_view(tag.item), None), later)
    assert stranger["owner.is_current"] is False and stranger["owner.is_previous"] is False


def test_concurrent_claims_on_one_item_one_wins(app, db):
    """Two transactions claim at once; the unique index on current ownership decides."""
    tag = tagged_item(db)
    view = item_view(tag.item)
    engine = make_engine(app.config["DATABASE_URL"])
    first = Session(engine)
    svc.claim(first, view, None, NOW)  # holds its row/lock until commit
    outcome: dict[str, object] = {}

    def second() -> None:
        with Session(engine) as other:
            try:
                svc.claim(other, view, None, NOW)
                other.commit()
                outcome["second"] = "won"
            except Conflict:
                other.rollback()
                outcome["second"] = "conflict"

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(0.3)  # PostgreSQL: the second waits on the first's index entry
    first.commit()
    first.close()
    thread.join(10)
    engine.dispose()
    assert outcome["second"] == "conflict"
    assert len(db.scalars(select(Ownership).where(Ownership.item_id == tag.item_id)).all()) == 1
    # The loser's new owner would own nothing: it is not left behind.
    assert db.scalar(select(func.count()).select_from(Owner)) == 1


def test_items_cli(app, db, runner):
    tag = tagged_item(db, released=False)
    gtin, serial = tag.item.product.gtin, tag.item.serial
    result = runner.invoke(args=["items", "release", gtin, serial, "--source", "pos"])
    assert result.exit_code == 0 and "released" in result.output
    again = runner.invoke(args=["items", "release", gtin, serial])
    assert "already released" in again.output
    missing = runner.invoke(args=["items", "release", gtin, "NOPE"])
    assert missing.exit_code == 1 and "No item" in missing.output

    result = runner.invoke(args=["items", "reassign", gtin, serial, "--reason", "gift"])
    assert result.exit_code == 0 and "owner #1" in result.output
    result = runner.invoke(args=["items", "stolen", gtin, serial, "--reason", "police"])
    assert result.exit_code == 0
    shown = json.loads(runner.invoke(args=["items", "show", gtin, serial]).output)
    assert shown["stolen"] is True
    assert [h["began_by"] for h in shown["history"]] == ["brand"]
    assert [a["action"] for a in shown["audit"]] == ["release", "reassign", "stolen"]


def test_previous_owner_is_known_after_a_transfer(app, db):
    tag = tagged_item(db)
    view = item_view(tag.item)
    seller, _ = svc.claim(db, view, None, NOW)
    token, _offer = svc.create_offer(db, app.config, view, seller, NOW)
    buyer, ordinal = svc.accept_offer(db, token, view, None, NOW)
    db.commit()
    assert ordinal == 2
    old = svc.lifecycle_fact(svc.lifecycle(db, view, seller.id), NOW)
    assert (old["owner.is_current"], old["owner.is_previous"]) == (False, True)
    new = svc.lifecycle_fact(svc.lifecycle(db, view, buyer.id), NOW)
    assert (new["owner.is_current"], new["ownership.ordinal"]) == (True, 2)
    with pytest.raises(Conflict):
        svc.accept_offer(db, token, view, None, NOW)


def test_month_streak_counts_consecutive_months_with_an_owner_tap(app, db):
    tag = tagged_item(db)
    view = item_view(tag.item)
    jan = datetime(2026, 1, 20, tzinfo=UTC)
    owner, _ = svc.claim(db, view, None, jan)
    db.commit()

    def tap_on(moment: datetime) -> int:
        state = svc.lifecycle(db, view, owner.id, count_tap=True, at=moment)
        db.commit()
        return svc.lifecycle_fact(state, moment)["ownership.month_streak"]

    assert tap_on(jan.replace(day=25)) == 1  # same month as the claim
    assert tap_on(datetime(2026, 2, 3, tzinfo=UTC)) == 2
    assert tap_on(datetime(2026, 3, 31, tzinfo=UTC)) == 3
    assert tap_on(datetime(2026, 5, 1, tzinfo=UTC)) == 1  # April skipped: starts again
    assert tap_on(datetime(2026, 12, 1, tzinfo=UTC)) == 1
    assert tap_on(datetime(2027, 1, 2, tzinfo=UTC)) == 2  # across the year


def test_regular_use_earns_loyalty_points_through_the_tap(app, db, keyring):
    from sqlalchemy import update

    from app.rewards.ledger import balance
    from tests.factories import tap

    tag = tagged_item(db)
    phone = app.test_client()
    tap(phone, db, keyring, tag)
    start = balance(db, db.scalar(select(Ownership.owner_id)))
    # Two months of taps before this one, and the review already done.
    now = datetime.now(UTC)
    db.execute(update(Ownership).values(month_streak=2,
                                        last_tap_month=svc.month_number(now) - 1,
                                        started_at=now - timedelta(days=200)))
    db.commit()
    body = tap(phone, db, keyring, tag, as_json=True).get_json()
    assert body["experience"]["journey"] == "loyal-owner"
    assert body["reward"]["points"] == 50
    assert balance(db, db.scalar(select(Ownership.owner_id))) == start + 50
