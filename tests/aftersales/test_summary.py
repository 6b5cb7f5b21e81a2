"""The service summary after-sales adds to provenance records, through the sections signal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from app.aftersales import events
from app.aftersales.summary import provenance_section, service_summary
from app.catalog.views import item_view
from app.core.signals import provenance_sections
from tests.aftersales.conftest import SETTINGS, fresh

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_summary_counts_kinds_and_the_last_date_without_notes_or_places(db, owned):
    item, _ = owned
    for kind, days in (("cleaning", 300), ("repair", 200), ("cleaning", 20)):
        events.record_event(db, item, kind, NOW - timedelta(days=days), note="Call Ines",
                            location="Atelier Rue Secrète", settings=SETTINGS, now=NOW)
    db.commit()
    summary = service_summary(db, item_view(fresh(db, item)))
    assert summary == {"count": 3, "last": (NOW - timedelta(days=20)).date().isoformat(),
                       "kinds": ["cleaning", "repair"]}
    assert "Ines" not in json.dumps(summary) and "Atelier" not in json.dumps(summary)


def test_an_item_never_serviced_has_an_empty_summary(db, owned):
    item, _ = owned
    assert service_summary(db, item_view(item)) == {"count": 0, "last": None, "kinds": []}


def test_counters_recorded_without_a_log_are_not_understated(db, owned):
    item, _ = owned
    item.service_count = 4  # e.g. imported from the brand's old system, without events
    item.last_service_at = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)
    db.commit()
    assert service_summary(db, item_view(fresh(db, item))) == {
        "count": 4, "last": "2025-12-31", "kinds": []}


def test_the_app_connects_it_to_the_provenance_sections_signal(app, db, owned):
    item, _ = owned
    view = item_view(item)
    answers = dict(provenance_sections.send(db, item=view))
    assert answers[provenance_section] == {"service": service_summary(db, view)}
