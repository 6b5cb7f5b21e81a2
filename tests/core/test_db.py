"""The database helpers every package shares: the UTC time column, insert-or-ignore, updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from app.catalog.models import Brand, Owner, Ownership
from app.core.clock import utc
from app.core.db import insert_ignore, make_engine, update_rows
from tests.factories import tagged_item

PARIS_WINTER = timezone(timedelta(hours=1))


def test_a_stored_moment_comes_back_aware_in_utc(db):
    # Written in Paris time, read back as the same instant in UTC, on both backends.
    written = datetime(2026, 1, 5, 10, 30, tzinfo=PARIS_WINTER)
    db.add(Brand(slug="tz", name="TZ", created_at=written))
    db.commit()
    db.expire_all()
    stored = db.scalars(select(Brand.created_at).where(Brand.slug == "tz")).one()
    assert stored == datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    assert stored.tzinfo is UTC


def test_a_naive_moment_is_taken_as_utc(db):
    db.add(Brand(slug="naive", name="N", created_at=datetime(2026, 1, 5, 10, 30)))
    db.commit()
    db.expire_all()
    assert db.scalars(select(Brand.created_at).where(Brand.slug == "naive")).one() == datetime(
        2026, 1, 5, 10, 30, tzinfo=UTC)


def test_moments_compare_in_time_order_whatever_zone_they_were_written_in(db):
    # SQLite compares stored text: every value must be stored in UTC for WHERE to be right.
    early = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    late_in_paris = datetime(2026, 1, 5, 10, 30, tzinfo=PARIS_WINTER)  # 09:30 UTC
    db.add_all([Brand(slug="a", name="A", created_at=early),
                Brand(slug="b", name="B", created_at=late_in_paris)])
    db.commit()
    cutoff = datetime(2026, 1, 5, 10, 15, tzinfo=PARIS_WINTER)  # 09:15 UTC
    after = db.scalars(select(Brand.slug).where(Brand.created_at > cutoff)).all()
    assert after == ["b"]


def test_insert_ignore_inserts_once_then_reports_nothing(db):
    values = {"slug": "once", "name": "Once", "created_at": datetime(2026, 1, 1, tzinfo=UTC)}
    assert insert_ignore(db, Brand.__table__, values) == 1
    assert insert_ignore(db, Brand.__table__, {**values, "name": "Twice"}) == 0
    assert insert_ignore(db, Brand.__table__, {**values, "slug": "x"}, returning=Brand.id) > 0
    assert insert_ignore(db, Brand.__table__, values, returning=Brand.id) is None
    db.commit()
    assert db.scalars(select(Brand.name).where(Brand.slug == "once")).all() == ["Once"]


def test_insert_ignore_on_a_partial_unique_index(db):
    # At most one current ownership per item: the second current one is ignored, an ended one
    # for the same item is not.
    tag = tagged_item(db)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    owners = [insert_ignore(db, Owner.__table__, {"public_id": f"p{i}", "created_at": at,
                                                  "email_opt_in": False},
                            returning=Owner.id) for i in range(3)]
    target = {"index_elements": (Ownership.item_id,), "index_where": Ownership.ended_at.is_(None)}

    def ownership(owner_id: int, ordinal: int, ended_at: datetime | None) -> int | None:
        return insert_ignore(db, Ownership.__table__, {
            "item_id": tag.item_id, "owner_id": owner_id, "ordinal": ordinal,
            "began_by": "first_tap", "started_at": at, "ended_at": ended_at, "ended_by": None,
            "owner_taps": 0, "month_streak": 0, "last_tap_month": None,
        }, returning=Ownership.id, **target)

    assert ownership(owners[0], 1, None) is not None
    assert ownership(owners[1], 2, None) is None
    assert ownership(owners[2], 3, at) is not None
    db.commit()


def test_update_rows_counts_only_the_rows_the_condition_matched(db):
    db.add_all([Brand(slug="u1", name="old"), Brand(slug="u2", name="old")])
    db.commit()
    assert update_rows(db, update(Brand).where(Brand.name == "old").values(name="new")) == 2
    assert update_rows(db, update(Brand).where(Brand.name == "old").values(name="x")) == 0
    db.commit()


@settings(max_examples=200)
@given(st.datetimes(timezones=st.timezones()))
def test_utc_keeps_the_instant(moment):
    # Compared as POSIX instants: == between zones is not an instant comparison for local times
    # that a DST change skips.
    assert utc(moment).timestamp() == moment.timestamp()
    assert utc(moment).utcoffset() == timedelta(0)


@given(st.datetimes())
def test_utc_reads_a_naive_moment_as_utc(moment):
    assert utc(moment) == moment.replace(tzinfo=UTC)


def test_an_autocommit_connection_commits_each_statement(app, db):
    """What an autocommit connection writes is durable at once, on both backends: others see it
    without a commit (a worker's hand-over mark relies on it), and it holds no lock."""
    owner = Owner(public_id="autocommit-owner")
    db.add(owner)
    db.commit()
    engine = make_engine(app.config["DATABASE_URL"])
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(update(Owner).where(Owner.id == owner.id).values(email_opt_in=True))
            with engine.connect() as other:
                assert other.scalar(select(Owner.email_opt_in).where(Owner.id == owner.id))
                # No lock left behind: another writer goes at once.
                other.execute(update(Owner).where(Owner.id == owner.id)
                              .values(email_opt_in=False))
                other.commit()
    finally:
        engine.dispose()
