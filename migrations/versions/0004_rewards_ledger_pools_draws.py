"""Rewards: loyalty ledger, reward pools and prizes, grants, audited draws, daily seeds, imported
codes, limit slots, per-day counts and holdout exposures.

Why: issue 5 makes rewards real, and rewards are only worth giving if their limits hold when many
phones reveal at once. So every limit is a database fact: a balance with CHECK >= 0, prize and
budget counters with CHECK given <= stock / budget advanced by conditional UPDATEs, one grant per
(tap, reward) by a unique key, per-owner / per-item / guardrail limits as numbered slots (primary
key (scope, slot)) that a grant inserts or, after the rolling period, re-takes with a conditional
UPDATE. Draws keep their inputs and random value, and each pool's daily seed is committed to (its
SHA-256 stored and shown) before the day's play, so a day's outcomes can be recomputed and checked.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _tap_id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "loyalty_accounts",
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("balance", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", _tz(), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_loyalty_accounts_balance_not_negative")),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"],
                                name=op.f("fk_loyalty_accounts_owner_id_owners")),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_loyalty_accounts")),
    )
    op.create_table(
        "loyalty_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("at", _tz(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        sa.Column("cause_type", sa.String(16), nullable=False),
        sa.Column("cause_id", sa.String(64), nullable=False),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("balance_after >= 0",
                           name=op.f("ck_loyalty_entries_balance_after_not_negative")),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"],
                                name=op.f("fk_loyalty_entries_owner_id_owners")),
        sa.ForeignKeyConstraint(["reverses_id"], ["loyalty_entries.id"],
                                name=op.f("fk_loyalty_entries_reverses_id_loyalty_entries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_entries")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_loyalty_entries_reverses_id")),
    )
    op.create_index(op.f("ix_loyalty_entries_owner_id"), "loyalty_entries", ["owner_id"])

    op.create_table(
        "reward_pools",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("reward_id", sa.String(64), nullable=False),
        sa.Column("mechanic", sa.String(16), nullable=False),
        sa.Column("budget", sa.Integer(), nullable=True),
        sa.Column("given", sa.Integer(), server_default="0", nullable=False),
        sa.Column("points", sa.Integer(), nullable=True),
        sa.Column("expires_days", sa.Integer(), nullable=True),
        sa.CheckConstraint("budget IS NULL OR given <= budget",
                           name=op.f("ck_reward_pools_within_budget")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_pools")),
        sa.UniqueConstraint("brand", "reward_id", name=op.f("uq_reward_pools_brand_reward_id")),
    )
    op.create_table(
        "reward_prizes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("prize_id", sa.String(64), nullable=False),
        sa.Column("consolation", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.Column("given", sa.Integer(), server_default="0", nullable=False),
        sa.Column("code", sa.String(16), nullable=True),
        sa.Column("code_list", sa.String(64), nullable=True),
        sa.Column("points", sa.Integer(), nullable=True),
        sa.Column("retired", sa.Boolean(), server_default="0", nullable=False),
        sa.CheckConstraint("stock IS NULL OR given <= stock",
                           name=op.f("ck_reward_prizes_within_stock")),
        sa.ForeignKeyConstraint(["pool_id"], ["reward_pools.id"],
                                name=op.f("fk_reward_prizes_pool_id_reward_pools")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_prizes")),
        sa.UniqueConstraint("pool_id", "prize_id", name=op.f("uq_reward_prizes_pool_id_prize_id")),
    )
    op.create_index(op.f("ix_reward_prizes_pool_id"), "reward_prizes", ["pool_id"])
    op.create_table(
        "reward_seeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("seed", sa.String(64), nullable=False),
        sa.Column("commitment", sa.String(64), nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("revealed_at", _tz(), nullable=True),
        sa.ForeignKeyConstraint(["pool_id"], ["reward_pools.id"],
                                name=op.f("fk_reward_seeds_pool_id_reward_pools")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_seeds")),
        sa.UniqueConstraint("pool_id", "day", name=op.f("uq_reward_seeds_pool_id_day")),
    )
    op.create_table(
        "reward_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("tap_event_id", _tap_id(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("journey", sa.String(80), nullable=False),
        sa.Column("token", sa.String(43), nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("revealed_at", _tz(), nullable=True),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("prize_id", sa.String(64), nullable=True),
        sa.Column("points", sa.Integer(), server_default="0", nullable=False),
        sa.Column("code", sa.String(64), nullable=True),
        sa.Column("expires_at", _tz(), nullable=True),
        sa.Column("redeemed_at", _tz(), nullable=True),
        sa.Column("redeemed_shop", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["pool_id"], ["reward_pools.id"],
                                name=op.f("fk_reward_grants_pool_id_reward_pools")),
        sa.ForeignKeyConstraint(["tap_event_id"], ["tap_events.id"],
                                name=op.f("fk_reward_grants_tap_event_id_tap_events")),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"],
                                name=op.f("fk_reward_grants_owner_id_owners")),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"],
                                name=op.f("fk_reward_grants_item_id_items")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_grants")),
        sa.UniqueConstraint("tap_event_id", "pool_id",
                            name=op.f("uq_reward_grants_tap_event_id_pool_id")),
        sa.UniqueConstraint("token", name=op.f("uq_reward_grants_token")),
        sa.UniqueConstraint("code", name=op.f("uq_reward_grants_code")),
    )
    op.create_index(op.f("ix_reward_grants_pool_id"), "reward_grants", ["pool_id"])
    op.create_index(op.f("ix_reward_grants_owner_id"), "reward_grants", ["owner_id"])
    op.create_index(op.f("ix_reward_grants_item_id"), "reward_grants", ["item_id"])
    op.create_table(
        "reward_draws",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("at", _tz(), nullable=False),
        sa.Column("message", sa.String(80), nullable=False),
        sa.Column("value_hex", sa.String(64), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("picked", sa.String(64), nullable=True),
        sa.Column("stock_taken", sa.Boolean(), nullable=False),
        sa.Column("outcome_prize", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["grant_id"], ["reward_grants.id"],
                                name=op.f("fk_reward_draws_grant_id_reward_grants")),
        sa.ForeignKeyConstraint(["pool_id"], ["reward_pools.id"],
                                name=op.f("fk_reward_draws_pool_id_reward_pools")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_draws")),
        sa.UniqueConstraint("grant_id", name=op.f("uq_reward_draws_grant_id")),
    )
    op.create_index("ix_reward_draws_pool_id_day", "reward_draws", ["pool_id", "day"])
    op.create_table(
        "reward_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("list_name", sa.String(64), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("imported_at", _tz(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["grant_id"], ["reward_grants.id"],
                                name=op.f("fk_reward_codes_grant_id_reward_grants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_codes")),
        sa.UniqueConstraint("brand", "list_name", "code",
                            name=op.f("uq_reward_codes_brand_list_name_code")),
        sa.UniqueConstraint("grant_id", name=op.f("uq_reward_codes_grant_id")),
    )
    op.create_index("ix_reward_codes_free", "reward_codes", ["brand", "list_name", "grant_id"])
    op.create_table(
        "reward_slots",
        sa.Column("scope", sa.String(120), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("used_at", _tz(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["grant_id"], ["reward_grants.id"],
                                name=op.f("fk_reward_slots_grant_id_reward_grants")),
        sa.PrimaryKeyConstraint("scope", "slot", name=op.f("pk_reward_slots")),
    )
    op.create_table(
        "reward_day_counts",
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["pool_id"], ["reward_pools.id"],
                                name=op.f("fk_reward_day_counts_pool_id_reward_pools")),
        sa.PrimaryKeyConstraint("pool_id", "day", name=op.f("pk_reward_day_counts")),
    )
    op.create_table(
        "reward_exposures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("tap_event_id", _tap_id(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("cohort", sa.String(10), nullable=False),
        sa.Column("at", _tz(), nullable=False),
        sa.ForeignKeyConstraint(["pool_id"], ["reward_pools.id"],
                                name=op.f("fk_reward_exposures_pool_id_reward_pools")),
        sa.ForeignKeyConstraint(["tap_event_id"], ["tap_events.id"],
                                name=op.f("fk_reward_exposures_tap_event_id_tap_events")),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"],
                                name=op.f("fk_reward_exposures_owner_id_owners")),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"],
                                name=op.f("fk_reward_exposures_item_id_items")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_exposures")),
        sa.UniqueConstraint("pool_id", "tap_event_id",
                            name=op.f("uq_reward_exposures_pool_id_tap_event_id")),
    )


def downgrade() -> None:
    for table in (
        "reward_exposures", "reward_day_counts", "reward_slots", "reward_codes", "reward_draws",
        "reward_grants", "reward_seeds", "reward_prizes", "reward_pools", "loyalty_entries",
        "loyalty_accounts",
    ):
        op.drop_table(table)
