"""Other domains' tables insights reads, declared here as lightweight read-only
``sqlalchemy.table`` constructs (insights imports no other domain): one per table, only the
columns read, each saying who reads it and why it is not in the cube."""

from __future__ import annotations

from sqlalchemy import Boolean, DateTime, Integer, String, column, table

from app.core.db import UTCDateTime

# The rewards panel's budget left: small live state (one row per reward), not events.
reward_pools = table(
    "reward_pools",
    column("id", Integer),
    column("brand", String),
    column("reward_id", String),
    column("budget", Integer),
    column("given", Integer),
)

# The rewards panel's stock burn: one row per prize, live.
reward_prizes = table(
    "reward_prizes",
    column("id", Integer),
    column("pool_id", Integer),
    column("prize_id", String),
    column("consolation", Boolean),
    column("stock", Integer),
    column("given", Integer),
    column("retired", Boolean),
)

# Second purchase by cohort (``app.insights.commerce``): which owners a reward was offered to,
# or held out of. Read per owner, not per day, so it is not a cube metric. Also the LIFT cells
# (``app.insights.state``): each owner's first exposure (by ``at``, then ``id``) and the tap that
# made it, which the repeat-tap outcome does not count.
reward_exposures = table(
    "reward_exposures",
    column("id", Integer),
    column("tap_event_id", Integer),
    column("pool_id", Integer),
    column("owner_id", Integer),
    column("cohort", String),
    column("at", DateTime(timezone=True)),
)

# --- state metrics (app.insights.state): recomputed cells of the cube, read by set-based SQL ----

# Grants, reveals, wins and redemptions by day; an owner's reveals after a message.
reward_grants = table(
    "reward_grants",
    column("id", Integer),
    column("pool_id", Integer),
    column("owner_id", Integer),
    column("journey", String),
    column("created_at", UTCDateTime()),
    column("revealed_at", UTCDateTime()),
    # JOURNEY_NEXT (app.insights.rollups): a reveal is credited to the item's last journey.
    column("item_id", Integer),
    column("outcome", String),
    column("prize_id", String),
    column("redeemed_at", UTCDateTime()),
)

# Points earned, spent, expired and reversed by day.
loyalty_entries = table(
    "loyalty_entries",
    column("brand", String),
    column("at", UTCDateTime()),
    column("kind", String),
    column("points", Integer),
)

# Lift's "review" outcome: a review by the exposed owner.
product_reviews = table(
    "product_reviews",
    column("owner_id", Integer),
    column("product_id", Integer),
    column("created_at", UTCDateTime()),
    # JOURNEY_NEXT (app.insights.rollups): a review is credited to the item's last journey.
    column("item_id", Integer),
)

# Messages by slot and state, and what followed a sent one.
messages = table(
    "messages",
    column("brand", String),
    column("schedule_id", String),
    column("ownership_id", Integer),
    column("owner_id", Integer),
    column("slot", UTCDateTime()),
    column("state", String),
    column("sent_at", UTCDateTime()),
)

# The funnel's "service" stage: a request from an owner or work the brand recorded.
# SERVICE_REQUESTS and JOURNEY_NEXT (app.insights.rollups): read by id, counted by day.
service_requests = table("service_requests", column("item_id", Integer), column("id", Integer),
                         column("created_at", UTCDateTime()))
service_events = table("service_events", column("item_id", Integer))

# The funnel's "provenance" stage.
provenance_records = table("provenance_records", column("item_id", Integer))
