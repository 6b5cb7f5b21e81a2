"""The duties the scheduler runs: draw seeds, expired links, tap detail (each once per slot)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.catalog.models import Ownership
from app.ownership.models import OwnerToken, TransferOffer
from app.rewards.draws import commitments
from app.rewards.models import RewardPool
from app.scheduler.process import SchedulerProcess
from app.scheduler.runs import run_due
from app.verify.models import TapEvent
from app.verify.service import prune_tap_detail
from tests.ownership.helpers import owned

T = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)


def _duty(app, job_id: str, at: datetime):  # type: ignore[no-untyped-def]
    process = SchedulerProcess(app.extensions["aftertap.db"].sessionmaker, app.config,
                               app.extensions["aftertap.rules"].registry.rulesets,
                               tick=None, clock=lambda: at)  # type: ignore[arg-type]
    job = process.wanted()[job_id]
    return run_due(process.sessions, app.config, job, at, timedelta(hours=1))


def test_seeds_duty_commits_today_and_tomorrow_and_reveals_yesterday(app, db):
    ran = _duty(app, "rewards:seeds", T)  # 00:05 UTC slot
    assert [r.slot for r in ran] == [datetime(2026, 12, 1, 0, 5, tzinfo=UTC)]
    pool = db.scalars(select(RewardPool)).first()
    assert pool is not None  # pools come from the live rulesets
    days = commitments(db, pool.brand, pool.reward_id, T)
    assert [c.day.isoformat() for c in days] == ["2026-12-02", "2026-12-01"]
    assert all(c.seed is None for c in days)
    next_day = T + timedelta(days=1)
    ran = _duty(app, "rewards:seeds", next_day)
    pools = len(db.scalars(select(RewardPool.id)).all())
    assert ran[0].summary.endswith(f", {pools} seed(s) revealed")
    days = commitments(db, pool.brand, pool.reward_id, next_day)
    revealed = {c.day.isoformat(): c.seed for c in days}
    assert revealed["2026-12-01"] is not None and revealed["2026-12-02"] is None


def test_links_duty_deletes_only_links_nobody_can_use(app, db, keyring):
    tag, _phone = owned(app, db, keyring)
    ownership = db.scalars(select(Ownership).where(Ownership.item_id == tag.item_id)).one()
    at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    keep = timedelta(days=int(app.config["EXPIRED_LINKS_KEEP_DAYS"]))

    def offer(expires_at: datetime, accepted: bool = False) -> int:
        row = TransferOffer(token_hash=secrets.token_hex(32), item_id=tag.item_id,
                            ownership_id=ownership.id, created_at=expires_at - timedelta(days=2),
                            expires_at=expires_at, accepted_at=expires_at if accepted else None,
                            accepted_by=ownership.owner_id if accepted else None)
        db.add(row)
        db.flush()
        return row.id

    def token(expires_at: datetime, used: bool = False) -> int:
        row = OwnerToken(token_hash=secrets.token_hex(32), owner_id=ownership.owner_id,
                         purpose="recover", created_at=expires_at - timedelta(days=1),
                         expires_at=expires_at, used_at=expires_at if used else None)
        db.add(row)
        db.flush()
        return row.id

    long_ago = at - keep - timedelta(hours=1)
    lately = at - keep + timedelta(hours=1)
    later = at + timedelta(hours=1)
    gone_offers = {offer(long_ago)}
    kept_offers = {offer(lately), offer(later), offer(long_ago, accepted=True)}
    gone_tokens = {token(long_ago), token(long_ago, used=True)}
    kept_tokens = {token(lately), token(later)}
    db.commit()
    ran = _duty(app, "ownership:expired-links", at)
    assert [r.summary for r in ran] == ["1 expired offer(s), 2 expired token(s) deleted"]
    db.expire_all()
    assert set(db.scalars(select(TransferOffer.id))) == kept_offers
    assert set(db.scalars(select(OwnerToken.id))) & (gone_tokens | kept_tokens) == kept_tokens
    assert not set(db.scalars(select(TransferOffer.id))) & gone_offers


def test_taps_duty_prunes_detail_past_the_retention(app, db):
    at = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
    retention = timedelta(days=int(app.config["TAP_DETAIL_RETENTION_DAYS"]))
    old, new = at - retention - timedelta(days=1), at - retention + timedelta(days=1)
    rows = {
        "old-genuine": TapEvent(at=old, verdict="genuine", facts="{}", latitude=48.9,
                                longitude=2.3),
        "new-genuine": TapEvent(at=new, verdict="genuine", facts="{}", latitude=48.9,
                                longitude=2.3),
        "old-failed": TapEvent(at=old, verdict="invalid", reason="bad MAC"),
        "old-bare": TapEvent(at=old, verdict="genuine"),
        "new-failed": TapEvent(at=new, verdict="invalid", reason="bad MAC"),
    }
    db.add_all(rows.values())
    db.commit()
    ids = {name: row.id for name, row in rows.items()}
    ran = _duty(app, "verify:tap-detail", at)  # the 03:30 UTC slot
    assert [r.summary for r in ran] == [
        "1 failed tap row(s) deleted, 1 genuine tap detail(s) cleared"]
    db.expire_all()
    left = {e.id: e for e in db.scalars(select(TapEvent))}
    assert ids["old-failed"] not in left and ids["new-failed"] in left
    old_genuine, new_genuine = left[ids["old-genuine"]], left[ids["new-genuine"]]
    assert (old_genuine.facts, old_genuine.latitude, old_genuine.longitude) == (None, None, None)
    assert (new_genuine.facts, new_genuine.latitude) == ("{}", 48.9)


def test_prune_tap_detail_touches_genuine_taps_only(app, db):
    at = datetime(2026, 12, 1, tzinfo=UTC)
    failed = TapEvent(at=at - timedelta(days=1), verdict="replayed", facts="{}")
    db.add(failed)
    db.commit()
    assert prune_tap_detail(db, at) == 0
    db.commit()
    db.expire_all()
    assert db.get(TapEvent, failed.id).facts == "{}"


def test_points_duty_expires_by_each_live_rulesets_policy_once(app, db):
    from app.rewards import ledger
    from app.rewards.models import LoyaltyEntry
    from tests.messages.helpers import BRAND, REPO, publish_demo
    from tests.rewards.helpers import owner

    text = (REPO / "rulesets" / "maison-aurelia.yaml").read_text()
    publish_demo(db, text.replace("guardrails:\n", "guardrails:\n  points_expire_after: 365d\n",
                                  1))
    app.extensions["aftertap.rules"].registry.refresh()
    me = owner(db)
    old = T - timedelta(days=366)
    ledger.post_entry(db, me, "earn", 60, "reward", "a", old, brand=BRAND)
    ledger.post_entry(db, me, "earn", 25, "reward", "b", old, brand="no-policy-brand")
    ledger.post_entry(db, me, "earn", 15, "reward", "c", T - timedelta(days=10), brand=BRAND)
    db.commit()
    [ran] = _duty(app, "rewards:points-expiry", T)
    assert ran.slot == datetime(2026, 12, 1, 0, 20, tzinfo=UTC)
    assert ran.summary.startswith("60 point(s) expired")
    assert _duty(app, "rewards:points-expiry", T) == []  # the slot ran
    db.expire_all()
    assert ledger.balance(db, me, BRAND) == 15
    assert ledger.balance(db, me, "no-policy-brand") == 25
    assert sum(e.points for e in ledger.ledger(db, me)) == 40
    assert [e.kind for e in ledger.ledger(db, me)].count("expire") == 1
    assert db.scalars(select(LoyaltyEntry.brand).where(LoyaltyEntry.kind == "expire")).all() == [
        BRAND]
