"""Owner time zone: ``owners.timezone``, the owner's own choice for scheduled messages.

Why: a scheduled message must reach its owner at the schedule's wall time (09:00 on day 77) in
the owner's own time zone and never in their quiet hours. Until now that zone was guessed from
the country of the item's last tap, else the ruleset's; an owner who lives elsewhere, or who
never tapped from a known country, had no way to say where they are. The column holds an IANA
name (at most 64 characters) chosen on the owner's page; NULL keeps the guess ("automatic"), so
every existing owner keeps today's behaviour.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("owners", sa.Column("timezone", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("owners") as batch:
        batch.drop_column("timezone")
