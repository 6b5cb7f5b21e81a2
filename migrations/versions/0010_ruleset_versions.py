"""Published ruleset versions (``ruleset_versions``) and each tap's facts (``tap_events.facts``).

Why: rulesets went live from files on each server's disk. A brand without a file, or with a typo
in ``brand:``, fell back to another brand's journeys; a file saved with an error stopped every
process that restarted after it, and several servers could serve different files. A ruleset is
now published like code: validated, its tests run, and stored here as a new version with its
author, time and a diff against the one it replaces. The live version of a brand is its newest
row; every process polls ``ix_ruleset_versions_brand_id`` (the newest id per brand) and switches
within seconds, with no shared disk. ``brand`` references ``brands.slug``, so a version for a
brand that does not exist cannot be stored.

``tap_events.facts`` keeps the compact JSON fact each tap was decided on, so a draft can be
replayed against real history ("what if") before it is published.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ruleset_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("author", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(200), nullable=True),
        sa.Column("diff", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["brand"], ["brands.slug"],
                                name=op.f("fk_ruleset_versions_brand_brands")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ruleset_versions")),
    )
    op.create_index("ix_ruleset_versions_brand_id", "ruleset_versions", ["brand", "id"])
    with op.batch_alter_table("tap_events") as batch:
        batch.add_column(sa.Column("facts", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tap_events") as batch:
        batch.drop_column("facts")
    op.drop_table("ruleset_versions")
