"""Failed taps: one hourly cap on detail rows across every verdict, and a retention command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from app.core.clock import now
from app.verify.models import FailedTapHour, TapEvent
from app.verify.service import GENUINE, INVALID, REPLAYED, prune_failed_taps
from tests.factories import tagged_item, tap_url


def verdicts(db) -> list[str]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return sorted(db.scalars(select(TapEvent.verdict)).all())


def hourly_counts(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {row.verdict: row.count for row in db.execute(
        select(FailedTapHour.verdict, FailedTapHour.count))}


def test_the_hourly_detail_cap_counts_every_failed_verdict_together(app, client, db, keyring):
    app.config["FAILED_TAP_DETAIL_PER_HOUR"] = 4
    tag = tagged_item(db)
    for i in range(3):
        assert client.get(f"/t?picc_data={i:032X}&cmac={i:016X}").status_code == 400
        url = tap_url(db, keyring, tag)
        assert client.get(url).status_code == 200
        assert client.get(url).status_code != 200  # the same tap again: a replay
    kept = verdicts(db)
    # Six failed taps of two verdicts, a cap of four for the hour: four detail rows in all.
    assert kept.count(GENUINE) == 3
    assert len([v for v in kept if v != GENUINE]) == 4
    # The counts keep growing past the cap, each verdict on its own.
    assert hourly_counts(db) == {INVALID: 3, REPLAYED: 3}
    # Past the cap, genuine taps are still recorded in full.
    assert client.get(tap_url(db, keyring, tag)).status_code == 200
    assert verdicts(db).count(GENUINE) == 4


def add_event(db, verdict: str, at: datetime) -> int:  # type: ignore[no-untyped-def]
    event_id: int = db.execute(insert(TapEvent).returning(TapEvent.id),
                               {"at": at, "verdict": verdict, "reason": "test"}).scalar_one()
    return event_id


def seed_log(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Add a tap log spanning a year; return the event ids by name."""
    old, recent = now() - timedelta(days=200), now() - timedelta(days=10)
    ids = {
        "old_genuine": add_event(db, GENUINE, old),
        "old_invalid": add_event(db, INVALID, old),
        "old_replayed": add_event(db, REPLAYED, old),
        "recent_invalid": add_event(db, INVALID, recent),
        "recent_genuine": add_event(db, GENUINE, recent),
    }
    db.execute(insert(FailedTapHour), [
        {"hour": old.replace(minute=0, second=0, microsecond=0), "verdict": INVALID, "count": 9},
        {"hour": recent.replace(minute=0, second=0, microsecond=0), "verdict": INVALID,
         "count": 1},
    ])
    db.commit()
    return ids


def remaining(db) -> set[int]:  # type: ignore[no-untyped-def]
    db.expire_all()
    return set(db.scalars(select(TapEvent.id)).all())


def test_prune_deletes_old_failed_details_and_keeps_genuine_taps_and_counts(app, db):
    ids = seed_log(db)
    assert prune_failed_taps(db, now() - timedelta(days=90)) == 2
    db.commit()
    assert remaining(db) == {ids["old_genuine"], ids["recent_invalid"], ids["recent_genuine"]}
    assert sorted(row.count for row in db.execute(select(FailedTapHour.count))) == [1, 9]


def test_prune_keeps_rows_exactly_at_the_retention_boundary(app, db):
    at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    kept = add_event(db, INVALID, at)
    gone = add_event(db, INVALID, at - timedelta(seconds=1))
    db.commit()
    assert prune_failed_taps(db, at) == 1
    db.commit()
    assert kept in remaining(db) and gone not in remaining(db)


def test_taps_prune_command(app, db, runner):
    ids = seed_log(db)
    result = runner.invoke(args=["taps", "prune", "--older-than", "90d"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("2 failed tap detail row(s) before ")
    assert remaining(db) == {ids["old_genuine"], ids["recent_invalid"], ids["recent_genuine"]}
    # A shorter retention reaches the recent failed tap too; genuine taps never go.
    assert runner.invoke(args=["taps", "prune", "--older-than", "5"]).exit_code == 0
    assert remaining(db) == {ids["old_genuine"], ids["recent_genuine"]}


def test_taps_prune_refuses_a_retention_it_cannot_read_and_deletes_nothing(app, db, runner):
    ids = seed_log(db)
    for bad in ("0d", "-5d", "90 days", "1y", ""):
        result = runner.invoke(args=["taps", "prune", "--older-than", bad])
        assert result.exit_code == 2 and "give whole days, e.g. 90d" in result.output, bad
    assert remaining(db) == set(ids.values())
