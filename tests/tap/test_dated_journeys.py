"""A December-only journey and the calendar facts at a real tap, on the tap's clock.

The ruleset thinks in New York time (UTC-5 in winter), so an implementation that read the dates
in UTC would switch the campaign five hours early at both ends, and count anniversaries on the
wrong day.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from app import create_app
from app.catalog.models import Ownership
from app.verify.service import mint_tap_url
from tests.factories import tagged_item
from tests.tap.test_views import JSON, path_of

NEW_YORK = ZoneInfo("America/New_York")
RULESET = """brand: maison-aurelia
timezone: America/New_York
journeys:
  - id: claim
    priority: 40
    when: {ownership.state: unclaimed}
    do: [claim_ownership]
    experience: authenticity
  - id: anniversary
    priority: 30
    when: {owner.is_current: true, ownership.anniversary_days: 0}
    experience: authenticity
  - id: december
    priority: 20
    from: 2026-12-01
    until: 2026-12-31
    experience: authenticity
  - id: everyday
    priority: 0
    experience: authenticity
"""


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)  # type: ignore[misc]


def dated_app(settings, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """Yield (app serving RULESET, clock): set ``clock[0]`` to move the taps' moment."""
    rules_dir = tmp_path / "rulesets"
    rules_dir.mkdir()
    (rules_dir / "maison-aurelia.yaml").write_text(RULESET)
    app = create_app({**settings, "RULESETS_DIR": str(rules_dir)})
    clock = [datetime.now(UTC)]
    # The tap's clock: the moment a tap happens is read once, at the request boundary.
    monkeypatch.setattr("app.tap.views.now", lambda: clock[0])
    yield app, clock
    app.extensions["aftertap.db"].engine.dispose()


@pytest.fixture
def dated(settings, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    yield from dated_app(settings, tmp_path, monkeypatch)


def _journey(client, db, keyring, tag) -> str:  # type: ignore[no-untyped-def]
    url = path_of(mint_tap_url(db, keyring, tag, "http://localhost"))
    db.commit()
    body = client.get(url, headers=JSON).get_json()
    assert body["verdict"] == "genuine", body
    return str(body["experience"]["journey"])


@pytest.mark.parametrize(("moment", "journey"), [
    (local(2026, 11, 30, 23, 59), "everyday"),   # 04:59 UTC on 1 December
    (local(2026, 12, 1, 0, 0), "december"),
    (local(2026, 12, 31, 23, 59), "december"),   # 04:59 UTC on 1 January
    (local(2027, 1, 1, 0, 0), "everyday"),
])
def test_december_journey_follows_the_rulesets_calendar(dated, db, keyring, moment, journey):
    app, clock = dated
    tag = tagged_item(db)
    client = app.test_client()
    clock[0] = local(2026, 6, 1, 12, 0)
    assert _journey(client, db, keyring, tag) == "claim"
    clock[0] = moment
    assert _journey(client, db, keyring, tag) == journey


def test_anniversary_falls_on_the_rulesets_day(dated, db, keyring):
    app, clock = dated
    tag = tagged_item(db)
    client = app.test_client()
    clock[0] = local(2025, 12, 31, 23, 30)
    assert _journey(client, db, keyring, tag) == "claim"
    # Claimed at 23:30 on 31 December in New York: already 1 January in UTC.
    db.execute(update(Ownership).where(Ownership.item_id == tag.item_id)
               .values(started_at=local(2025, 12, 31, 23, 30).astimezone(UTC)))
    db.commit()
    clock[0] = local(2026, 12, 30, 12, 0)
    assert _journey(client, db, keyring, tag) == "december"  # one day to go
    clock[0] = local(2026, 12, 31, 12, 0)
    assert _journey(client, db, keyring, tag) == "anniversary"
    clock[0] = local(2027, 1, 1, 12, 0)
    assert _journey(client, db, keyring, tag) == "everyday"
