"""Per-locale catalogue words: a product's care text and owner-only content in each language
the brand writes, and the labels of its attributes.

Why: ``products.care_text`` and ``products.owner_content`` hold one text, in the brand's own
language, so a French page showed English care advice and "Made in" / "Cask" rows in English.
``products import`` now also reads ``care:fr``, ``owner_content:fr`` and ``label:<attribute>:fr``
columns (JSON: text per locale, and ``labels``). They go into one JSON column, read with the row
the tap already loads: {"care": {locale: markdown}, "owner_content": {...}, "labels":
{attribute: {locale: text}}}. The two text columns keep the brand's-language text, so nothing
written before changes. NULL: no such words.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("products", sa.Column("texts", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("products", "texts")
