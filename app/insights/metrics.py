"""The metrics of the rollup cube (``insight_cube``): what each one counts and which columns it
fills. The refresh (``app.insights.refresh``) writes them; the panels (``app.insights.panels``)
read them. A column a metric does not fill holds ``""`` (product: 0).

``day`` is the brand's local calendar day (its ``timezone``) of the event, unless said otherwise.
``market`` is the item's market; ``country`` the tap's country (when the deployment knows it).
A "genuine tap" is a tap whose verdict is ``genuine``; its "owner" is whoever held the item's
current ownership at that moment (not necessarily the person tapping).

Distinct counts are exact within their cell. Adding cells counts a thing once per cell, so
``ITEMS_*`` and ``OWNERS_*`` are also written with product 0 meaning every product: reading
that row (not a sum) is exact for the whole brand. Summing products of one category counts an
owner who holds two of them twice; the panel says so.
"""

from __future__ import annotations

from typing import Final

# --- From tap events (incremental, by tap id) ---------------------------------------------------
# Taps: product, market, country, journey (the journey that served it, "" if none); bucket: the
# verdict (genuine, replayed, invalid, ...).
TAPS: Final = "taps"
# Decisions by ruleset version: journey; bucket: ruleset version. Genuine taps a journey served.
DECISIONS: Final = "decisions"
# Distinct owners a journey served that day: journey; bucket: ruleset version.
JOURNEY_OWNERS: Final = "journey_owners"
# Actions that followed a decision within 7 days, counted on the decision's day: journey; bucket:
# review | reveal | service. An action is credited to the last journey that served that item
# before it.
JOURNEY_NEXT: Final = "journey_next"
# Distinct items and owners with a genuine tap; day: the period's first day (week: Monday);
# product: each product, and 0 for all products.
ITEMS_DAY: Final = "items_d"
ITEMS_WEEK: Final = "items_w"
ITEMS_MONTH: Final = "items_m"
OWNERS_DAY: Final = "owners_d"
OWNERS_WEEK: Final = "owners_w"
OWNERS_MONTH: Final = "owners_m"
# Genuine taps where the item's market and the tap's country are both known and differ:
# market, country, product.
OFF_MARKET: Final = "off_market"
# Genuine taps of owned items by how long the ownership had lasted: day: the month's first day;
# product, market; bucket: whole months owned, "0" to "24", then "25+".
LIFECYCLE_TAPS: Final = "lifecycle_taps"

# --- From state (recomputed; activation and funnel are cohorts of items by sale day) -----------
# Items sold: day: sale day; product, market; bucket: channel ("" unknown).
SOLD: Final = "sold"
# Sold items with a genuine tap, by days from sale to first genuine tap: day: sale day; product,
# market; bucket: "<channel>|<days>" (days 0-730; later first taps count as 730).
ACTIVATION_LAG: Final = "activation_lag"
# Items by the furthest lifecycle stage reached, one row per stage reached (a funnel: an item
# counts at every stage it passed): day: sale day (items never sold: the day they were created);
# product, market; bucket: one of FUNNEL_STAGES.
FUNNEL: Final = "funnel"
FUNNEL_STAGES: Final = ("sold", "claimed", "confirmed", "repeat", "service", "provenance",
                        "transfer", "second_active")
# Reached: sold (a sale day, or imported as sold), claimed (an ownership), confirmed (the first
# owner's email verified), repeat (two genuine taps while owned), service (a request or work
# recorded), provenance (a record issued), transfer (a second ownership), second_active (a
# genuine tap during a second or later ownership).
# Owners with three or more genuine taps in their first 30 days of ownership ("burst"), and those
# of them with no genuine tap in the last 60 days ("stopped"): day: the month the ownership
# began; product, market; bucket: burst | stopped.
ABANDONMENT: Final = "abandonment"
# Distinct owners with a genuine tap in a month, to divide taps by: day: the month's first day;
# product, market.
ROUTINE_OWNERS: Final = "routine_owners"
# Service requests and resales (ownerships begun by transfer): day; product.
SERVICE_REQUESTS: Final = "service_requests"
RESALES: Final = "resales"
# Rewards: day; journey: the granting journey; bucket: the reward id (its pool's id in the
# ruleset), and for wins "<reward>|<prize>" (a prize or the consolation, by its own id).
REWARD_GRANTS: Final = "reward_grants"
REWARD_REVEALS: Final = "reward_reveals"
REWARD_WINS: Final = "reward_wins"
REWARD_REDEEMED: Final = "reward_redeemed"
# Points: day; bucket: earn | spend | expire | reverse; value: points (spend and expire positive,
# reverse signed as in the ledger: a reversed earn is negative).
POINTS: Final = "points"
# Messages by the day of their slot: journey: the schedule id; bucket: their state (sent,
# deferred, suppressed, failed, ...). Followed: sent messages (state accepted or sent) after
# which the owner's item had a genuine tap, or the owner revealed a reward of the brand, within
# 7 days of going out; bucket: tap | reveal.
MESSAGES: Final = "messages"
MESSAGES_FOLLOWED: Final = "messages_followed"
# Lift inputs, per reward with a holdout: day: the owner's first exposure day; journey: the
# reward id; bucket: "<cohort>" for owners first exposed (cohort: treatment | holdout), and
# "<cohort>|<outcome>" for those of them with the outcome (repeat_tap_30d | review | purchase;
# purchase: a commerce order within 30 days).
LIFT: Final = "lift"
LIFT_OUTCOMES: Final = ("repeat_tap_30d", "review", "purchase")
# Integrity alerts raised: day; product; bucket: kind (off_market, clone_suspect, stolen_seen).
ALERTS: Final = "alerts"
