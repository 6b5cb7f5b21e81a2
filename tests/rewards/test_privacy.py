"""What rewards holds about an owner: all of it exported; the owner's words erased, counts kept."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.catalog.views import item_view
from app.core import privacy
from app.core.db import Base
from app.rewards import models
from app.rewards import privacy as rewards_privacy
from app.rewards.ledger import balance
from app.rewards.loyalty import submit_review
from app.rewards.models import ProductReview
from tests.factories import tagged_item
from tests.rewards.helpers import T0, give, owner, ruleset

SETTINGS = {"LOYALTY_POINTS": {"review": 40}}
GIFT = "gift: {points: 10, prizes: [{id: travel-size, code: generated}], expires: 30d}"


def counts(session: Session, owner_id: int) -> dict[str, int]:
    """Return how many rows each owner-linked rewards table holds for ``owner_id``."""
    out = {}
    for model in (models.LoyaltyAccount, models.LoyaltyEntry, models.RewardGrant,
                  models.RewardExposure, models.ProductReview):
        out[model.__tablename__] = session.scalar(
            select(func.count()).select_from(model).where(model.owner_id == owner_id))
    return out


def rewarded_reviewer(session: Session) -> tuple[int, str]:
    """Return ``(owner id, code won)``: an owner who won a coded prize and wrote a review."""
    me, tag = owner(session), tagged_item(session)
    won = give(session, ruleset(GIFT), "gift", me, tag.item_id)
    submit_review(session, SETTINGS, item_view(tag.item), me, "5", "Lovely leather, my own words.",
                  T0)
    session.commit()
    assert won.code
    return me, won.code


def test_the_contributor_covers_every_rewards_table_linked_to_owners(app):
    linked = {
        table.name for table in Base.metadata.tables.values()
        if table.name in {m.__tablename__ for m in vars(models).values()
                          if isinstance(m, type) and issubclass(m, Base) and m is not Base}
        and any(fk.column.table.name == "owners" for fk in table.foreign_keys)
    }
    assert linked == set(rewards_privacy.TABLES)
    assert rewards_privacy.CONTRIBUTOR in privacy.contributors()  # registered by init_app


def test_export_holds_points_ledger_rewards_exposures_and_reviews(app, db):
    me, code = rewarded_reviewer(db)
    sections = rewards_privacy.export(db, me)
    assert sections["points"] == {"maison-aurelia": 50}
    assert balance(db, me, "maison-aurelia") == 50
    assert [(e["kind"], e["points"], e["cause"]) for e in sections["ledger"]] == [
        ("earn", 10, "reward"), ("earn", 40, "review")]
    (reward,) = sections["rewards"]
    assert reward["reward"] == "gift" and reward["journey"] == "all"
    assert reward["outcome"] == "prize" and reward["prize"] == "travel-size"
    assert reward["code"] == code and reward["points"] == 10
    assert reward["expires_at"] is not None and reward["redeemed_at"] is None
    assert [x["cohort"] for x in sections["exposures"]] == ["treatment"]
    (review,) = sections["reviews"]
    assert review["rating"] == 5 and review["text"] == "Lovely leather, my own words."
    assert review["product"] == "Test bag" and review["at"] == T0.isoformat()


def test_erase_removes_review_texts_and_keeps_the_counts(app, db):
    me, code = rewarded_reviewer(db)
    someone, _ = rewarded_reviewer(db)
    before = counts(db, me)
    rewards_privacy.erase(db, me, T0)
    db.commit()
    assert counts(db, me) == before
    assert balance(db, me, "maison-aurelia") == 50
    texts = {row.owner_id: row.text for row in db.execute(
        select(ProductReview.owner_id, ProductReview.text))}
    assert texts == {me: rewards_privacy.ERASED_TEXT, someone: "Lovely leather, my own words."}
    after = rewards_privacy.export(db, me)
    assert after["rewards"][0]["code"] == code  # the prize is a voucher: still theirs to use
    assert "my own words" not in str(after)


def test_the_registry_exports_and_erases_the_rewards_sections(app, db):
    me, _ = rewarded_reviewer(db)
    exported = privacy.export_owner(db, me)
    assert exported["points"] == {"maison-aurelia": 50} and exported["reviews"][0]["rating"] == 5
    privacy.erase_owner(db, me, T0)
    db.commit()
    assert privacy.export_owner(db, me)["reviews"][0]["text"] == rewards_privacy.ERASED_TEXT
