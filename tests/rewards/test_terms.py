"""Published terms: odds, stock left, limits and expiry of every reward."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import MetaData, select
from sqlalchemy.orm import Session

from app.core.clock import now
from app.rewards.draws import publish_commitments, reveal_seeds
from app.rewards.pools import sync_ruleset
from app.rewards.terms import terms
from tests.rewards.helpers import BRAND, GAME, T0, ruleset


def test_terms_show_odds_stock_and_limits(db):
    doc = ruleset(GAME + "\n  limit: {per_owner: 1, per_day: 500}")
    sync_ruleset(db, doc, BRAND)
    (t,) = terms(db, doc, BRAND, T0)
    assert [(p.id, p.odds_percent, p.stock, p.left) for p in t.prizes] == [
        ("big", 25.0, 2, 2), ("listed", 75.0, None, None)]
    assert t.consolation.id == "thanks" and t.per_owner == 1 and t.per_day == 500
    assert t.expires_days == 30 and t.mechanic == "scratch_off"


def database_state(session: Session) -> dict[str, list[str]]:
    """Return every table's rows (as sorted text), read from the database itself."""
    schema = MetaData()
    schema.reflect(bind=session.connection())
    state = {name: sorted(repr(tuple(row)) for row in session.execute(select(table)).all())
             for name, table in schema.tables.items()}
    session.rollback()
    return state


def test_the_terms_page_writes_nothing(app, db, runner):
    # Yesterday's seeds committed and never revealed: a page that publishes or reveals would
    # insert today's commitments and open yesterday's seeds.
    sync_ruleset(db, app.extensions["aftertap.rules"].registry.rulesets()[BRAND].doc, BRAND)
    publish_commitments(db, now() - timedelta(days=1))
    db.commit()
    before = database_state(db)
    assert before["reward_seeds"]
    client = app.test_client()
    for _ in range(3):
        assert client.get(f"/rewards/terms/{BRAND}").status_code == 200
    assert database_state(db) == before


def test_the_terms_page_shows_commitments_once_published(app, db, runner):
    client = app.test_client()
    first = client.get(f"/rewards/terms/{BRAND}").get_data(as_text=True)
    assert "No commitment is published yet" in first and "SHA-256" not in first
    assert database_state(db)["reward_seeds"] == []
    result = runner.invoke(args=["rewards", "seeds", "publish"])
    assert result.exit_code == 0, result.output
    # Every brand's pools are published; this brand's page shows its own.
    published = [line.rsplit(" ", 1)[1] for line in result.output.splitlines()
                 if line.startswith(f"{BRAND}/")]
    page = client.get(f"/rewards/terms/{BRAND}").get_data(as_text=True)
    # The full commitment, so anyone can check a revealed seed against it.
    assert published and all(f'SHA-256 <code class="hex">{c}</code>' in page for c in published)
    assert "No commitment is published yet" not in page
    assert "seed not revealed yet" in page
    others = [line.rsplit(" ", 1)[1] for line in result.output.splitlines()
              if not line.startswith(f"{BRAND}/")]
    assert not any(c in page for c in others), "another brand's commitments on this page"


def test_the_terms_page_shows_revealed_seeds_in_full(app, db):
    sync_ruleset(db, app.extensions["aftertap.rules"].registry.rulesets()[BRAND].doc, BRAND)
    publish_commitments(db, now() - timedelta(days=1))
    revealed = reveal_seeds(db, now())
    db.commit()
    assert revealed
    page = app.test_client().get(f"/rewards/terms/{BRAND}").get_data(as_text=True)
    for c in revealed:
        assert (f'SHA-256 <code class="hex">{c.commitment}</code>; '
                f'seed <code class="hex">{c.seed}</code>') in page
