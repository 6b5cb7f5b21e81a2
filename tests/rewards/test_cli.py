"""``flask rewards ...`` as a brand's operator uses it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from app.catalog.models import Owner
from app.rewards import grants, ledger
from tests.factories import tagged_item
from tests.rewards.helpers import BRAND, owner, ruleset, tap_event


def test_import_codes_redeem_balance_seeds_and_audit(app, runner, db, tmp_path):
    now = datetime.now(UTC)
    codes = tmp_path / "codes.txt"
    codes.write_text("# travel size\nTS-1\nTS-2\nTS-2\n")
    result = runner.invoke(args=["rewards", "import-codes", "travel", str(codes)])
    assert result.exit_code == 0, result.output
    assert "2 code(s) added to maison-aurelia/travel, 1 skipped" in result.output

    doc = ruleset("gift: {prizes: [{id: ts, code: {list: travel}}], consolation: {id: c}}")
    item = tagged_item(db).item_id
    view = grants.grant(db, doc, BRAND, "gift", tap_event_id=tap_event(db, item, now),
                        owner_id=None, item_id=item, journey="all", at=now)
    db.commit()
    assert view.code == "TS-1"
    result = runner.invoke(args=["rewards", "redeem", "TS-1", "--shop", "paris"])
    assert result.exit_code == 0 and "prize ts" in result.output
    result = runner.invoke(args=["rewards", "redeem", "TS-1"])
    assert result.exit_code == 1 and "already redeemed" in result.output

    me = owner(db)
    db.execute(update(Owner).where(Owner.id == me).values(email="a@example.com",
                                                          email_verified_at=now))
    ledger.post_entry(db, me, "earn", 42, "admin", "welcome", now, brand=BRAND)
    db.commit()
    result = runner.invoke(args=["rewards", "balance", "a@example.com"])
    assert result.exit_code == 0 and "balance: 42 points" in result.output

    result = runner.invoke(args=["rewards", "seeds", "publish"])
    assert result.exit_code == 0 and "maison-aurelia/review-reveal" in result.output
    assert "sha256" in result.output
    day = now.date().isoformat()
    result = runner.invoke(args=["rewards", "audit", "gift", day])
    assert result.exit_code == 0, result.output
    assert "1 draw(s) recomputed: all match" in result.output
    assert runner.invoke(args=["rewards", "seeds", "reveal"]).exit_code == 0
    assert runner.invoke(args=["rewards", "audit", "nope", day]).exit_code == 1
