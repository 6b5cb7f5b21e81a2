"""Brand onboarding: a brand's time zone, locale and market; a product's care text, owner-only
content, images and the names of its provenance attributes.

Why: a brand could only be created by the demo seed or ``flask shell``, and a product could carry
no care text (templates held one category's care words and showed them to every other),
no owner-only content and no image. ``flask brands create`` and ``flask products import`` now
fill these columns.

- ``brands.timezone`` (IANA), ``brands.locale`` (``en``, ``fr-FR``) and ``brands.market``
  (ISO 3166 alpha-2, the home market; NULL: not given). Existing brands get ``UTC`` and ``en``,
  what they were implicitly served with.
- ``products.care_text`` and ``products.owner_content``: Markdown, rendered safely on the page.
  The demo kept owner-only content in ``attributes['owner_content']``; it moves here, so long
  text is no longer sent to the rules engine with every tap as a ``product.*`` fact.
- ``products.images``: ``[{"file", "width", "height"}]`` in display order, files in the brand's
  asset folder; the size is kept so pages reserve the image's space before it loads.
- ``products.provenance_attributes``: which ``attributes`` describe the object itself (shown on
  the tap page, signed into provenance records), in display order. NULL keeps the built-in list
  the demo products were made with.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("brands") as batch:
        batch.add_column(sa.Column("timezone", sa.String(64), nullable=False,
                                   server_default="UTC"))
        batch.add_column(sa.Column("locale", sa.String(35), nullable=False,
                                   server_default="en"))
        batch.add_column(sa.Column("market", sa.String(2), nullable=True))
    op.add_column("products", sa.Column("care_text", sa.Text(), nullable=True))
    op.add_column("products", sa.Column("owner_content", sa.Text(), nullable=True))
    op.add_column("products", sa.Column("images", sa.JSON(), nullable=True))
    op.add_column("products", sa.Column("provenance_attributes", sa.JSON(), nullable=True))

    # Move owner-only content out of the attributes (few rows: a brand's catalogue).
    products = sa.table("products", sa.column("id", sa.Integer()),
                        sa.column("attributes", sa.JSON()),
                        sa.column("owner_content", sa.Text()))
    conn = op.get_bind()
    for row in conn.execute(sa.select(products.c.id, products.c.attributes)).all():
        attributes = dict(row.attributes or {})
        content = attributes.pop("owner_content", None)
        if not content:
            continue
        conn.execute(products.update().where(products.c.id == row.id)
                     .values(attributes=attributes, owner_content=str(content)))


def downgrade() -> None:
    products = sa.table("products", sa.column("id", sa.Integer()),
                        sa.column("attributes", sa.JSON()),
                        sa.column("owner_content", sa.Text()))
    conn = op.get_bind()
    for row in conn.execute(sa.select(products.c.id, products.c.attributes,
                                      products.c.owner_content)
                            .where(products.c.owner_content.is_not(None))).all():
        attributes = {**(row.attributes or {}), "owner_content": row.owner_content}
        conn.execute(products.update().where(products.c.id == row.id)
                     .values(attributes=attributes))
    op.drop_column("products", "provenance_attributes")
    op.drop_column("products", "images")
    op.drop_column("products", "owner_content")
    op.drop_column("products", "care_text")
    with op.batch_alter_table("brands") as batch:
        batch.drop_column("market")
        batch.drop_column("locale")
        batch.drop_column("timezone")
