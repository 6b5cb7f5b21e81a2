"""Rewards that ask for something first: a pool's ``requires``, owners' recorded actions, and
the owner's feedback on a service.

Why: a ruleset reward may now say ``requires: review`` (or ``email_confirmed``,
``service_feedback``), and its reveal is refused until the owner has done it. A reveal has only
the grant, so the pool keeps a copy of what the reward requires (as it keeps its points and
expiry). Service feedback is after-sales' record (``service_feedback``, one per service event
and ownership); rewards never reads another domain's tables, so after-sales signals it and
rewards keeps its own row of what the owner did (``reward_actions``, one per owner, item and
action) in the same transaction.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reward_pools", sa.Column("requires", sa.String(64), nullable=True))
    op.create_table(
        "reward_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"],
                                name=op.f("fk_reward_actions_item_id_items")),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"],
                                name=op.f("fk_reward_actions_owner_id_owners")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_actions")),
        sa.UniqueConstraint("owner_id", "item_id", "action",
                            name=op.f("uq_reward_actions_owner_id_item_id_action")),
    )
    op.create_table(
        "service_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("ownership_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating BETWEEN 1 AND 5",
                           name=op.f("ck_service_feedback_rating_1_to_5")),
        sa.ForeignKeyConstraint(["event_id"], ["service_events.id"],
                                name=op.f("fk_service_feedback_event_id_service_events")),
        sa.ForeignKeyConstraint(["ownership_id"], ["ownerships.id"],
                                name=op.f("fk_service_feedback_ownership_id_ownerships")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_feedback")),
        sa.UniqueConstraint("event_id", "ownership_id",
                            name=op.f("uq_service_feedback_event_id_ownership_id")),
    )
    op.create_index(op.f("ix_service_feedback_event_id"), "service_feedback", ["event_id"])
    op.create_index(op.f("ix_service_feedback_ownership_id"), "service_feedback",
                    ["ownership_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_service_feedback_ownership_id"), table_name="service_feedback")
    op.drop_index(op.f("ix_service_feedback_event_id"), table_name="service_feedback")
    op.drop_table("service_feedback")
    op.drop_table("reward_actions")
    with op.batch_alter_table("reward_pools") as batch:
        batch.drop_column("requires")
