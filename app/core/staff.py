"""Named brand staff with roles, their one-time password links, and API tokens for machines.

Staff sign in to ``/admin`` with an email and a password (argon2id); machine clients (a shop's
till, a CRM) send ``Authorization: Bearer <token>``. Each is tied to one brand and one role, and
``Principal`` is what a request acts as. The development passwords (``ADMIN_PASSWORD``,
``TILL_PASSWORD``) become an all-brands principal (``brand_id`` None), so development and the
older tests keep working.

It lives in ``app.core`` because every domain's API blueprint is built by ``app.core.web`` and
must know who is calling; brands are referred to by id only (``brands.id``), so nothing here
needs the catalogue. Secrets are never stored: passwords as argon2id hashes, link and API tokens
as SHA-256 of 256 random bits (a keyed slow hash adds nothing to a value nobody can guess, and a
plain digest lets the lookup itself be the comparison). These services take a session and plain
values and never touch Flask's request globals.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ForeignKey, Index, Integer, String, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.core.audit import audit
from app.core.db import Base, UTCDateTime, update_rows
from app.core.errors import Conflict, DomainError, NotFound

ADMIN, MARKETER, SERVICE, TILL = "admin", "marketer", "service", "till"
ROLES = (ADMIN, MARKETER, SERVICE, TILL)
# What a one-time link is for: the first password of a new account, or a forgotten one.
SET_PASSWORD, RESET_PASSWORD = "set", "reset"
PASSWORD_MIN, PASSWORD_MAX = 12, 256
TOKEN_PREFIX = "atk_"  # noqa: S105 - marks a token in a leak scan; not a secret

# argon2-cffi's defaults are argon2id with RFC 9106's low-memory profile.
_hasher = PasswordHasher()
# Verified against when the account does not exist, so an unknown email costs the same time.
# Made on first use (``dummy_hash``), not at import: hashing costs a command that signs nobody
# in a quarter of a second; a server makes it at start-up (app factory), before any sign-in.
_DUMMY_HASH: str | None = None


def dummy_hash() -> str:
    """Return the hash an unknown account's password is verified against (made once)."""
    global _DUMMY_HASH  # one value per process, made on first use
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
    return _DUMMY_HASH


class StaffUser(Base):
    """A named member of one brand's staff, with one role. Disabled accounts are kept."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased; one account per address.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    # None until the person sets a password through their one-time link.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # Bumped by a password change and by signing out: every session cookie issued before stops
    # working (a cookie session cannot be revoked otherwise).
    auth_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StaffLink(Base):
    """A one-time link to set a password: only its SHA-256 is stored; used once, then dead."""

    __tablename__ = "staff_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(8))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiToken(Base):
    """A machine client's credential for one brand and role; only its SHA-256 is stored."""

    __tablename__ = "staff_api_tokens"
    __table_args__ = (Index("ix_staff_api_tokens_brand_id", "brand_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a staff member, an API token, or a development password user.

    ``brand_id`` None means every brand (only the development passwords). ``actor`` is what the
    audit log records: ``staff:<id>``, ``token:<id>``, or ``admin``/``till``; ids, never emails.
    """

    kind: str  # staff | token | dev
    id: int | None
    role: str
    brand_id: int | None
    actor: str
    epoch: int = 0

    def may(self, roles: frozenset[str]) -> bool:
        """Return True when this principal's role is one of ``roles``; admins may do anything."""
        return self.role == ADMIN or self.role in roles


def digest(token: str) -> str:
    """Return the stored form of a link or API token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_address(email: str) -> str:
    """Return ``email`` as stored (trimmed, lower case).

    Raises:
        DomainError: it does not look like an address.
    """
    value = (email or "").strip().lower()
    if len(value) > 254 or value.count("@") != 1 or value.startswith("@") or value.endswith("@"):
        raise DomainError("Give a valid email address.")
    return value


def check_role(role: str) -> str:
    """Return ``role`` if it is one of ``ROLES``.

    Raises:
        DomainError: any other value.
    """
    if role not in ROLES:
        raise DomainError(f"Role must be one of {', '.join(ROLES)}.")
    return role


def check_password(password: str) -> str:
    """Return ``password`` if it is long enough and not absurdly long.

    Raises:
        DomainError: shorter than 12 or longer than 256 characters.
    """
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise DomainError(f"Choose a password of {PASSWORD_MIN} to {PASSWORD_MAX} characters.")
    return password


def add_staff(
    session: Session, email: str, brand_id: int, role: str, at: datetime, *, actor: str
) -> StaffUser:
    """Create an account without a password (flushed, audited); the caller issues its link.

    Raises:
        DomainError: bad address or role.
        Conflict: an account with that address exists.
    """
    address = normalize_address(email)
    check_role(role)
    if session.scalar(select(StaffUser.id).where(StaffUser.email == address)) is not None:
        raise Conflict("A staff account with that address exists already.")
    user = StaffUser(email=address, brand_id=brand_id, role=role, created_at=at, auth_epoch=0)
    session.add(user)
    session.flush()
    audit(session, at, actor, "staff_add", staff_id=user.id, brand_id=brand_id, role=role)
    return user


def issue_link(
    session: Session, settings: Mapping[str, Any], user: StaffUser, purpose: str, at: datetime
) -> tuple[str, datetime]:
    """Store a new one-time link for ``user``; return ``(token, expires_at)``. Not committed.

    Set-password links last ``STAFF_SET_LINK_HOURS``, reset links ``STAFF_RESET_LINK_MINUTES``.
    """
    token = secrets.token_urlsafe(32)
    if purpose == SET_PASSWORD:
        expires = at + timedelta(hours=float(settings["STAFF_SET_LINK_HOURS"]))
    else:
        expires = at + timedelta(minutes=float(settings["STAFF_RESET_LINK_MINUTES"]))
    session.add(StaffLink(staff_id=user.id, purpose=purpose, token_hash=digest(token),
                          created_at=at, expires_at=expires))
    session.flush()
    return token, expires


def link_is_live(session: Session, token: str, at: datetime) -> bool:
    """Return True when ``token`` is an unused, unexpired link of an enabled account."""
    return session.scalar(
        select(StaffLink.id).join(StaffUser, StaffUser.id == StaffLink.staff_id)
        .where(StaffLink.token_hash == digest(token), StaffLink.used_at.is_(None),
               StaffLink.expires_at > at, StaffUser.disabled_at.is_(None))
    ) is not None


class LinkNotValid(NotFound):
    code = "link_not_valid"


def use_link(session: Session, token: str, password: str, at: datetime) -> int:
    """Set the password of the link's account and spend the link; return the staff id.

    The link is spent by one conditional UPDATE (``used_at IS NULL AND expires_at > at``), so of
    two requests racing with the same link exactly one sets a password. Every session signed in
    before ends (the epoch moves on). Audited. Not committed.

    Raises:
        DomainError: the password is too short or too long (the link is not spent).
        LinkNotValid: unknown, used, expired, or the account is disabled.
    """
    check_password(password)
    staff_id = session.execute(
        update(StaffLink)
        .where(StaffLink.token_hash == digest(token), StaffLink.used_at.is_(None),
               StaffLink.expires_at > at)
        .values(used_at=at).returning(StaffLink.staff_id),
        execution_options={"synchronize_session": False},
    ).scalar_one_or_none()
    user = session.get(StaffUser, staff_id) if staff_id is not None else None
    if user is None or user.disabled_at is not None:
        raise LinkNotValid("This link has expired or was used already. Ask for a new one.")
    user.password_hash = _hasher.hash(password)
    user.auth_epoch = (user.auth_epoch or 0) + 1
    # Any other link still out there dies with this one: one password change per email.
    update_rows(session, update(StaffLink).where(StaffLink.staff_id == user.id,
                                                 StaffLink.used_at.is_(None)).values(used_at=at))
    audit(session, at, f"staff:{user.id}", "staff_password_set")
    session.flush()
    return user.id


def authenticate(session: Session, email: str, password: str) -> StaffUser | None:
    """Return the enabled account with ``email`` whose password is ``password``, else None.

    An unknown address verifies a dummy hash, so it takes as long as a wrong password.
    """
    try:
        address = normalize_address(email)
    except DomainError:
        address = ""
    user = session.scalar(select(StaffUser).where(StaffUser.email == address)) if address else None
    stored = user.password_hash if user is not None and user.password_hash else dummy_hash()
    ok: bool
    try:
        ok = _hasher.verify(stored, password[:PASSWORD_MAX])
    except (VerificationError, InvalidHashError):
        ok = False
    if user is None or not user.password_hash or user.disabled_at is not None or not ok:
        return None
    return user


def staff_principal(session: Session, staff_id: int, epoch: int) -> Principal | None:
    """Return the principal of a signed-in session, or None if the account is disabled or the
    session predates a password change or a sign-out."""
    user = session.get(StaffUser, staff_id)
    if user is None or user.disabled_at is not None or user.auth_epoch != epoch:
        return None
    return Principal("staff", user.id, user.role, user.brand_id, f"staff:{user.id}",
                     user.auth_epoch)


def sign_out_everywhere(session: Session, staff_id: int) -> None:
    """End every session of ``staff_id`` (the epoch moves on). Not committed."""
    update_rows(session, update(StaffUser).where(StaffUser.id == staff_id)
                .values(auth_epoch=StaffUser.auth_epoch + 1))


def reset_target(session: Session, email: str) -> StaffUser | None:
    """Return the enabled account a reset for ``email`` would go to, or None."""
    try:
        address = normalize_address(email)
    except DomainError:
        return None
    return session.scalar(select(StaffUser).where(StaffUser.email == address,
                                                  StaffUser.disabled_at.is_(None)))


def disable_staff(session: Session, email: str, at: datetime, *, actor: str) -> StaffUser:
    """Disable the account with ``email``: its sessions, links and sign-ins stop. Audited.

    Raises:
        NotFound: no such account.
    """
    user = session.scalar(select(StaffUser).where(StaffUser.email == normalize_address(email)))
    if user is None:
        raise NotFound("No staff account has that address.")
    if user.disabled_at is None:
        user.disabled_at = at
        audit(session, at, actor, "staff_disable", staff_id=user.id)
    return user


def list_staff(session: Session, brand_id: int | None = None) -> list[StaffUser]:
    """Return the accounts (of one brand, if given), by id."""
    stmt = select(StaffUser).order_by(StaffUser.id)
    if brand_id is not None:
        stmt = stmt.where(StaffUser.brand_id == brand_id)
    return list(session.scalars(stmt))


def create_token(
    session: Session, brand_id: int, role: str, name: str, at: datetime, *, actor: str
) -> tuple[int, str]:
    """Create an API token; return ``(id, token)``. The token is shown once: only its hash stays.

    Raises:
        DomainError: bad role, or a name empty or over 80 characters.
    """
    check_role(role)
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise DomainError("Name the token (who uses it) in 1 to 80 characters.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(brand_id=brand_id, role=role, name=name, token_hash=digest(token),
                   created_at=at)
    session.add(row)
    session.flush()
    audit(session, at, actor, "api_token_create", token_id=row.id, brand_id=brand_id, role=role)
    return row.id, token


def revoke_token(session: Session, token_id: int, at: datetime, *, actor: str) -> bool:
    """Revoke API token ``token_id``; return False if it already was. Audited.

    Raises:
        NotFound: no such token.
    """
    if session.get(ApiToken, token_id) is None:
        raise NotFound(f"No API token {token_id}.")
    done = update_rows(session, update(ApiToken)
                       .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
                       .values(revoked_at=at))
    if done:
        audit(session, at, actor, "api_token_revoke", token_id=token_id)
    return bool(done)


def list_tokens(session: Session, brand_id: int | None = None) -> list[ApiToken]:
    """Return the API tokens (of one brand, if given), by id."""
    stmt = select(ApiToken).order_by(ApiToken.id)
    if brand_id is not None:
        stmt = stmt.where(ApiToken.brand_id == brand_id)
    return list(session.scalars(stmt))


def token_principal(session: Session, token: str) -> Principal | None:
    """Return the principal of a live API token, or None (unknown or revoked).

    The lookup is by the token's SHA-256: the database compares digests, never the secret.
    """
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(token),
                                                ApiToken.revoked_at.is_(None)))
    if row is None:
        return None
    return Principal("token", row.id, row.role, row.brand_id, f"token:{row.id}")


def any_credentials(session: Session) -> bool:
    """Return True when any staff account or API token exists (someone could sign in)."""
    staff = session.scalar(select(func.count()).select_from(StaffUser))
    tokens = session.scalar(select(func.count()).select_from(ApiToken))
    return bool(staff or tokens)
