"""A brand's till checks and redeems its own brand's codes only (issue 11)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.clock import now
from app.core.errors import NotFound
from app.rewards import codes
from app.rewards.models import RewardGrant
from tests.admin.helpers import BRAND_A, BRAND_B, seed_brand


def test_another_brands_code_is_not_found_and_never_redeemed(app, db):
    seed_brand(app, db, BRAND_A, "AAA-0001")
    other = seed_brand(app, db, BRAND_B, "BBB-0001")
    with pytest.raises(NotFound):
        codes.check_code(db, other.code, now(), BRAND_A)
    with pytest.raises(NotFound):
        codes.redeem(db, other.code, now(), shop="Rivoli", brand=BRAND_A)
    # Read in the same transaction, before any rollback: the UPDATE itself left it alone.
    assert db.scalar(select(RewardGrant.redeemed_at).where(RewardGrant.code == other.code)) \
        is None
    assert codes.redeem(db, other.code, now(), shop="Rivoli", brand=BRAND_B).status == "redeemed"
