"""Provisional first-tap claims: ``ownerships.confirmed_at``.

Why: a first tap claims a sold item for a new owner, and the owner's cookie only reaches the phone
in that tap's response. If the response is lost, the item belonged to an owner no browser holds,
and only the brand could fix it. A claim that made a new owner now stays provisional
(``confirmed_at`` NULL) until the claiming browser comes back with its cookie; until then, and
only within the tap-session window, a genuine tap from another browser takes it over.

Existing rows are all confirmed (``confirmed_at = started_at``): they were made before claims
could be provisional, every one is older than the tap-session window, and a holding that has
already stood must never change hands because of this change.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ownerships", sa.Column("confirmed_at", sa.DateTime(timezone=True),
                                          nullable=True))
    op.execute("UPDATE ownerships SET confirmed_at = started_at")


def downgrade() -> None:
    op.drop_column("ownerships", "confirmed_at")
