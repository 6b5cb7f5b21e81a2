"""Rewards that ask for something first (``requires``): the reveal is refused, changing nothing,
until the owner has done it; then it works."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.catalog.models import Item, Owner, Ownership
from app.catalog.views import item_view
from app.rewards import grants
from app.rewards.actions import ActionRequired, instruction
from app.rewards.limits import RewardUnavailable
from app.rewards.loyalty import submit_review
from app.rewards.models import LoyaltyEntry, RewardAction, RewardDraw, RewardGrant, RewardPrize
from app.rewards.pools import sync_ruleset
from tests.factories import item_path, post_form, tagged_item, tap
from tests.rewards.helpers import BRAND, T0, give, owner, ruleset

AUTH = {"Authorization": "Basic YWRtaW46cHc="}  # admin:pw
JSON = {"Accept": "application/json"}


def gated(requires: str) -> str:
    return f"""gated:
  mechanic: click_to_reveal
  requires: {requires}
  prizes:
    - {{id: big, weight: 1, stock: 3, code: generated}}
  consolation: {{id: thanks, points: 5}}"""


def state(db) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    """Draws made, prize units taken, grants revealed, ledger lines: what a reveal changes."""
    db.expire_all()
    return (db.scalar(select(func.count()).select_from(RewardDraw)),
            db.scalar(select(func.coalesce(func.sum(RewardPrize.given), 0))),
            db.scalar(select(func.count()).select_from(RewardGrant)
                      .where(RewardGrant.revealed_at.is_not(None))),
            db.scalar(select(func.count()).select_from(LoyaltyEntry)))


def refused_reveal(db, view: grants.GrantView, owner_id: int) -> ActionRequired:  # type: ignore[no-untyped-def]
    before = state(db)
    with pytest.raises(ActionRequired) as err:
        grants.reveal(db, view.token, owner_id, T0 + timedelta(minutes=1))
    db.commit()  # even committed, the refused reveal left nothing behind
    assert state(db) == before
    assert grants.get_grant(db, view.token).pending
    return err.value


def test_a_review_gated_reward_reveals_only_after_the_review(app, db):
    doc = ruleset(gated("review"))
    me, item_id = owner(db), tagged_item(db).item_id
    view = give(db, doc, "gated", me, item_id)
    assert view.requires == ("review",)
    assert grants.with_missing(db, view).locked
    err = refused_reveal(db, view, me)
    assert err.status == 409 and err.code == "action_required"
    assert err.message == "Write your review to reveal your reward."

    submit_review(db, app.config, item_view(db.get_one(Item, item_id)), me, 5, "Lovely.", T0)
    db.commit()
    assert not grants.with_missing(db, grants.get_grant(db, view.token)).locked
    settled = grants.reveal(db, view.token, me, T0 + timedelta(minutes=2))
    db.commit()
    assert settled.outcome == "prize" and settled.code
    assert state(db)[:3] == (1, 1, 1)


def test_an_email_gated_reward_waits_for_the_confirmed_address(db):
    doc = ruleset(gated("email_confirmed"))
    me, item_id = owner(db), tagged_item(db).item_id
    view = give(db, doc, "gated", me, item_id)
    assert refused_reveal(db, view, me).message == (
        "Confirm your email address from your owner page to reveal your reward.")
    # An address typed in but not confirmed yet is not enough.
    db.execute(update(Owner).where(Owner.id == me).values(email="ana@example.com"))
    db.commit()
    refused_reveal(db, view, me)
    db.execute(update(Owner).where(Owner.id == me).values(email_verified_at=T0))
    db.commit()
    assert grants.reveal(db, view.token, me, T0).outcome == "prize"


def test_several_requirements_are_all_asked_for(db):
    doc = ruleset(gated("[review, email_confirmed]"))
    me, item_id = owner(db), tagged_item(db).item_id
    view = give(db, doc, "gated", me, item_id)
    assert refused_reveal(db, view, me).missing == ("review", "email_confirmed")
    assert instruction(("review", "email_confirmed")) == (
        "Write your review and confirm your email address from your owner page to reveal your "
        "reward.")


def test_a_gated_reward_needs_an_owner(db):
    # No points and no per-owner limit: only ``requires`` makes it an owner's reward.
    doc = ruleset("""gated:
  mechanic: click_to_reveal
  requires: review
  prizes:
    - {id: big, weight: 1, code: generated}""")
    with pytest.raises(RewardUnavailable) as err:
        give(db, doc, "gated", None, tagged_item(db).item_id)
    assert err.value.reason == "owner_required"


def test_service_feedback_unlocks_the_reward_through_after_sales(app, db, keyring):
    app.config["ADMIN_PASSWORD"] = "pw"
    tag = tagged_item(db)
    phone = app.test_client()
    tap(phone, db, keyring, tag)  # unboxing: this phone's owner holds the item
    db.expire_all()
    me = db.scalar(select(Ownership.owner_id).where(Ownership.item_id == tag.item_id))
    view = give(db, ruleset(gated("service_feedback")), "gated", me, tag.item_id)
    assert refused_reveal(db, view, me).message == (
        "Tell us how your last service went to reveal your reward.")

    gtin, serial = tag.item.product.gtin, tag.item.serial
    made = app.test_client().post(f"/admin/api/items/{gtin}/{serial}/service-events",
                                  json={"kind": "leather conditioning"}, headers=AUTH)
    assert made.status_code == 201
    event_id = made.get_json()["event"]["id"]
    path = item_path(tag, f"service/{event_id}/feedback")
    tap(phone, db, keyring, tag)  # a fresh tap session
    form = phone.get(path)
    assert form.status_code == 200 and "How was your service?" in form.get_data(as_text=True)
    stranger = app.test_client()
    tap(stranger, db, keyring, tag)
    assert post_form(stranger, path, {"rating": "1", "text": "x"}).status_code == 403
    assert post_form(phone, item_path(tag, "service/999999/feedback"),
                     {"rating": "5", "text": "x"}).status_code == 404
    bad = post_form(phone, path, {"rating": "5", "text": "  "})
    assert bad.status_code == 400 and "Please write the feedback." in bad.get_data(as_text=True)
    refused_reveal(db, view, me)  # bad feedback unlocked nothing

    sent = post_form(phone, path, {"rating": "5", "text": "Like new."})
    assert sent.status_code == 201 and "Thank you for telling us" in sent.get_data(as_text=True)
    assert post_form(phone, path, {"rating": "4", "text": "Again"}).status_code == 409
    db.expire_all()
    assert db.scalars(select(RewardAction.action).where(RewardAction.owner_id == me)).all() == [
        "service_feedback"]
    assert grants.reveal(db, view.token, me, T0).outcome == "prize"


def test_a_gated_pool_remembers_what_it_requires(db):
    # The reveal has only the grant: the pool keeps the ruleset's ``requires``, and a new
    # version of the ruleset (synced, as a tap does) changes it for grants still waiting.
    me, item_id = owner(db), tagged_item(db).item_id
    view = give(db, ruleset(gated("review")), "gated", me, item_id)
    sync_ruleset(db, ruleset(gated("email_confirmed")), BRAND)
    db.commit()
    assert grants.get_grant(db, view.token).requires == ("email_confirmed",)
    sync_ruleset(db, ruleset(gated("review").replace("  requires: review\n", "")), BRAND)
    db.commit()
    assert grants.get_grant(db, view.token).requires == ()
    assert grants.reveal(db, view.token, me, T0).outcome == "prize"
