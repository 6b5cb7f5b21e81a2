"""Catalogue, tag registry and tap log.

Why: a tap can only be judged against a registered tag (its UID, key version and the highest counter
already accepted) and the item it is bound to; every tap, whatever its verdict, is brand
intelligence and is logged. Failed taps are also counted per hour so their detail rows can be capped
without losing the totals.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "brands",
        _id(),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_brands"),
        sa.UniqueConstraint("slug", name="uq_brands_slug"),
    )
    op.create_table(
        "products",
        _id(),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("gtin", sa.String(14), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], name="fk_products_brand_id_brands"),
        sa.UniqueConstraint("gtin", name="uq_products_gtin"),
    )
    op.create_index("ix_products_brand_id", "products", ["brand_id"])
    op.create_table(
        "items",
        _id(),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(20), nullable=False),
        sa.Column("market", sa.String(2), nullable=True),
        sa.Column("released", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_items"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"],
                                name="fk_items_product_id_products"),
        sa.UniqueConstraint("product_id", "serial", name="uq_items_product_id_serial"),
    )
    op.create_index("ix_items_product_id", "items", ["product_id"])
    op.create_table(
        "tags",
        _id(),
        sa.Column("uid", sa.String(14), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("key_version", sa.String(64), nullable=False),
        sa.Column("last_counter", sa.Integer(), nullable=True),
        sa.Column("genuine_taps", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sim_counter", sa.Integer(), server_default="0", nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tags"),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name="fk_tags_item_id_items"),
        sa.UniqueConstraint("uid", name="uq_tags_uid"),
        sa.UniqueConstraint("item_id", name="uq_tags_item_id"),
    )
    op.create_table(
        "tap_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("counter", sa.Integer(), nullable=True),
        sa.Column("mode", sa.String(8), nullable=True),
        sa.Column("tamper", sa.String(20), nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("reason", sa.String(120), nullable=True),
        sa.Column("ruleset_version", sa.String(80), nullable=True),
        sa.Column("journey", sa.String(80), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tap_events"),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name="fk_tap_events_tag_id_tags"),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name="fk_tap_events_item_id_items"),
    )
    op.create_index("ix_tap_events_at", "tap_events", ["at"])
    op.create_index("ix_tap_events_verdict", "tap_events", ["verdict"])
    op.create_index("ix_tap_events_tag_id", "tap_events", ["tag_id"])
    op.create_index("ix_tap_events_item_id", "tap_events", ["item_id"])
    op.create_table(
        "failed_tap_hours",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "verdict", name="pk_failed_tap_hours"),
    )


def downgrade() -> None:
    op.drop_table("failed_tap_hours")
    op.drop_table("tap_events")
    op.drop_table("tags")
    op.drop_table("items")
    op.drop_table("products")
    op.drop_table("brands")
