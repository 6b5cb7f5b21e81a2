"""Points expiry: the brand whose ruleset granted an earn, on ``loyalty_entries``.

Why: points belong to the owner, not to a brand, but they expire by the policy of the brand whose
ruleset granted them (its ``guardrails: points_expire_after``). An earn must therefore say which
brand granted it. Entries written before this revision, and points that come from no ruleset
(behaviour points), have no brand and never expire.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("loyalty_entries", sa.Column("brand", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("loyalty_entries") as batch:
        batch.drop_column("brand")
