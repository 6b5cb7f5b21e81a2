"""Scheduled messages (``messages``), owners' consent (``message_consents``) and each brand's CRM
webhook (``message_endpoints``).

Why: Aftertap only ever answered a tap; issue 12 makes it speak first (a refill reminder on day
77). A cron slot may be ticked twice (two scheduler processes, a restart during catch-up), so
"exactly once per due slot" is held by the database, not by the scheduler:
``uq_messages_brand`` on (brand, schedule_id, ownership_id, slot, channel) makes a second insert
of the same message a no-op. Messages are rows, not broker jobs, so consent, the per-owner cap and
quiet hours are checked again at send time in the same database as the rest. ``key`` is the stable
Message-ID / webhook-id; ``unsubscribe_hash`` holds only a hash of the unsubscribe token. Consent
is per (owner, channel, kind), with ``owners.email_opt_in`` as the email default when no row
exists. Webhook secrets live here, never in ruleset files (which are in version control).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("schedule_id", sa.String(80), nullable=False),
        sa.Column("ownership_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("template", sa.String(80), nullable=False),
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("reason", sa.String(80), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("give_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unsubscribe_hash", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["ownership_id"], ["ownerships.id"],
                                name=op.f("fk_messages_ownership_id_ownerships")),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"],
                                name=op.f("fk_messages_owner_id_owners")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("brand", "schedule_id", "ownership_id", "slot", "channel",
                            name=op.f("uq_messages_brand_schedule_id_ownership_id_slot_channel")),
        sa.UniqueConstraint("key", name=op.f("uq_messages_key")),
        sa.UniqueConstraint("unsubscribe_hash", name=op.f("uq_messages_unsubscribe_hash")),
    )
    op.create_index("ix_messages_due", "messages", ["state", "next_attempt_at"])
    op.create_index(op.f("ix_messages_brand"), "messages", ["brand"])
    op.create_index(op.f("ix_messages_owner_id"), "messages", ["owner_id"])
    op.create_table(
        "message_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(80), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"],
                                name=op.f("fk_message_consents_owner_id_owners")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_consents")),
        sa.UniqueConstraint("owner_id", "channel", "kind",
                            name=op.f("uq_message_consents_owner_id_channel_kind")),
    )
    op.create_index(op.f("ix_message_consents_owner_id"), "message_consents", ["owner_id"])
    op.create_table(
        "message_endpoints",
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("secrets", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["brand"], ["brands.slug"],
                                name=op.f("fk_message_endpoints_brand_brands")),
        sa.PrimaryKeyConstraint("brand", name=op.f("pk_message_endpoints")),
    )


def downgrade() -> None:
    op.drop_table("message_endpoints")
    op.drop_index(op.f("ix_message_consents_owner_id"), table_name="message_consents")
    op.drop_table("message_consents")
    op.drop_index(op.f("ix_messages_owner_id"), table_name="messages")
    op.drop_index(op.f("ix_messages_brand"), table_name="messages")
    op.drop_index("ix_messages_due", table_name="messages")
    op.drop_table("messages")
