"""Owner references for a brand's systems: they name the owner for that brand only, and nothing
else decodes to an owner."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from app.catalog.owner_refs import PREFIX, owner_of_reference, owner_reference

SETTINGS = {"SECRET_KEY": "test-secret-" + "x" * 40}
IDS = st.integers(1, 2**31 - 1)


@given(brand=IDS, owner=IDS)
def test_a_reference_names_its_owner_for_its_brand_only(brand, owner):
    reference = owner_reference(SETTINGS, brand, owner)
    assert reference.startswith(PREFIX) and len(reference) == 26
    assert reference == owner_reference(SETTINGS, brand, owner)  # the same in every message
    assert owner_of_reference(SETTINGS, brand, reference) == owner
    assert owner_of_reference(SETTINGS, brand % (2**31 - 1) + 1, reference) is None
    # Under another app secret it is nobody's.
    assert owner_of_reference({"SECRET_KEY": "another"}, brand, reference) is None


def test_one_owner_has_unrelated_references_at_two_brands():
    one, two = owner_reference(SETTINGS, 1, 42), owner_reference(SETTINGS, 2, 42)
    assert one != two
    # Nothing in common beyond the prefix a keyed permutation would leave by chance.
    assert sum(a == b for a, b in zip(one[4:], two[4:], strict=True)) < 8


@given(text=st.text(alphabet=string.ascii_letters + string.digits + "-_=+/\x00é", max_size=40))
def test_anything_else_names_nobody(text):
    assert owner_of_reference(SETTINGS, 1, PREFIX + text) is None or (
        owner_reference(SETTINGS, 1, owner_of_reference(SETTINGS, 1, PREFIX + text) or 0)
        == PREFIX + text)


def test_malformed_references_name_nobody():
    good = owner_reference(SETTINGS, 7, 9)
    for bad in ["", good[4:], "own_" + "A" * 22, good[:-1], good + "A",
                good.replace("own_", "own-"), "own_" + "!" * 22, "own_" + "A" * 21 + "=", None, 12]:
        assert owner_of_reference(SETTINGS, 7, bad) is None  # type: ignore[arg-type]
    flipped = good[:10] + ("B" if good[10] != "B" else "C") + good[11:]
    assert owner_of_reference(SETTINGS, 7, flipped) is None
