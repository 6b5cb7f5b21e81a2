"""What people read about rewards and prizes: the brand's own labels, descriptions and terms from
its ruleset, in the page's language (the ruleset's first locale when it has no such text).

Never an identifier: a prize the ruleset gives no label is called "Your reward" (``journeys
validate`` refuses such a ruleset, see ``app.rules.content``), points are "N points" (or "1 point").
"""

from __future__ import annotations

from flask import current_app, has_request_context
from flask_babel import get_locale, gettext

from app.core.i18n import translate_count
from app.core.wording import number
from app.journeys.language import PrizeDoc, RewardDoc, RulesetDoc
from app.journeys.language.syntax import Text, pick_text


def ruleset_doc(brand: str) -> RulesetDoc | None:
    """Return the live ruleset of ``brand``, or None when it has none."""
    rules = current_app.extensions.get("aftertap.rules")
    ruleset = rules.registry.rulesets().get(brand) if rules is not None else None
    return ruleset.doc if ruleset is not None else None


def text_in_locale(text: Text | dict[str, str] | None, locales: tuple[str, ...] = ()) -> str:
    """Return ``text`` in the request's language, else the ruleset's first, else any; ""."""
    locale = str(get_locale()) if has_request_context() else None
    return pick_text(text, locale, locales) or ""


def find_prize(doc: RulesetDoc | None, reward_id: str, prize_id: str | None) -> PrizeDoc | None:
    """Return the prize (or consolation) ``prize_id`` of ``reward_id``, or None."""
    reward = doc.rewards.get(reward_id) if doc is not None else None
    if reward is None or prize_id is None:
        return None
    for prize in (*reward.prizes, reward.consolation):
        if prize is not None and prize.id == prize_id:
            return prize
    return None


def prize_words(brand: str, reward_id: str, prize_id: str | None) -> dict[str, str]:
    """Return a prize's ``label``, ``description`` and ``terms`` for a page ("" when none)."""
    doc = ruleset_doc(brand)
    prize = find_prize(doc, reward_id, prize_id)
    locales = doc.locales if doc is not None else ()
    if prize is None:
        return {"label": "", "description": "", "terms": ""}
    return {name: text_in_locale(getattr(prize, name), locales)
            for name in ("label", "description", "terms")}


def prize_label(brand: str, reward_id: str, prize_id: str | None, points: int = 0) -> str:
    """Return what a person reads for a prize won: its label, else its points, else words."""
    label = prize_words(brand, reward_id, prize_id)["label"]
    if label:
        return label
    if points:
        return translate_count("%(num)s point", "%(num)s points", points, num=number(points))
    return str(gettext("Your reward"))


def reward_words(brand: str, reward_id: str) -> dict[str, str]:
    """Return a reward's ``label``, ``description`` and ``terms`` for a page ("" when none)."""
    doc = ruleset_doc(brand)
    reward: RewardDoc | None = doc.rewards.get(reward_id) if doc is not None else None
    if reward is None or doc is None:
        return {"label": "", "description": "", "terms": ""}
    return {name: text_in_locale(getattr(reward, name), doc.locales)
            for name in ("label", "description", "terms")}
