"""What a reward asks for first: the ruleset's ``requires`` (review, email_confirmed,
service_feedback), whether the owner has done it, and the words that say what to do.

Each requirement is read where its record lives, without importing another domain: a review is
rewards' own (``product_reviews``); a confirmed email is on the owner's row (the catalogue, a
lower layer); service feedback is after-sales' record, so after-sales sends
``service_feedback_recorded`` and ``record_action`` keeps a ``reward_actions`` row in the same
transaction.
"""

from __future__ import annotations

from datetime import datetime

from babel.lists import format_list
from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app.catalog.models import Item, Owner
from app.core.clock import utc
from app.core.db import insert_ignore
from app.core.errors import N_, Conflict
from app.core.i18n import current_language, translate
from app.rewards.models import ProductReview, RewardAction

REVIEW, EMAIL_CONFIRMED, SERVICE_FEEDBACK = "review", "email_confirmed", "service_feedback"

# What the owner is asked to do, as the start of "<steps> to reveal your reward." (English
# catalogue ids: ``instruction`` says them in the page's language).
STEPS = {
    REVIEW: N_("write your review"),
    EMAIL_CONFIRMED: N_("confirm your email address from your owner page"),
    SERVICE_FEEDBACK: N_("tell us how your last service went"),
}


class ActionRequired(Conflict):
    """The reward waits for something the owner has not done yet; nothing was drawn."""

    code = "action_required"

    def __init__(self, missing: tuple[str, ...]) -> None:
        super().__init__(instruction(missing))
        self.missing = missing

    def words(self) -> str:
        """Return the instruction in the page's language (chosen when the error is shown)."""
        return instruction(self.missing)


def parse(stored: str | None) -> tuple[str, ...]:
    """Return the requirements a pool stores space-separated (empty: none)."""
    return tuple(stored.split()) if stored else ()


def instruction(missing: tuple[str, ...]) -> str:
    """Return the sentence saying what to do in the language words come out in now, e.g.
    "Write your review to reveal your reward." ("Rédigez votre avis pour révéler votre
    récompense."); several steps are listed as the language lists ("a, b and c", "a, b et c")."""
    steps = [translate(STEPS[m]) for m in missing]
    if not steps:
        return translate(N_("Your reward is ready to reveal."))
    said = translate(N_("%(steps)s to reveal your reward."),
                     {"steps": format_list(steps, locale=current_language())})
    return f"{said[0].upper()}{said[1:]}"


def record_action(
    session: Session, owner_id: int | None, item_id: int, action: str, at: datetime
) -> bool:
    """Record that ``owner_id`` did ``action`` for item ``item_id`` (once); return whether this
    call recorded it. Nothing is recorded without an owner."""
    if owner_id is None:
        return False
    return bool(insert_ignore(session, RewardAction.__table__, {
        "owner_id": owner_id, "item_id": item_id, "action": action, "at": utc(at),
    }) == 1)


def missing(
    session: Session, requires: tuple[str, ...], owner_id: int | None, item_id: int
) -> tuple[str, ...]:
    """Return the requirements of ``requires`` that ``owner_id`` has not met for ``item_id``, in
    order. Without an owner, none can be met."""
    if not requires:
        return ()
    if owner_id is None:
        return requires
    conn = session.connection()
    done: set[str] = set()
    if REVIEW in requires and conn.execute(select(exists().where(
        ProductReview.owner_id == owner_id,
        ProductReview.product_id == select(Item.product_id).where(Item.id == item_id)
        .scalar_subquery(),
    ))).scalar():
        done.add(REVIEW)
    if EMAIL_CONFIRMED in requires and conn.execute(select(exists().where(
        Owner.id == owner_id, Owner.email.is_not(None), Owner.email_verified_at.is_not(None),
        Owner.erased_at.is_(None),
    ))).scalar():
        done.add(EMAIL_CONFIRMED)
    if SERVICE_FEEDBACK in requires and conn.execute(select(exists().where(
        RewardAction.owner_id == owner_id, RewardAction.item_id == item_id,
        RewardAction.action == SERVICE_FEEDBACK,
    ))).scalar():
        done.add(SERVICE_FEEDBACK)
    return tuple(r for r in requires if r not in done)
