"""Staff accounts as the brand side offers them: invitations with a one-time set-password link
(printed or mailed through the outbox), password resets by email, and sign-in.

Services: they take the session, the settings and input, queue mail in the caller's
transaction, and never touch Flask's request globals; views and commands commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.models import Brand
from app.core import outbox, staff
from app.core.errors import NotFound

ROLE_WORDS = {
    staff.ADMIN: "administrator",
    staff.MARKETER: "marketer",
    staff.SERVICE: "after-sales service",
    staff.TILL: "till",
}
PASSWORD_PATH = "/admin/password/"  # noqa: S105 - a path, not a password


def find_brand(session: Session, slug: str) -> Brand:
    """Return the brand ``slug``.

    Raises:
        NotFound: no such brand.
    """
    brand = session.scalar(select(Brand).where(Brand.slug == slug))
    if brand is None:
        raise NotFound(f"No brand {slug!r}.")
    return brand


def password_url(settings: Mapping[str, Any], token: str) -> str:
    """Return the absolute address of the one-time password link ``token``."""
    return str(settings["PUBLIC_BASE_URL"]).rstrip("/") + PASSWORD_PATH + token


@dataclass(frozen=True)
class Invitation:
    staff_id: int
    link: str
    expires_at: datetime
    mailed: bool


def invite(
    session: Session, settings: Mapping[str, Any], *, email: str, brand: Brand, role: str,
    at: datetime, actor: str, send: bool,
) -> Invitation:
    """Open an account and issue its set-password link; mail it when ``send``. Not committed.

    Raises:
        DomainError: bad address or role.
        Conflict: the address has an account already.
    """
    user = staff.add_staff(session, email, brand.id, role, at, actor=actor)
    token, expires = staff.issue_link(session, settings, user, staff.SET_PASSWORD, at)
    link = password_url(settings, token)
    if send:
        hours = int(float(settings["STAFF_SET_LINK_HOURS"]))
        text = (
            "Hello,\n\n"
            f"An account on the {brand.name} side of Aftertap was opened for you, as "
            f"{ROLE_WORDS[role]}.\n\n"
            f"Choose your password with this link within {hours} hours (it works once):\n\n"
            f"{link}\n\n"
            "If you did not expect this email, ignore it.\n"
        )
        outbox.enqueue(session, settings, to=user.email, subject=f"Your {brand.name} account",
                       text=text, kind="staff_invite", at=at, valid_until=expires)
    return Invitation(user.id, link, expires, send)


def request_reset(session: Session, settings: Mapping[str, Any], email: str, at: datetime) -> None:
    """Queue a one-time reset link to ``email`` if it is an enabled account; else do nothing.

    The caller answers the same either way, so the page tells nobody which addresses exist.
    """
    user = staff.reset_target(session, email)
    if user is None:
        return
    token, expires = staff.issue_link(session, settings, user, staff.RESET_PASSWORD, at)
    minutes = int(float(settings["STAFF_RESET_LINK_MINUTES"]))
    text = (
        "Hello,\n\n"
        "Someone asked to reset the password of your Aftertap staff account.\n\n"
        f"If it was you, choose a new password with this link within {minutes} minutes "
        "(it works once):\n\n"
        f"{password_url(settings, token)}\n\n"
        "If it was not you, ignore this email: your password stays as it is.\n"
    )
    outbox.enqueue(session, settings, to=user.email, subject="Reset your Aftertap password",
                   text=text, kind="staff_reset", at=at, valid_until=expires)
