"""Named staff per brand: ``staff_users``, ``staff_links``, ``staff_api_tokens``.

Why: the brand side had one admin password and one till password for every brand, so nobody
could be told apart, a brand's people could see every other brand, and the audit log could only
say "admin". Each staff member now has an account tied to one brand and one role (argon2id
password hash, ``auth_epoch`` to end every session at once); set-password and reset links are
single-use and stored as SHA-256 digests (``token_hash`` unique: the lookup is the comparison);
machine clients get API tokens scoped to a brand and a role, stored the same way and revocable.
Nothing here holds a secret in clear.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("auth_epoch", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"],
                                name=op.f("fk_staff_users_brand_id_brands")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint("email", name=op.f("uq_staff_users_email")),
    )
    op.create_index(op.f("ix_staff_users_brand_id"), "staff_users", ["brand_id"])
    op.create_table(
        "staff_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(8), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"],
                                name=op.f("fk_staff_links_staff_id_staff_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_links_token_hash")),
    )
    op.create_index(op.f("ix_staff_links_staff_id"), "staff_links", ["staff_id"])
    op.create_table(
        "staff_api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"],
                                name=op.f("fk_staff_api_tokens_brand_id_brands")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_api_tokens_token_hash")),
    )
    op.create_index("ix_staff_api_tokens_brand_id", "staff_api_tokens", ["brand_id"])


def downgrade() -> None:
    op.drop_table("staff_api_tokens")
    op.drop_table("staff_links")
    op.drop_table("staff_users")
