"""Star ratings people give (a product review, a service's feedback): one rule, one message."""

from __future__ import annotations

from app.core.errors import N_, DomainError


def star_rating(value: object) -> int:
    """Return ``value`` (a form field or JSON value) as a whole number of stars, 1 to 5.

    Raises:
        DomainError: it is missing, not a whole number, or outside 1 to 5.
    """
    try:
        stars = int(value) if value is not None and not isinstance(value, bool) else 0  # type: ignore[call-overload]
    except (TypeError, ValueError):
        stars = 0
    if not 1 <= stars <= 5:
        raise DomainError(N_("Choose a rating from 1 to 5 stars."))
    return stars
