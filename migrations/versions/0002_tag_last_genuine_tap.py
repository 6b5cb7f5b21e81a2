"""Remember each tag's last genuine tap.

Why: journeys read ``tap.days_since_last``. Finding it in the tap log costs a query per tap that
grows with the item's history; keeping it on the tag row makes it part of the read the tap already
does, and the counter UPDATE that accepts a tap sets it in the same statement.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tags") as batch:
        batch.add_column(sa.Column("last_genuine_at", sa.DateTime(timezone=True), nullable=True))
    # Existing tags: take it from the log once.
    op.execute(
        "UPDATE tags SET last_genuine_at = (SELECT max(e.at) FROM tap_events e "
        "WHERE e.tag_id = tags.id AND e.verdict = 'genuine')"
    )


def downgrade() -> None:
    with op.batch_alter_table("tags") as batch:
        batch.drop_column("last_genuine_at")
