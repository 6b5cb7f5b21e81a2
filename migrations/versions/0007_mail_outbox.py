"""The mail outbox: ``outbox_mail``.

Why: emails were sent inside the request, so a slow SMTP server held a web worker for up to its
timeout, and a failed send was lost unless the person asked again. Requests now queue each email
in their own transaction (with the token it carries), and a worker sends and retries it
(``app.core.outbox``). ``ix_outbox_mail_due`` serves the worker's one query: pending mail due by
now.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("to_address", sa.String(254), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("give_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(80), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"],
                                name=op.f("fk_outbox_mail_owner_id_owners")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_mail")),
    )
    op.create_index(op.f("ix_outbox_mail_owner_id"), "outbox_mail", ["owner_id"])
    op.create_index("ix_outbox_mail_due", "outbox_mail", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("outbox_mail")
