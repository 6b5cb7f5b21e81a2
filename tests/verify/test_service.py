"""verify_tap's defences beyond the MAC: a tap must verify under the tag's own key version."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.verify.models import Tag, TapEvent
from app.verify.sun import mint_query
from tests.factories import JSON_ACCEPT, tagged_item, tap_url


@pytest.mark.parametrize("mode", ["aes", "lrp"])
def test_tap_signed_under_another_configured_key_version_is_refused(client, db, keyring, mode):
    # The tag was personalised with test-2026. A URL that verifies under tamper-2026, another
    # version in the same keys file, proves only that someone holds that version's keys: it must
    # not count as a tap of this tag, nor burn its counter.
    tag = tagged_item(db, key_version="test-2026")
    query = mint_query(keyring["tamper-2026"], bytes.fromhex(tag.uid), 5, mode=mode)
    path = f"/01/{tag.item.product.gtin}/21/{tag.item.serial}?{query}"

    resp = client.get(path, headers=JSON_ACCEPT)

    assert resp.status_code == 400
    assert resp.get_json()["verdict"] == "invalid"
    assert resp.get_json()["ownership"] is None
    assert "could not verify" in client.get(path).get_data(as_text=True)
    event = db.scalars(select(TapEvent).order_by(TapEvent.id.desc())).first()
    assert (event.verdict, event.reason) == ("invalid", "tag signed with another key version")
    db.expire_all()
    assert db.get(Tag, tag.id).last_counter is None
    assert db.get(Tag, tag.id).genuine_taps == 0
    # The tag's genuine taps still work.
    genuine = client.get(tap_url(db, keyring, tag), headers=JSON_ACCEPT)
    assert genuine.get_json()["verdict"] == "genuine"
