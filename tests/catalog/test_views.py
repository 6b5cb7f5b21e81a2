"""Read views of the catalogue: a row loaded on the tap's hot path reads like the ORM item."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from app.catalog.models import Brand, Item, Product
from app.catalog.views import ITEM_COLUMNS, item_view, item_view_from_row
from tests.factories import tagged_item


def test_the_hot_path_row_and_the_orm_item_give_the_same_view(db):
    tag = tagged_item(db, attributes={"warranty_months": 24, "material": "calf"}, released=None)
    item = tag.item
    item.warranty_started_at = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    item.stolen_at = datetime(2026, 2, 1, tzinfo=UTC)
    item.service_count = 2
    db.commit()
    db.expire_all()
    row = db.execute(
        select(*ITEM_COLUMNS).join(Product, Item.product_id == Product.id)
        .join(Brand, Product.brand_id == Brand.id).where(Item.id == tag.item_id)
    ).one()
    from_row = item_view_from_row(row)
    assert from_row == item_view(db.get_one(Item, tag.item_id))
    assert (from_row.released, from_row.stolen, from_row.service_count) == (None, True, 2)
    assert from_row.product.attributes["material"] == "calf"
    assert from_row.warranty_started_at == datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
