"""Star ratings: whole numbers 1 to 5, from a form's text or JSON; anything else refused."""

from __future__ import annotations

import pytest

from app.core.errors import DomainError
from app.core.ratings import star_rating


@pytest.mark.parametrize(("value", "stars"), [("1", 1), ("5", 5), (3, 3), (" 4 ", 4)])
def test_a_rating_from_one_to_five_is_taken(value, stars):
    assert star_rating(value) == stars


@pytest.mark.parametrize("value", [None, "", "0", "6", "-1", "4.5", "four", True, [], {}])
def test_anything_else_is_refused_with_one_message(value):
    with pytest.raises(DomainError, match="Choose a rating from 1 to 5 stars"):
        star_rating(value)
