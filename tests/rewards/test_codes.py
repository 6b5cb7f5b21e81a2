"""Codes at the till: checked, redeemed once, unknown and expired ones refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.core.errors import Conflict, Gone, NotFound
from app.rewards import codes
from tests.factories import tagged_item
from tests.rewards.helpers import T0, give, ruleset


def test_redeem_once_unknown_and_expired(db):
    doc = ruleset("gift: {prizes: [{id: p, code: generated}], expires: 10d}")
    item = tagged_item(db).item_id
    view = give(db, doc, "gift", None, item)
    late = give(db, doc, "gift", None, item)
    assert codes.check_code(db, view.code, T0).status == "valid"
    done = codes.redeem(db, view.code, T0 + timedelta(days=1), shop="paris-1")
    db.commit()
    assert done.status == "redeemed" and done.shop == "paris-1" and done.prize_id == "p"
    with pytest.raises(Conflict):
        codes.redeem(db, view.code, T0 + timedelta(days=2), shop="paris-2")
    with pytest.raises(NotFound):
        codes.redeem(db, "AT-NOPE", T0, shop="x")
    with pytest.raises(Gone):
        codes.redeem(db, late.code, T0 + timedelta(days=10, seconds=1), shop="x")
