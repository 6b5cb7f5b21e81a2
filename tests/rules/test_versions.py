"""Rulesets published like code: versions in the database, neutral pages, replay."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app import create_app
from app.core.audit import AuditEntry
from app.core.clock import now
from app.journeys.language import holds
from app.rules.models import RulesetVersion
from app.rules.service import parse_ruleset, template_names
from app.rules.versions import PublishRefused, publish, replay, replay_fact
from app.verify.models import TapEvent
from app.verify.service import mint_tap_url
from tests.factories import tagged_item
from tests.tap.test_views import JSON, path_of

REPO = Path(__file__).resolve().parents[2]
LIVE_FILE = REPO / "rulesets" / "maison-aurelia.yaml"
SMALL = """brand: maison-aurelia
journeys:
  - id: {first}
    priority: 10
    when: {{tap.verdict: genuine}}
    experience: welcome_back
  - id: refused
    priority: 0
    experience: not_verified
"""


def tap_journey(app, db, keyring, tag) -> tuple[str | None, str]:  # type: ignore[no-untyped-def]
    url = path_of(mint_tap_url(db, keyring, tag, "http://localhost"))
    db.commit()
    body = app.test_client().get(url, headers=JSON).get_json()
    return body["experience"]["journey"], body["experience"]["template"]


def cli(app, *args: str):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(args=["journeys", *args])


def test_publish_versions_rollback_with_author_and_diff(app, db, tmp_path):
    tagged_item(db)
    first = cli(app, "publish", str(LIVE_FILE), "--author", "alice")
    assert first.exit_code == 0, first.output
    assert "published maison-aurelia version" in first.output
    again = cli(app, "publish", str(LIVE_FILE), "--author", "alice")
    assert "unchanged" in again.output, again.output  # make run publishes at every start

    edited = tmp_path / "maison-aurelia.yaml"
    edited.write_text(LIVE_FILE.read_text().replace("priority: 0\n", "priority: 1\n", 1))
    second = cli(app, "publish", str(edited), "--author", "bob")
    assert second.exit_code == 0, second.output
    assert "-    priority: 0" in second.output and "+    priority: 1" in second.output

    rows = list(db.scalars(select(RulesetVersion).order_by(RulesetVersion.id)))
    assert [r.author for r in rows] == ["alice", "bob"]
    assert rows[1].diff and rows[1].diff.startswith("--- maison-aurelia version")
    listing = cli(app, "versions", "maison-aurelia")
    assert listing.output.splitlines()[0].endswith("LIVE") and "bob" in listing.output

    back = cli(app, "rollback", "maison-aurelia", str(rows[0].id), "--author", "carol")
    assert back.exit_code == 0, back.output
    newest = db.scalars(select(RulesetVersion).order_by(RulesetVersion.id.desc())).first()
    assert newest.text == rows[0].text and newest.note == f"rollback to version {rows[0].id}"
    assert newest.author == "carol"
    actions = list(db.scalars(select(AuditEntry.action)))
    assert actions.count("ruleset_published") == 3
    assert cli(app, "rollback", "maison-aurelia", "999").exit_code == 1


def test_a_brand_typo_or_a_failing_test_is_never_published(app, db, tmp_path):
    tagged_item(db)
    typo = tmp_path / "typo.yaml"
    typo.write_text(LIVE_FILE.read_text().replace("brand: maison-aurelia",
                                                  "brand: maison-aurelie"))
    result = cli(app, "publish", str(typo))
    assert result.exit_code == 1
    assert "brand 'maison-aurelie' is not a brand in the database; did you mean " \
           "'maison-aurelia'?" in result.output
    assert "did you mean" in cli(app, "validate", str(typo)).output
    assert cli(app, "validate", str(typo)).exit_code == 1

    failing = tmp_path / "failing.yaml"
    failing.write_text(LIVE_FILE.read_text().replace(
        "expect: {journey: not-verified}\n", "expect: {journey: care}\n", 1))
    with pytest.raises(PublishRefused, match="of its tests fail"):
        publish(db, failing.read_text(), "failing.yaml", author="x", at=now(),
                experiences=template_names("experiences"), messages=template_names("messages"))
    skipped = cli(app, "publish", "--skip-invalid", str(typo))
    assert skipped.exit_code == 0 and "refused, not published" in skipped.output
    assert db.scalar(select(RulesetVersion.id)) is None


@pytest.fixture
def production(settings, tmp_path):  # type: ignore[no-untyped-def]
    """An app as in production: only published versions serve; its file on disk is broken."""
    rules_dir = tmp_path / "rulesets"
    rules_dir.mkdir()
    (rules_dir / "maison-aurelia.yaml").write_text("brand: maison-aurelia\njourneys: [\n")

    def build():  # type: ignore[no-untyped-def]
        return create_app({**settings, "RULESETS_DIR": str(rules_dir),
                           "RULESETS_SERVE_FILES": False, "RULESETS_RELOAD_SECONDS": 0})

    return build


def test_a_broken_file_never_stops_a_process_and_the_published_version_serves(
        production, db, keyring, caplog):
    tag = tagged_item(db)
    publish(db, SMALL.format(first="published-good"), "maison-aurelia.yaml", author="alice",
            at=now(), experiences={"welcome_back", "not_verified"}, messages=set())
    db.commit()
    app = production()  # boots although the file does not parse
    assert tap_journey(app, db, keyring, tag) == ("published-good", "welcome_back")
    assert "maison-aurelia.yaml refused (maison-aurelia serves published version" in caplog.text
    errors = app.extensions["aftertap.rules"].registry.errors
    assert errors["maison-aurelia.yaml"].serving.startswith("maison-aurelia serves published")

    # A new version is picked up at the next check; an uncompilable one never replaces it.
    publish(db, SMALL.format(first="published-v2"), "maison-aurelia.yaml", author="bob",
            at=now(), experiences={"welcome_back", "not_verified"}, messages=set())
    db.commit()
    assert tap_journey(app, db, keyring, tag)[0] == "published-v2"
    db.add(RulesetVersion(brand="maison-aurelia", source="x.yaml", text="journeys: [",
                          digest="x", author="sql", created_at=now()))
    db.commit()
    assert tap_journey(app, db, keyring, tag)[0] == "published-v2"
    app.extensions["aftertap.db"].engine.dispose()


def test_no_published_ruleset_means_a_neutral_page_never_another_brands(
        production, db, keyring):
    tag = tagged_item(db)
    other = tagged_item(db, brand="north-parka")
    publish(db, SMALL.format(first="aurelia-only"), "maison-aurelia.yaml", author="alice",
            at=now(), experiences={"welcome_back", "not_verified"}, messages=set())
    db.commit()
    app = production()
    assert tap_journey(app, db, keyring, tag)[0] == "aurelia-only"
    assert tap_journey(app, db, keyring, other) == (None, "authenticity")
    app.extensions["aftertap.db"].engine.dispose()


def test_a_tap_records_the_facts_it_was_decided_on(client, db, keyring):
    tag = tagged_item(db, category="serum")
    url = path_of(mint_tap_url(db, keyring, tag, "http://localhost"))
    db.commit()
    client.get(url, headers=JSON)
    facts = json.loads(db.scalars(select(TapEvent.facts)).one())
    assert facts["tap.verdict"] == "genuine" and facts["product.category"] == "serum"
    assert not any(k.startswith("_") for k in facts)


def test_replay_counts_match_the_explainer_on_a_generated_history(app, db, runner, tmp_path):
    rng = random.Random(11)
    tags = [tagged_item(db, category=rng.choice(["serum", "bag", "watch"])) for _ in range(6)]
    live = parse_ruleset(LIVE_FILE.read_text(), "maison-aurelia.yaml")
    draft_text = (LIVE_FILE.read_text()
                  .replace("ownership.days: {gte: 11w}", "ownership.days: {gte: 3w}")
                  .replace("ownership.days: {between: [14d, 120d]}",
                           "ownership.days: {between: [7d, 300d]}"))
    assert draft_text != LIVE_FILE.read_text()
    draft = parse_ruleset(draft_text, "draft.yaml")
    start = now() - timedelta(days=40)
    for i in range(400):
        tag = rng.choice(tags)
        fact = {
            "tap.verdict": rng.choice(["genuine"] * 8 + ["replayed", "invalid"]),
            "tap.number": rng.randint(1, 40),
            "product.category": tag.item.product.category,
            "owner.is_current": rng.random() < 0.6,
            "ownership.state": rng.choice(["owned", "unclaimed"]),
            "ownership.days": rng.randint(0, 900),
            "item.released": rng.random() < 0.9,
            "owner.has_reviewed": rng.random() < 0.3,
            "service.count": rng.randint(0, 2),
        }
        at = start + timedelta(hours=i * 2)
        recorded = next((j.id for j in live.journeys
                         if _holds(j, replay_fact(live, json.dumps(fact), at))), None)
        db.add(TapEvent(at=at, verdict=fact["tap.verdict"], tag_id=tag.id,
                        item_id=tag.item_id, journey=recorded, facts=json.dumps(fact)))
    db.commit()

    since = now() - timedelta(days=30)
    expected: Counter[tuple[str | None, str | None]] = Counter()
    taps = 0
    for event in db.scalars(select(TapEvent).where(TapEvent.at >= since)):
        taps += 1
        after = next((j.id for j in draft.journeys
                      if _holds(j, replay_fact(draft, event.facts, event.at))), None)
        if after != event.journey:
            expected[(event.journey, after)] += 1
    report = replay(db, draft, since)
    assert report.taps == taps > 200  # the last 30 of 40 days
    assert report.changed == sum(expected.values()) > 0
    assert {(c.before, c.after): c.count for c in report.changes} == dict(expected)
    assert all(1 <= len(c.examples) <= 3 for c in report.changes)

    path = tmp_path / "draft.yaml"
    path.write_text(draft_text)
    out = runner.invoke(args=["journeys", "replay", str(path), "--days", "30"])
    assert out.exit_code == 0, out.output
    assert f"{taps} taps of maison-aurelia" in out.output
    assert f"; {report.changed} would change journey" in out.output
    assert "e.g. tap " in out.output


def _holds(journey, fact) -> bool:  # type: ignore[no-untyped-def]
    return holds(journey.when, fact)
