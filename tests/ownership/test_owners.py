"""Owners' credentials, and the guarded insert that starts a holding."""

from __future__ import annotations

from datetime import UTC, datetime

from app.catalog.holdings import current_holding
from app.catalog.models import Owner
from app.ownership.owners import (
    create_owner,
    insert_ownership,
    new_token,
    next_ordinal,
    token_digest,
)
from tests.factories import tagged_item

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_tokens_are_random_and_only_their_digest_is_stored() -> None:
    token, digest = new_token()
    assert digest == token_digest(token) and len(digest) == 64 and token not in digest
    assert new_token()[0] != token
    # Anything a URL can carry hashes, even text that is not valid UTF-8 once decoded.
    assert len(token_digest("\udcff")) == 64


def test_create_owner_gives_each_owner_its_own_credential(app, db):
    first, second = create_owner(db, NOW), create_owner(db, NOW)
    db.commit()
    assert first.public_id != second.public_id
    row = db.get(Owner, first.id)
    assert (row.public_id, row.email, row.email_opt_in, row.created_at) == (
        first.public_id, None, False, NOW)


def test_an_item_has_at_most_one_current_ownership(app, db):
    tag = tagged_item(db)
    first, second = create_owner(db, NOW), create_owner(db, NOW)
    assert next_ordinal(db, tag.item_id) == 1
    assert insert_ownership(db, item_id=tag.item_id, owner_id=first.id, ordinal=1,
                            began_by="brand", started_at=NOW) is not None
    assert next_ordinal(db, tag.item_id) == 2
    # The insert does nothing, and the transaction goes on.
    assert insert_ownership(db, item_id=tag.item_id, owner_id=second.id, ordinal=2,
                            began_by="brand", started_at=NOW) is None
    db.commit()
    assert current_holding(db, tag.item_id).owner_id == first.id
