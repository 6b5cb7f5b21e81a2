"""The language's words: section and field names, actions, operators, and the shapes of values.

Everything here is data the checks, the condition semantics and the JSON Schema share, so that the
three cannot disagree about what a ruleset may say.
"""

from __future__ import annotations

import re

ACTIONS: frozenset[str] = frozenset(
    {
        "claim_ownership",  # the person tapping becomes the owner of the unclaimed item, at once
        "confirm_ownership",  # the page offers "this is mine": one more tap registers them
        "activate_warranty",  # start the item's warranty (once, for the product's term)
        "record_signal",  # record the journey's signal for brand intelligence
        "offer_service",  # the page offers the owner a service request
        "start_transfer",  # the page offers the owner a transfer link for a resale
    }
)
"""Names a journey may list under ``do``; the service carries them out when it is chosen."""

OPERATORS = ("in", "not_in", "gte", "gt", "lte", "lt", "between", "exists", "not")
"""Operators of a one-key condition mapping (``path: {gte: 30}``); a plain value means equals."""
GROUPS = ("all", "any", "not")
MECHANICS = ("instant", "click_to_reveal", "scratch_off", "unwrap_gift")
CHANNELS = ("email", "crm_webhook", "sms")

TOP_FIELDS = (
    "brand", "title", "timezone", "locale", "locales", "guardrails",
    "journeys", "rewards", "points", "schedules", "tests", "products",
)
JOURNEY_FIELDS = (
    "id", "priority", "from", "until", "when", "do", "experience", "content", "reward", "signal",
)
REWARD_FIELDS = (
    "points", "mechanic", "prizes", "consolation", "limit", "expires", "holdout", "budget",
    "requires", "label", "description", "terms",
)
REQUIREMENTS = ("review", "email_confirmed", "service_feedback")
"""Actions a reward's ``requires`` may name: the reveal waits until the owner has done them."""
WORDS_FIELDS = ("label", "description", "terms")
"""The words a person reads about a reward or a prize, each text or {locale: text}."""
PRIZE_FIELDS = ("id", "weight", "stock", "code", "points", "min_plays", *WORDS_FIELDS)
CONSOLATION_FIELDS = ("id", "points", "code", *WORDS_FIELDS)
CONTENT_FIELDS = ("heading", "body", "cta", "media", "blocks", "note",
                  # The owner film's first words, still read (media: {video: ...} says it now).
                  "title", "text", "film", "poster")
"""What a journey's ``content`` may say; text fields are text or {locale: text}."""
CTA_FIELDS = ("label", "to")
CTA_TARGETS = ("owner", "reveal", "review", "service", "transfer")
"""Where a call to action may lead, besides a path of this site (``/...``)."""
MEDIA_FIELDS = ("image", "video", "poster", "alt")
BLOCKS = ("hero", "media", "body", "cta", "item", "owner", "reward", "care", "review",
          "service", "transfer", "owner_content", "note")
"""The blocks a page is made of (templates/blocks/<name>.html), in the order ``blocks`` lists."""
DEFAULT_BLOCKS = ("hero", "media", "body", "cta", "reward", "item", "owner")
"""A journey's page when its content lists no ``blocks``."""
PRODUCT_WORDS_FIELDS = ("care", "owner_content")
"""What ``products:`` says per category or GTIN: care guidance, and content for owners only."""
PRODUCT_CONTENT_FIELDS = ("heading", "body", "media")
"""What each of ``care`` and ``owner_content`` may say; text fields are text or {locale: text}."""
GTIN_KEY_RE = re.compile(r"\d{8}|\d{12,14}")
"""A ``products:`` key that is a GTIN (8, 12, 13 or 14 digits); any other key is a category."""

LIMIT_FIELDS = ("per_item", "per_owner", "per_day", "per")
SCHEDULE_FIELDS = ("id", "cron", "when", "message", "channel", "reward")
GUARDRAIL_FIELDS = ("rewards_per_owner", "messages_per_owner", "quiet_hours",
                    "points_expire_after")
POINTS_FIELDS = ("worth", "catalogue")
CATALOGUE_FIELDS = ("id", "label", "description", "cost", "code", "stock", "budget",
                    "expires")
WORTH_RE = re.compile(r"\s*(\d+)\s*points?\s*=\s*(\d+)(?:\.(\d{1,2}))?\s*([A-Z]{3})\s*")
"""``100 points = 5 EUR``: a whole number of points, an amount, an ISO 4217 currency code."""
RATE_FIELDS = ("max", "per")
QUIET_HOURS_FIELDS = ("from", "to")
TEST_FIELDS = ("name", "given", "expect")
EXPECT_FIELDS = ("journey", "experience", "reward")

ID_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
LOCALE_RE = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,4})?")
DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
DATETIME_RE = re.compile(r"(\d{4}-\d{2}-\d{2})[T ]([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?")
TIME_RE = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
HOLDOUT_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%\s*")
CRON_RE = r"^\s*\S+(\s+\S+){4}\s*$"
DURATION_RE = r"^\s*\d+\s*[dwmy]?\s*$"

NUMERIC_TYPES = ("int", "days", "hour", "month", "any")
"""Fact types the comparison operators (and ``between``) apply to."""
TYPE_WORDS = {
    "str": "text", "bool": "true or false", "country": "a country code", "weekday": "a weekday",
    "date": "a date",
}
"""What a fact of each non-numeric type holds, in the words of a message."""
COMPARATORS = ("gte", "gt", "lte", "lt")
FULL_WEEKDAYS = {
    "monday": "mon", "tuesday": "tue", "wednesday": "wed", "thursday": "thu",
    "friday": "fri", "saturday": "sat", "sunday": "sun",
}
"""Weekdays written in full, accepted for the short names the facts hold."""
