"""What workshops and owners type: free text and moments, checked and normalised."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from app.core.clock import utc
from app.core.errors import N_, DomainError

# The sentences for the fields owners fill in (shown translated): "please write it" and "too
# long" (``%(length)s`` and ``%(maximum)s``). Other fields (the workshop's API) say their name.
_OWNER_FIELDS = {
    "message": (N_("Please write the message."),
                N_("The message is %(length)s characters long; at most %(maximum)s fit.")),
    "feedback": (N_("Please write the feedback."),
                 N_("The feedback is %(length)s characters long; at most %(maximum)s fit.")),
}


def clean_text(value: object, field: str, maximum: int, *, required: bool) -> str | None:
    """Return ``value`` stripped, with CRLF line breaks as LF; None when empty and optional.

    Raises:
        DomainError: not text, empty while ``required``, or longer than ``maximum`` characters.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError(f"{field} must be text.")
    # Browsers send a textarea's line breaks as CRLF but count them as one character.
    text = value.replace("\r\n", "\n").strip()
    empty, too_long = _OWNER_FIELDS.get(
        field, (f"Please write the {field}.",
                f"The {field} is %(length)s characters long; at most %(maximum)s fit."))
    if not text:
        if required:
            raise DomainError(empty)
        return None
    if len(text) > maximum:
        raise DomainError(too_long, length=len(text), maximum=maximum)
    return text


def parse_moment(text: str) -> datetime:
    """Return the UTC moment written as an ISO date or datetime (``Z`` or an offset allowed).

    A date means its midnight UTC; a datetime without an offset is taken as UTC.

    Raises:
        DomainError: the text is not an ISO date or datetime, or its offset moves it outside the
            years 1 to 9999 in UTC (``0001-01-01T00:00:00+01:00``).
    """
    raw = (text or "").strip()
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(), UTC)
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise DomainError(
            f"{raw!r} is not a date or time; write it like 2026-03-14 or 2026-03-14T10:30:00Z."
        ) from None
    try:
        return utc(parsed)
    except OverflowError:
        raise DomainError(f"{raw!r} is out of range: in UTC it falls outside the years 1 to "
                          "9999.") from None
