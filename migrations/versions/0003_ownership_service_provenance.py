"""Ownership lifecycle: owners, ownership history, transfers, emailed tokens, audit log, after-sales
service, provenance records, and the item columns a tap reads for them.

Why: issue 4 makes ownership real. Journeys read ownership.*, owner.*, warranty.* and service.*
facts on every tap, so the values a tap needs live on the rows it already loads (the item's
warranty, stolen flag and service count) or in one indexed lookup (the current ownership). A
partial unique index allows one current ownership per item, so racing claims or transfers cannot
both win. ``items.released`` becomes nullable: a brand without a sales feed leaves it unknown and
its ruleset decides what a first tap does. SQLite cannot drop NOT NULL in place, and rebuilding
``items`` would fight the foreign keys that point at it, so the column is replaced by a nullable
copy with plain ALTER statements both backends support.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("items", sa.Column("released_new", sa.Boolean(), nullable=True))
    op.execute("UPDATE items SET released_new = released")
    op.execute("ALTER TABLE items DROP COLUMN released")
    op.execute("ALTER TABLE items RENAME COLUMN released_new TO released")
    for column in (
        sa.Column("warranty_started_at", _tz(), nullable=True),
        sa.Column("warranty_ends_at", _tz(), nullable=True),
        sa.Column("stolen_at", _tz(), nullable=True),
        sa.Column("service_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_service_at", _tz(), nullable=True),
    ):
        op.add_column("items", column)
    op.add_column("tap_events", sa.Column("latitude", sa.Float(), nullable=True))
    op.add_column("tap_events", sa.Column("longitude", sa.Float(), nullable=True))

    op.create_table(
        "owners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(43), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("email_verified_at", _tz(), nullable=True),
        sa.Column("email_opt_in", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_at", _tz(), server_default=sa.func.now(), nullable=False),
        sa.Column("erased_at", _tz(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_owners")),
        sa.UniqueConstraint("public_id", name=op.f("uq_owners_public_id")),
    )
    op.create_index(op.f("ix_owners_email"), "owners", ["email"])

    op.create_table(
        "ownerships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("began_by", sa.String(16), nullable=False),
        sa.Column("started_at", _tz(), nullable=False),
        sa.Column("ended_at", _tz(), nullable=True),
        sa.Column("ended_by", sa.String(16), nullable=True),
        sa.Column("owner_taps", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_ownerships_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["owners.id"], name=op.f("fk_ownerships_owner_id_owners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ownerships")),
        sa.UniqueConstraint("item_id", "ordinal", name=op.f("uq_ownerships_item_id_ordinal")),
    )
    op.create_index(op.f("ix_ownerships_item_id"), "ownerships", ["item_id"])
    op.create_index(op.f("ix_ownerships_owner_id"), "ownerships", ["owner_id"])
    op.create_index(
        "uq_ownerships_current_item",
        "ownerships",
        ["item_id"],
        unique=True,
        sqlite_where=sa.text("ended_at IS NULL"),
        postgresql_where=sa.text("ended_at IS NULL"),
    )

    op.create_table(
        "transfer_offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("ownership_id", sa.Integer(), nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("expires_at", _tz(), nullable=False),
        sa.Column("accepted_at", _tz(), nullable=True),
        sa.Column("accepted_by", sa.Integer(), nullable=True),
        sa.Column("cancelled_at", _tz(), nullable=True),
        sa.ForeignKeyConstraint(
            ["accepted_by"], ["owners.id"], name=op.f("fk_transfer_offers_accepted_by_owners")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_transfer_offers_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["ownership_id"], ["ownerships.id"],
            name=op.f("fk_transfer_offers_ownership_id_ownerships"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfer_offers")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_transfer_offers_token_hash")),
    )
    op.create_index(op.f("ix_transfer_offers_item_id"), "transfer_offers", ["item_id"])

    op.create_table(
        "owner_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("expires_at", _tz(), nullable=False),
        sa.Column("used_at", _tz(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["owners.id"], name=op.f("fk_owner_tokens_owner_id_owners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_owner_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_owner_tokens_token_hash")),
    )
    op.create_index(op.f("ix_owner_tokens_owner_id"), "owner_tokens", ["owner_id"])

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _tz(), nullable=False),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_audit_log_item_id_items")),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["owners.id"], name=op.f("fk_audit_log_owner_id_owners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index(op.f("ix_audit_log_item_id"), "audit_log", ["item_id"])

    op.create_table(
        "service_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("ownership_id", sa.Integer(), nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("under_warranty", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_service_requests_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["ownership_id"], ["ownerships.id"],
            name=op.f("fk_service_requests_ownership_id_ownerships"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_requests")),
    )
    op.create_index(op.f("ix_service_requests_item_id"), "service_requests", ["item_id"])
    op.create_index(
        op.f("ix_service_requests_ownership_id"), "service_requests", ["ownership_id"]
    )

    op.create_table(
        "service_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("at", _tz(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("location", sa.String(120), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_service_events_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["service_requests.id"],
            name=op.f("fk_service_events_request_id_service_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_events")),
    )
    op.create_index(op.f("ix_service_events_at"), "service_events", ["at"])
    op.create_index(op.f("ix_service_events_item_id"), "service_events", ["item_id"])

    op.create_table(
        "provenance_records",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("ownership_id", sa.Integer(), nullable=True),
        sa.Column("issued_at", _tz(), nullable=False),
        sa.Column("expires_at", _tz(), nullable=False),
        sa.Column("revoked_at", _tz(), nullable=True),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_provenance_records_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["ownership_id"], ["ownerships.id"],
            name=op.f("fk_provenance_records_ownership_id_ownerships"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provenance_records")),
    )
    op.create_index(op.f("ix_provenance_records_item_id"), "provenance_records", ["item_id"])


def downgrade() -> None:
    for table in ("provenance_records", "service_events", "service_requests", "audit_log",
                  "owner_tokens", "transfer_offers", "ownerships", "owners"):
        op.drop_table(table)
    op.drop_column("tap_events", "longitude")
    op.drop_column("tap_events", "latitude")
    for column in ("last_service_at", "service_count", "stolen_at", "warranty_ends_at",
                   "warranty_started_at"):
        op.drop_column("items", column)
