"""Owners' product reviews, and prizes that wait for a minimum number of plays.

Why: journeys read ``owner.has_reviewed`` (the review-reveal promotion asks once), and a review
earns loyalty points once per owner and product. One review per owner and product is a unique
key, so a double submit cannot earn twice. A prize's ``min_plays`` keeps big prizes out of the
first draws of a pool, so the first players cannot drain them. ``ownerships.month_streak``
counts consecutive months with an owner tap, for regular-use loyalty journeys.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reward_prizes", sa.Column("min_plays", sa.Integer(), nullable=True))
    op.add_column("ownerships", sa.Column("month_streak", sa.Integer(), nullable=False,
                                          server_default="0"))
    op.add_column("ownerships", sa.Column("last_tap_month", sa.Integer(), nullable=True))
    op.create_table(
        "product_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_product_reviews_rating_1_to_5")),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"],
                                name=op.f("fk_product_reviews_item_id_items")),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"],
                                name=op.f("fk_product_reviews_owner_id_owners")),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"],
                                name=op.f("fk_product_reviews_product_id_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_reviews")),
        sa.UniqueConstraint("owner_id", "product_id",
                            name=op.f("uq_product_reviews_owner_id_product_id")),
    )


def downgrade() -> None:
    op.drop_table("product_reviews")
    op.drop_column("reward_prizes", "min_plays")
    op.drop_column("ownerships", "last_tap_month")
    op.drop_column("ownerships", "month_streak")
