"""Rewards a scheduled message carries: grants and exposures keyed on a message, not a tap.

Why: a schedule may name a reward (``reward: refill-scratch``); the owner is granted it when the
message is sent, with no tap behind it. The grant must be made once per message even when a copy
is sent again after a worker crashed (its lease ran out), so it is keyed on the message's key,
unique per pool like a tap's grant is on (tap, pool). ``tap_event_id`` becomes optional; a CHECK
keeps every grant and exposure tied to a tap or a message.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _tap_id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    for table in ("reward_grants", "reward_exposures"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("message_key", sa.String(80), nullable=True))
            batch.alter_column("tap_event_id", existing_type=_tap_id(), nullable=True)
            batch.create_unique_constraint(op.f(f"uq_{table}_message_key_pool_id"),
                                           ["message_key", "pool_id"])
            batch.create_check_constraint(
                "tap_or_message", "tap_event_id IS NOT NULL OR message_key IS NOT NULL")


def downgrade() -> None:
    for table in ("reward_grants", "reward_exposures"):
        op.execute(f"DELETE FROM {table} WHERE tap_event_id IS NULL")  # noqa: S608 - fixed names
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_tap_or_message"), type_="check")
            batch.drop_constraint(op.f(f"uq_{table}_message_key_pool_id"), type_="unique")
            batch.alter_column("tap_event_id", existing_type=_tap_id(), nullable=False)
            batch.drop_column("message_key")
