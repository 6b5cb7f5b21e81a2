"""The scheduler's record of runs (``scheduler_runs``).

Why: scheduled messages and daily duties run from one scheduler process, but a restart, a late
wake-up or a second scheduler started by mistake must neither skip a slot nor run it twice. Each
slot a job runs is claimed here, in the same transaction as its work, with insert-or-ignore on
the unique key (job, slot): a second claim of the same slot finds it taken and does nothing. The
newest slot per job is also where a restarted scheduler resumes its catch-up.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduler_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(200), nullable=False),
        sa.Column("slot", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduler_runs")),
        sa.UniqueConstraint("job", "slot", name="uq_scheduler_runs_job_slot"),
    )


def downgrade() -> None:
    op.drop_table("scheduler_runs")
