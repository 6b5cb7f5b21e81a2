"""A reminder that carries a reward: the refill email's private scratch card, granted once per
message under the reward's usual limits, opening only in the owner's browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.catalog.access import OWNER_COOKIE
from app.catalog.models import Owner
from app.core.db import make_engine
from app.messages import delivery
from app.messages.models import ACCEPTED, FAILED, SENDING, SUPPRESSED, Message
from app.messages.schedules import live_ruleset
from app.messages.ticks import tick
from app.rewards import grants
from app.rewards.messageflow import withdraw_for_message
from app.rewards.models import RewardExposure, RewardGrant, RewardPool
from app.rules.versions import live_version
from app.verify.models import TapEvent
from tests.factories import post_form
from tests.messages.helpers import BRAND, REPO, SLOT, owned_serum, publish_demo

JSON = {"Accept": "application/json"}
LINK = re.compile(r"http://localhost(/rewards/[A-Za-z0-9_-]+)")


@pytest.fixture
def sessions(app) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(app.config["DATABASE_URL"])
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()


def _html(mail: EmailMessage) -> str:
    part = mail.get_body(("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def _text(mail: EmailMessage) -> str:
    part = mail.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def _browser_of(app, db: Session, owner_id: int):  # type: ignore[no-untyped-def]
    """Return a browser holding ``owner_id``'s owner cookie (and no tap session)."""
    public_id = db.scalar(select(Owner.public_id).where(Owner.id == owner_id))
    browser = app.test_client()
    browser.set_cookie(OWNER_COOKIE, URLSafeSerializer(
        app.config["SECRET_KEY"], salt="aftertap.owner").dumps(public_id))
    return browser


def _grants(db: Session, owner_id: int) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(RewardGrant)
                     .where(RewardGrant.owner_id == owner_id)) or 0


def _send_refill(app, db: Session, sessions) -> None:  # type: ignore[no-untyped-def]
    tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    db.commit()
    assert delivery.deliver_due(sessions, app.config, at=SLOT).delivered == 1


def test_refill_email_carries_a_scratch_card_only_its_owner_can_open(app, db, smtp, sessions):
    publish_demo(db)
    owner = owned_serum(db, 77)
    _send_refill(app, db, sessions)
    [mail] = smtp.wait_for(1)
    html, text = _html(mail), _text(mail)
    assert "scratch it to see what you won" in html
    match = LINK.search(html)
    assert match is not None and match.group(0) in text  # the plain part has the link too
    link = match.group(1)
    grant = grants.get_grant(db, link.rsplit("/", 1)[1])
    assert (grant.owner_id, grant.reward_id, grant.mechanic) == (
        owner.owner_id, "refill-scratch", "scratch_off")
    assert grant.pending and grant.journey == "refill-reminder"

    # Someone the email was forwarded to, without the owner's cookie: 403, told how to open it.
    stranger = app.test_client()
    refused = stranger.get(link)
    assert refused.status_code == 403
    assert "tap the product" in refused.get_data(as_text=True)
    assert post_form(stranger, link + "/reveal").status_code == 403
    # Another owner's browser: 403 as well.
    other = owned_serum(db, 77)
    other_browser = _browser_of(app, db, other.owner_id)
    assert other_browser.get(link).status_code == 403
    assert post_form(other_browser, link + "/reveal").status_code == 403
    assert grants.get_grant(db, grant.token).pending

    # The owner's browser (cookie, no tap session: the email is read away from the product).
    browser = _browser_of(app, db, owner.owner_id)
    page = browser.get(link)
    assert page.status_code == 200 and "Scratch to see your reward" in page.get_data(as_text=True)
    assert browser.post(link + "/reveal", headers=JSON).status_code in (400, 403)  # no CSRF
    won = post_form(browser, link + "/reveal", headers=JSON).get_json()
    assert won["outcome"] == "prize" and won["code"]
    assert post_form(browser, link + "/reveal", headers=JSON).get_json() == won


def test_a_copy_resent_after_a_crash_carries_the_same_card(app, db, smtp, sessions):
    publish_demo(db)
    owner = owned_serum(db, 77)
    _send_refill(app, db, sessions)
    # The worker died after the SMTP server took the email, before recording it: the row is
    # left ``sending`` and its lease runs out.
    db.execute(update(Message).values(state=SENDING, sent_at=None,
                                      leased_until=SLOT + timedelta(minutes=1)))
    db.commit()
    later = SLOT + timedelta(minutes=30)
    assert delivery.deliver_due(sessions, app.config, at=later).delivered == 1
    first, second = smtp.wait_for(2)
    assert first["Message-ID"] == second["Message-ID"]
    links = [LINK.search(_html(m)) for m in (first, second)]
    assert links[0] is not None and links[1] is not None
    assert links[0].group(1) == links[1].group(1)
    assert _grants(db, owner.owner_id) == 1
    assert db.scalar(select(func.count()).select_from(RewardExposure)
                     .where(RewardExposure.owner_id == owner.owner_id)) == 1
    assert db.scalar(select(Message.state)) == ACCEPTED


def test_an_owner_over_the_reward_cap_gets_the_email_without_the_card(app, db, smtp, sessions):
    publish_demo(db)
    owner = owned_serum(db, 77)
    # The owner scratched a refill card at a tap a month ago: per_owner 1 in 60 days is used.
    event = TapEvent(at=SLOT - timedelta(days=30), verdict="genuine", item_id=owner.item_id)
    db.add(event)
    db.flush()
    doc = live_ruleset(db, BRAND)[1]
    grants.grant(db, doc, BRAND, "refill-scratch", tap_event_id=event.id,
                 owner_id=owner.owner_id, item_id=owner.item_id, journey="serum-refill",
                 at=SLOT - timedelta(days=30))
    db.commit()
    _send_refill(app, db, sessions)
    [mail] = smtp.wait_for(1)
    assert LINK.search(_html(mail)) is None and "scratch" not in _html(mail)
    assert "/rewards/" not in _text(mail)
    assert _grants(db, owner.owner_id) == 1


def _claim(app, sessions) -> list[delivery.Claimed]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return delivery.claim_due(session, app.config, SLOT, 10, delivery.Report())


def test_only_email_carries_the_card(app, db, sessions):
    text = (REPO / "rulesets" / "maison-aurelia.yaml").read_text()
    publish_demo(db, text.replace("    message: refill_email\n    channel: email\n",
                                  "    message: refill_email\n    channel: crm_webhook\n"))
    owner = owned_serum(db, 77)
    tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    db.commit()
    [claimed] = _claim(app, sessions)
    assert claimed.channel == "crm_webhook" and claimed.reward_url is None
    assert _grants(db, owner.owner_id) == 0


def test_a_schedule_gone_from_the_live_ruleset_sends_without_a_card(app, db, sessions):
    publish_demo(db)
    owner = owned_serum(db, 77)
    tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    db.commit()
    version = live_version(db, BRAND)
    assert version is not None
    publish_demo(db, version.text.replace("- id: refill-reminder", "- id: refill-reminder-2"))
    [claimed] = _claim(app, sessions)
    assert claimed.reward_url is None and _grants(db, owner.owner_id) == 0


def test_each_message_gets_its_own_card(app, db, sessions):
    publish_demo(db)
    owners = [owned_serum(db, 77), owned_serum(db, 77)]
    tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    db.commit()
    claimed = _claim(app, sessions)
    urls = {c.owner_id: c.reward_url for c in claimed}
    assert set(urls) == {o.owner_id for o in owners}
    assert len(set(urls.values())) == 2
    for o in owners:
        url = urls[o.owner_id]
        assert url is not None and url.startswith("http://localhost/rewards/")
        assert grants.get_grant(db, url.rsplit("/", 1)[1]).owner_id == o.owner_id
        assert _grants(db, o.owner_id) == 1


def _pool_given(db: Session) -> int:
    db.expire_all()
    return int(db.scalar(select(func.sum(RewardPool.given)).where(
        RewardPool.reward_id == "refill-scratch")) or 0)


def test_a_card_whose_email_is_refused_for_good_is_taken_back_and_frees_the_cap(
        app, db, smtp, sessions):
    publish_demo(db)
    owner = owned_serum(db, 77)
    smtp.refuse = "550 5.1.1 No such user"
    tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    db.commit()
    assert delivery.deliver_due(sessions, app.config, at=SLOT).failed == 1
    db.expire_all()
    assert db.scalars(select(Message.state)).one() == FAILED
    # Nobody got the link: the grant is gone, and so is what it took.
    assert _grants(db, owner.owner_id) == 0
    assert _pool_given(db) == 0
    # The owner's one card in 60 days is still theirs to win at the next tap.
    event = TapEvent(at=SLOT + timedelta(days=1), verdict="genuine", item_id=owner.item_id)
    db.add(event)
    db.flush()
    doc = live_ruleset(db, BRAND)[1]
    given = grants.grant(db, doc, BRAND, "refill-scratch", tap_event_id=event.id,
                         owner_id=owner.owner_id, item_id=owner.item_id,
                         journey="serum-refill", at=SLOT + timedelta(days=1))
    assert given.pending


def test_a_card_whose_email_is_suppressed_after_a_failed_try_is_taken_back(
        app, db, smtp, sessions):
    publish_demo(db)
    owner = owned_serum(db, 77)
    smtp.refuse = "450 4.2.0 Mailbox busy"  # try again later: the grant stays meanwhile
    tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    db.commit()
    assert delivery.deliver_due(sessions, app.config, at=SLOT).retrying == 1
    assert _grants(db, owner.owner_id) == 1
    db.execute(update(Owner).where(Owner.id == owner.owner_id).values(email_opt_in=False))
    db.commit()
    smtp.refuse = None
    delivery.deliver_due(sessions, app.config, at=SLOT + timedelta(days=1))
    db.expire_all()
    assert (db.scalars(select(Message.state)).one()) == SUPPRESSED
    assert _grants(db, owner.owner_id) == 0 and _pool_given(db) == 0
    assert smtp.messages == []


def test_a_revealed_card_is_never_taken_back(app, db, sessions):
    publish_demo(db)
    owner = owned_serum(db, 77)
    tick(db, app.config, BRAND, "refill-reminder", SLOT, SLOT)
    db.commit()
    [claimed] = _claim(app, sessions)
    assert claimed.reward_url is not None
    grant = grants.get_grant(db, claimed.reward_url.rsplit("/", 1)[1])
    grants.reveal(db, grant.token, owner.owner_id, SLOT)
    db.commit()
    assert not withdraw_for_message(db, claimed.key)
    db.commit()
    assert _grants(db, owner.owner_id) == 1
