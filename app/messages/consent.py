"""Owners' consent per channel and kind of message; ``owners.email_opt_in`` is the default."""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.catalog.models import Owner
from app.core.db import dialect_insert
from app.core.errors import NotFound
from app.core.i18n import N_
from app.messages.models import Consent
from app.messages.schedules import live_ruleset

CHANNELS = ("email", "crm_webhook")


CHANNEL_LABELS = {"email": N_("Email"), "crm_webhook": N_("The brand’s customer service")}
# The built-in messages' kinds as ``kind_label`` says them, for the catalogue: pages and
# subjects show them translated.
BUILT_IN_KINDS = (N_("Refill"), N_("Win back"))

_ANSWER = select(Consent.granted).where(
    Consent.owner_id == bindparam("owner_id"), Consent.channel == bindparam("channel"),
    Consent.kind == bindparam("kind"))
_DEFAULT = select(Owner.email_opt_in, Owner.email_verified_at, Owner.erased_at).where(
    Owner.id == bindparam("owner_id"))


def kind_label(kind: str) -> str:
    """Return a kind of message (its template name) as words: ``refill_email`` -> "Refill"."""
    words = kind.removesuffix("_email").replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:]


_MESSAGES_DIR = Path(__file__).resolve().parents[2] / "templates" / "messages"
_TITLE = re.compile(r"<title>(.*?)</title>", re.S)


@functools.cache
def kind_title(kind: str) -> str:
    """Return what owners read for a kind of message: its template's ``<title>``, else
    ``kind_label``. Read once: templates only change with a deploy."""
    path = _MESSAGES_DIR / f"{kind}.html"
    match = _TITLE.search(path.read_text()) if path.is_file() else None
    title = html.unescape(match.group(1)).strip() if match else ""
    return title or kind_label(kind)


def granted(session: Session, owner_id: int, channel: str, kind: str) -> bool:
    """Return whether owner ``owner_id`` agrees to ``kind`` messages on ``channel``.

    The owner's own answer wins; without one, the email opt-in (with a confirmed address) is
    the default for every channel. An erased owner never agrees.
    """
    row = session.execute(_DEFAULT, {"owner_id": owner_id}).first()
    if row is None or row.erased_at is not None:
        return False
    answer = session.scalar(_ANSWER, {"owner_id": owner_id, "channel": channel, "kind": kind})
    return _agrees(row, answer)


def _agrees(default: Any, answer: bool | None) -> bool:
    """The rule of ``granted`` for an owner who is not erased: the answer, else the default."""
    if answer is not None:
        return bool(answer)
    return bool(default.email_opt_in) and default.email_verified_at is not None


def granted_many(session: Session, owner_ids: Collection[int], channels: Collection[str],
                 kind: str) -> set[tuple[int, str]]:
    """Return the (owner_id, channel) pairs of ``owner_ids`` x ``channels`` that agree to
    ``kind`` messages: ``granted`` for many owners at once, in two queries."""
    if not owner_ids or not channels:
        return set()
    defaults = {row.id: row for row in session.execute(
        select(Owner.id, Owner.email_opt_in, Owner.email_verified_at, Owner.erased_at)
        .where(Owner.id.in_(list(owner_ids))))}
    answers = {(row.owner_id, row.channel): row.granted for row in session.execute(
        select(Consent.owner_id, Consent.channel, Consent.granted)
        .where(Consent.owner_id.in_(list(owner_ids)), Consent.channel.in_(list(channels)),
               Consent.kind == kind))}
    return {(owner_id, channel) for owner_id, row in defaults.items()
            if row.erased_at is None for channel in channels
            if _agrees(row, answers.get((owner_id, channel)))}


def set_consent(session: Session, owner_id: int, channel: str, kind: str, value: bool,
                at: datetime) -> None:
    """Record the owner's answer for (channel, kind); the caller commits.

    Raises ValueError for an unknown channel.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    insert = dialect_insert(session)
    statement = insert(Consent).values(owner_id=owner_id, channel=channel, kind=kind,
                                       granted=value, updated_at=at)
    session.execute(statement.on_conflict_do_update(
        index_elements=[Consent.owner_id, Consent.channel, Consent.kind],
        set_={"granted": value, "updated_at": at}))


@dataclass(frozen=True)
class ConsentRow:
    """One line of the owner's consent table."""

    channel: str
    channel_label: str
    kind: str
    kind_label: str
    granted: bool


def consent_table(session: Session, owner_id: int, kinds: list[str]) -> list[ConsentRow]:
    """Return the owner's answer for every channel and each of ``kinds``."""
    return [ConsentRow(channel, CHANNEL_LABELS[channel], kind, kind_label(kind),
                       granted(session, owner_id, channel, kind))
            for kind in kinds for channel in CHANNELS]


def offered(session: Session, brand: str) -> list[tuple[str, str]]:
    """Return the (channel, kind) pairs ``brand``'s live ruleset sends, in ruleset order.

    Every channel consent governs is offered: delivery checks consent on the CRM channel too,
    so the owner must be able to refuse it. Empty when the brand has no live ruleset.
    """
    try:
        _version, doc = live_ruleset(session, brand)
    except NotFound:
        return []
    pairs: list[tuple[str, str]] = []
    for schedule in doc.schedules:
        for channel in schedule.channel:
            if channel in CHANNELS and (channel, schedule.message) not in pairs:
                pairs.append((channel, schedule.message))
    return pairs


def owner_choices(session: Session, brand: str, owner_id: int) -> list[ConsentRow]:
    """Return the owner's answer for each (channel, kind) ``brand`` sends, in words."""
    return [ConsentRow(channel, CHANNEL_LABELS[channel], kind, kind_title(kind),
                       granted(session, owner_id, channel, kind))
            for channel, kind in offered(session, brand)]


def field_name(channel: str, kind: str) -> str:
    """Return the form field of one (channel, kind) checkbox."""
    return f"consent:{channel}:{kind}"


def save_choices(session: Session, brand: str, owner_id: int, ticked: set[str],
                 at: datetime) -> None:
    """Record the owner's answers from a form: each offered pair is granted when its
    ``field_name`` is in ``ticked``, refused otherwise (an unticked box sends nothing).
    Pairs the brand does not send are ignored. The caller commits."""
    for channel, kind in offered(session, brand):
        set_consent(session, owner_id, channel, kind, field_name(channel, kind) in ticked, at)
