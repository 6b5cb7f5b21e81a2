"""Insights: the rollup cube, refresh marks, integrity alerts, commerce events; items' sale.

Why: nothing reported what happened. Panels read ``insight_cube`` (one number per brand, metric,
day, product, market, country, journey and bucket; its primary key is the only index a panel
needs) which ``insights refresh`` keeps current from the event tables, reading each source from
its mark in ``insight_marks`` so a refresh run twice counts nothing twice. Integrity findings
become ``insight_alerts`` (one per item, kind and day: the unique key makes a second detection
of the same thing a no-op). Orders and refunds a brand's shop sends come in as
``commerce_events`` (unique per brand and sender's event id: a retried delivery is stored once),
verified with the brand's secrets in ``commerce_sources``. Activation runs from the sale, so an
item gets ``sold_at`` and the ``channel`` or retailer that sold it (both NULL: not known).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ALTER TABLE on both backends (SQLite >= 3.35 adds and drops columns in place): a batch
    # rebuild of ``items`` would trip over the rows that reference it.
    op.add_column("items", sa.Column("sold_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("items", sa.Column("channel", sa.String(64), nullable=True))
    op.create_table(
        "insight_cube",
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("market", sa.String(2), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("journey", sa.String(80), nullable=False),
        sa.Column("bucket", sa.String(80), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"],
                                name=op.f("fk_insight_cube_brand_id_brands")),
        sa.PrimaryKeyConstraint("brand_id", "metric", "day", "product_id", "market", "country",
                                "journey", "bucket", name=op.f("pk_insight_cube")),
    )
    op.create_table(
        "insight_marks",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("last_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_insight_marks")),
    )
    op.create_table(
        "insight_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tap_event_id", _BIG_ID, nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(40), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"],
                                name=op.f("fk_insight_alerts_brand_id_brands")),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"],
                                name=op.f("fk_insight_alerts_item_id_items")),
        sa.ForeignKeyConstraint(["tap_event_id"], ["tap_events.id"],
                                name=op.f("fk_insight_alerts_tap_event_id_tap_events")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insight_alerts")),
        sa.UniqueConstraint("item_id", "kind", "day",
                            name=op.f("uq_insight_alerts_item_id_kind_day")),
    )
    op.create_index("ix_insight_alerts_brand_id_at", "insight_alerts", ["brand_id", "at"])
    op.create_table(
        "commerce_sources",
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("secrets", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"],
                                name=op.f("fk_commerce_sources_brand_id_brands")),
        sa.PrimaryKeyConstraint("brand_id", name=op.f("pk_commerce_sources")),
    )
    op.create_table(
        "commerce_events",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("email_hash", sa.String(64), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("products", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"],
                                name=op.f("fk_commerce_events_brand_id_brands")),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"],
                                name=op.f("fk_commerce_events_owner_id_owners")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commerce_events")),
        sa.UniqueConstraint("brand_id", "event_id",
                            name=op.f("uq_commerce_events_brand_id_event_id")),
    )
    op.create_index("ix_commerce_events_owner_id_occurred_at", "commerce_events",
                    ["owner_id", "occurred_at"])
    op.create_index("ix_commerce_events_brand_id_occurred_at", "commerce_events",
                    ["brand_id", "occurred_at"])
    op.create_index(op.f("ix_commerce_events_email_hash"), "commerce_events", ["email_hash"])


def downgrade() -> None:
    op.drop_table("commerce_events")
    op.drop_table("commerce_sources")
    op.drop_table("insight_alerts")
    op.drop_table("insight_marks")
    op.drop_table("insight_cube")
    op.drop_column("items", "channel")
    op.drop_column("items", "sold_at")
