"""The owner's effective time zone: their own setting, else their tap country's, else the
ruleset's; local due times across DST; the lead a message job runs ahead by; the zones of a chunk
of ownerships read in one query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, update

from app.catalog.models import Owner
from app.messages.zones import choices, effective_zone, label, local_due, message_lead, zones_of
from tests.messages.helpers import SLOT, owned_serum, tapped

PARIS, TOKYO, NEW_YORK = ZoneInfo("Europe/Paris"), ZoneInfo("Asia/Tokyo"), ZoneInfo(
    "America/New_York")


def test_the_owners_own_zone_wins_then_the_tap_country_then_the_ruleset():
    assert effective_zone("Asia/Tokyo", "US", "Europe/Paris") == TOKYO
    assert effective_zone(None, "US", "Europe/Paris") == NEW_YORK
    assert effective_zone(None, "ZZ", "Europe/Paris") == PARIS  # a country with no known zone
    assert effective_zone(None, None, "Europe/Paris") == PARIS
    # A stored name that is not (or no longer) a zone falls back instead of failing delivery.
    assert effective_zone("Mars/Olympus_Mons", "JP", "Europe/Paris") == TOKYO
    assert effective_zone("../../etc/passwd", None, "Europe/Paris") == PARIS


def test_nine_in_the_rulesets_zone_is_nine_on_the_same_date_in_the_owners():
    # SLOT is 09:00 in Paris on 1 December.
    assert local_due(SLOT, "Europe/Paris", TOKYO) == datetime(2026, 12, 1, 0, tzinfo=UTC)
    assert local_due(SLOT, "Europe/Paris", NEW_YORK) == datetime(2026, 12, 1, 14, tzinfo=UTC)
    assert local_due(SLOT, "Europe/Paris", PARIS) == SLOT
    # Kiribati (UTC+14) is where 1 December 09:00 happens first: 30 November, 19:00 UTC.
    assert local_due(SLOT, "Europe/Paris", ZoneInfo("Pacific/Kiritimati")) == datetime(
        2026, 11, 30, 19, tzinfo=UTC)


def test_a_skipped_wall_time_moves_to_the_end_of_the_gap_and_a_repeated_one_takes_the_first():
    # New York skips 02:00-03:00 on 14 March 2027: 02:30 becomes 03:00 EDT (07:00 UTC).
    spring = datetime(2027, 3, 14, 2, 30, tzinfo=UTC)  # 02:30 on the ruleset's (UTC) clock
    assert local_due(spring, "UTC", NEW_YORK) == datetime(2027, 3, 14, 7, 0, tzinfo=UTC)
    # New York has 01:30 twice on 1 November 2026: the first (EDT, 05:30 UTC).
    autumn = datetime(2026, 11, 1, 1, 30, tzinfo=UTC)
    assert local_due(autumn, "UTC", NEW_YORK) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_a_message_job_runs_early_enough_for_utc_plus_14():
    paris = message_lead("Europe/Paris")
    assert paris(SLOT) == timedelta(hours=13)  # winter: UTC+1
    assert paris(datetime(2026, 7, 1, 7, tzinfo=UTC)) == timedelta(hours=12)  # summer: UTC+2
    assert message_lead("Pacific/Kiritimati")(SLOT) == timedelta(0)
    assert message_lead("Pacific/Pago_Pago")(SLOT) == timedelta(hours=25)  # UTC-11
    # The lead brings every slot's run time to its wall time in UTC+14.
    assert SLOT - paris(SLOT) == local_due(SLOT, "Europe/Paris", ZoneInfo("Etc/GMT-14"))


def test_owners_choose_from_area_city_zones_in_words():
    names = dict(choices())
    assert names["Europe/Paris"] == "Europe · Paris"
    assert label("America/Argentina/Buenos_Aires") == "America · Argentina · Buenos Aires"
    assert "Etc/GMT-14" not in names and "UTC" not in names and "US/Eastern" not in names
    assert list(names) == sorted(names)


def test_the_zones_of_a_chunk_are_read_in_one_query(app, db):
    chose = owned_serum(db)
    db.execute(update(Owner).where(Owner.id == chose.owner_id).values(timezone="Asia/Tokyo"))
    db.commit()
    travelled = owned_serum(db)
    tapped(db, travelled.item_id, SLOT - timedelta(days=3), "FR")
    tapped(db, travelled.item_id, SLOT - timedelta(days=1), "US")  # the last tap
    tapped(db, travelled.item_id, SLOT - timedelta(days=2), "GB")
    tapped(db, travelled.item_id, SLOT - timedelta(hours=1), None)  # no country: not counted
    nothing = owned_serum(db)
    statements: list[str] = []

    def _count(*args: Any) -> None:
        statements.append(args[2])

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", _count)
    try:
        found = zones_of(db, [chose.ownership_id, travelled.ownership_id, nothing.ownership_id,
                              999_999])
    finally:
        event.remove(engine, "before_cursor_execute", _count)
    assert len(statements) == 1
    assert found == {chose.ownership_id: ("Asia/Tokyo", None),
                     travelled.ownership_id: (None, "US"),
                     nothing.ownership_id: (None, None)}
    assert zones_of(db, []) == {}
