"""Delivery of scheduled messages: claim due rows, check again, send, record what happened.

Run by the mail worker (``flask mail deliver`` calls ``deliver_due`` each poll). Several workers
may run on PostgreSQL: each claims rows with ``FOR UPDATE SKIP LOCKED``, so a row is claimed by
one of them, and the claim (state ``sending`` with a lease) commits before anything is sent. On
SQLite one worker runs (its transactions take the write lock at BEGIN).

At claim time, in the claim's transaction, each row is checked again: the owner erased or
consent withdrawn since the tick suppresses it; the owner's quiet hours, in the owner's time
zone (``app.messages.zones``), defer it to their end;
the ruleset's ``messages_per_owner`` cap (over every schedule and channel) suppresses it when
reached. The cap is held by the database: the owner's row is locked (``FOR UPDATE``) while the
owner's counted messages are counted and this one is marked ``sending``, so two workers cannot
both take the last place.

A worker claims a batch (``MAIL_BATCH`` rows): the batch's owners, consents and time zones
are read with one query each, its emails go over one SMTP connection (a message refused or
failing is reported on its own and never stops the others). Each email's hand-over is one
autocommit statement; the batch's results commit together at its end.

What a crash can cause (an email at most once, a CRM call at least once, a row never lost):

- killed before its claim commits: nothing was sent and the rows are still due;
- killed after the claim, before an email's hand-over commits (connecting, sending the envelope):
  nothing of that email reached the server; after the lease (``MAIL_LEASE_SECONDS``) another
  worker sends it, once;
- killed after an email's hand-over (``sent_at`` set, committed just before its data goes) and
  before its result is recorded: the server may hold it. After the lease it is failed with
  reason ``interrupted`` and never sent again, so no owner gets two copies; staff see it on the
  messages page. The same holds when the connection drops during the data (no answer from the
  server). So a worker killed mid-batch leaves the emails it had sent in that batch failed as
  ``interrupted`` too (their results commit at the batch's end): they did arrive, once;
- killed during or after a CRM call before its result is recorded: after the lease the call is
  made again with the same ``webhook-id``, which Standard Webhooks receivers use to drop repeats.

A worker stalled past its lease cannot send what another worker claimed since: the hand-over
checks the lease is still the one it claimed (``LeaseLost``).

A schedule may name a reward (``reward: refill-scratch``): when an email of it is claimed, the
rewards domain is asked for a grant (signal ``message_reward_requested``) in the claim's
transaction, so the grant commits before the email goes and a copy re-sent after a crash carries
the same link (rewards keys the grant on the message). A reward that cannot be given (cap,
holdout, stock) leaves the email without its card.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import random
import re
import urllib.error
import urllib.request
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import jinja2
from babel.support import NullTranslations, Translations
from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from app.catalog.models import Brand, Item, Owner, Ownership, Product
from app.catalog.owner_refs import owner_reference
from app.core import mail, signals
from app.core.clock import now as clock_now
from app.core.db import update_rows
from app.core.errors import NotFound
from app.core.outbox import retry_delay
from app.journeys.language import QuietHours, RulesetDoc
from app.messages import consent
from app.messages.models import (
    ACCEPTED,
    COUNTED,
    DEFERRED,
    FAILED,
    SCHEDULED,
    SENDING,
    SENT,
    SUPPRESSED,
    Consent,
    Endpoint,
    Message,
)
from app.messages.schedules import live_ruleset
from app.messages.zones import effective_zone, zones_of

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"

TRANSLATIONS_DIR = TEMPLATES_DIR.parent / "translations"


@functools.cache
def _env(language: str) -> jinja2.Environment:
    """Return the templates of messages written in ``language`` (its catalogue in
    ``translations/``; English words where it has none). One per language, never changed: the
    scheduler renders from several threads."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(  # type: ignore[attr-defined]
        _catalogue(language), newstyle=True)
    return env


@functools.cache
def _catalogue(language: str) -> NullTranslations:
    """Return the built-in words of ``language`` (``make translations``)."""
    return Translations.load(str(TRANSLATIONS_DIR), [language])


def _language(locale: str | None) -> str:
    """Return the language of a brand's locale (``fr-FR`` -> ``fr``): messages are written in
    the brand's own language (``Brand.locale``), not the phone's."""
    return (locale or "en").replace("_", "-").split("-")[0].lower() or "en"


def email_language(locale: str | None) -> str:
    """Return the language a message of a brand with ``locale`` (``Brand.locale``) is written
    in: its language when it has a catalogue, else English (the templates' own)."""
    language = _language(locale)
    return language if (TRANSLATIONS_DIR / language / "LC_MESSAGES").is_dir() else "en"

_DUE = (
    select(Message.id)
    .where(((Message.state.in_([SCHEDULED, DEFERRED]))
            & (Message.next_attempt_at <= bindparam("at")))
           | ((Message.state == SENDING) & (Message.leased_until < bindparam("at"))))
    .order_by(Message.next_attempt_at, Message.id)
    .limit(bindparam("limit"))
)
_LOCK_OWNERS = (select(Owner.id).where(Owner.id.in_(bindparam("owner_ids", expanding=True)))
                .order_by(Owner.id).with_for_update())
# Counted messages per owner of one brand, outside the batch (whose rows are counted in memory).
_COUNTED = (
    select(Message.owner_id, func.count())
    .where(Message.owner_id.in_(bindparam("owner_ids", expanding=True)),
           Message.brand == bindparam("brand"), Message.state.in_(COUNTED),
           Message.counted_at > bindparam("since"),
           Message.id.not_in(bindparam("batch_ids", expanding=True)))
    .group_by(Message.owner_id)
)
_OWNERS = select(Owner.id, Owner.email, Owner.email_verified_at, Owner.email_opt_in,
                 Owner.erased_at).where(Owner.id.in_(bindparam("owner_ids", expanding=True)))
_CONSENTS = select(Consent.owner_id, Consent.channel, Consent.kind, Consent.granted).where(
    Consent.owner_id.in_(bindparam("owner_ids", expanding=True)))


def unsubscribe_token(settings: Mapping[str, Any], key: str) -> str:
    """Return the unsubscribe token of message ``key``: the same on every copy of the message."""
    digest = hmac.new(str(settings["SECRET_KEY"]).encode(), f"unsubscribe:{key}".encode(),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    """Return what is stored of an unsubscribe token (its SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def owner_zone(session: Session, ownership_id: int, doc: RulesetDoc) -> zoneinfo.ZoneInfo:
    """Return the owner's time zone (``zones.effective_zone``): their own setting, else their
    tap country's, else the ruleset's."""
    owner_timezone, country = zones_of(session, [ownership_id]).get(ownership_id, (None, None))
    return effective_zone(owner_timezone, country, doc.timezone)


def quiet_until(quiet: QuietHours | None, zone: zoneinfo.ZoneInfo,
                at: datetime) -> datetime | None:
    """Return when the quiet hours holding at ``at`` end (aware UTC), or None when not quiet.

    Quiet hours may cross midnight (21:00 to 08:00).
    """
    if quiet is None:
        return None
    start, end = time.fromisoformat(quiet.start), time.fromisoformat(quiet.end)
    local = at.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    inside = start <= t < end if start <= end else (t >= start or t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone).astimezone(at.tzinfo)


@dataclass(frozen=True)
class Claimed:
    """A message this worker holds the lease on, with what it needs to send it."""

    id: int
    key: str
    brand: str
    schedule_id: str
    channel: str
    template: str
    attempts: int
    give_up_at: datetime
    owner_id: int
    ownership_id: int
    reward_url: str | None = None  # the private link of the reward the message carries
    lease: datetime | None = None  # this claim's lease: a later claim by another has a later one


@dataclass
class Report:
    """What one delivery round did."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    deferred: int = 0
    suppressed: int = 0


def _set(session: Session, message_id: int, **values: Any) -> None:
    update_rows(session, update(Message).where(Message.id == message_id).values(**values))


def _set_each(session: Session, rows: list[dict[str, Any]]) -> None:
    """Update each message by its ``id`` with its own values: one statement per set of columns
    (executemany)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for values in rows:
        groups.setdefault(tuple(sorted(values)), []).append(values)
    for columns, group in groups.items():
        statement = update(Message).where(Message.id == bindparam("b_id")).values(
            {column: bindparam(f"b_{column}") for column in columns if column != "id"})
        session.connection().execute(
            statement, [{f"b_{column}": value for column, value in values.items()}
                        for values in group])


@dataclass
class _Batch:
    """What the checks of a claimed batch read, one query each."""

    owners: dict[int, Any]
    answers: dict[tuple[int, str, str], bool]
    zones: dict[int, tuple[str | None, str | None]]  # (owner's own zone, last tap country)


def _load_batch(session: Session, rows: list[Message], quiet_ids: list[int]) -> _Batch:
    owner_ids = sorted({row.owner_id for row in rows})
    owners = {o.id: o for o in session.execute(_OWNERS, {"owner_ids": owner_ids})}
    answers = {(a.owner_id, a.channel, a.kind): bool(a.granted)
               for a in session.execute(_CONSENTS, {"owner_ids": owner_ids})}
    return _Batch(owners, answers, zones_of(session, quiet_ids))


def _granted(batch: _Batch, owner: Any, channel: str, kind: str) -> bool:
    """``consent.granted`` over what the batch read: the owner's own answer wins, else the email
    opt-in with a confirmed address; an erased owner never agrees."""
    if owner is None or owner.erased_at is not None:
        return False
    answer = batch.answers.get((owner.id, channel, kind))
    if answer is not None:
        return answer
    return bool(owner.email_opt_in) and owner.email_verified_at is not None


def _refusal(batch: _Batch, row: Message) -> str | None:
    """Return why ``row`` must not go (erased, consent, address), or None."""
    owner = batch.owners.get(row.owner_id)
    if owner is None or owner.erased_at is not None:
        return "erased"
    if not _granted(batch, owner, row.channel, row.template):
        refused = batch.answers.get((row.owner_id, row.channel, row.template)) is False
        return "unsubscribed" if refused else "no_consent"
    if row.channel == "email" and not (owner.email and owner.email_verified_at):
        return "no_address"
    return None


def _reward_url(session: Session, settings: Mapping[str, Any], row: Message, doc: RulesetDoc,
                at: datetime) -> str | None:
    """Return the absolute link of the reward ``row``'s schedule names, granted for this message
    (once: a re-claimed copy gets the same grant), or None when none is named or given."""
    schedule = next((s for s in doc.schedules if s.id == row.schedule_id), None)
    # Only email carries the card: a CRM payload would hand the owner's private link onwards.
    if schedule is None or schedule.reward is None or row.channel != "email":
        return None
    item_id = session.execute(
        select(Ownership.item_id).where(Ownership.id == row.ownership_id)).scalar_one()
    answers = signals.message_reward_requested.send(
        session, settings=settings, ruleset=doc, brand=row.brand, reward_id=schedule.reward,
        owner_id=row.owner_id, item_id=item_id, message_key=row.key,
        schedule_id=row.schedule_id, at=at)
    path = next((value for _listener, value in answers if isinstance(value, str)), None)
    if path is None:
        return None
    return str(settings["PUBLIC_BASE_URL"]).rstrip("/") + path


def claim_due(session: Session, settings: Mapping[str, Any], at: datetime, limit: int,
              report: Report) -> list[Claimed]:
    """Lease up to ``limit`` due messages that may go now and commit; return them.

    Rows that must wait (quiet hours) or must not go (consent, erased, cap) are recorded as
    such in the same transaction and not returned. The batch's owners, consents and time
    zones are read with one query each; the cap locks the owners it counts (``FOR UPDATE``,
    in id order) before counting, as one statement.
    """
    statement = _DUE
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    ids = list(session.scalars(statement, {"at": at, "limit": limit}))
    if not ids:
        session.commit()
        return []
    lease = at + timedelta(seconds=float(settings["MAIL_LEASE_SECONDS"]))
    rows = list(session.scalars(select(Message).where(Message.id.in_(ids))
                                .order_by(Message.id)))
    docs: dict[str, RulesetDoc | None] = {}
    for row in rows:
        if row.brand not in docs:
            try:
                docs[row.brand] = live_ruleset(session, row.brand)[1]
            except NotFound:
                docs[row.brand] = None
    changes: list[dict[str, Any]] = []
    # An email handed over (``sent_at``) by a worker whose lease ran out may have arrived: it is
    # never sent again (at most one copy), and staff see why.
    interrupted = {row.id for row in rows if row.state == SENDING and row.sent_at is not None}
    for row_id in sorted(interrupted):
        changes.append({"id": row_id, "state": FAILED, "reason": INTERRUPTED,
                        "leased_until": None})
        report.failed += 1
    candidates = [row for row in rows
                  if docs[row.brand] is not None and row.id not in interrupted]
    for row in rows:
        if docs[row.brand] is None and row.id not in interrupted:
            changes.append({"id": row.id, "state": SUPPRESSED, "reason": "no_ruleset",
                            "leased_until": None})
            report.suppressed += 1
    batch = _load_batch(session, candidates, [
        row.ownership_id for row in candidates
        if docs[row.brand].guardrails.quiet_hours is not None])  # type: ignore[union-attr]

    # Consent, erasure, address, then quiet hours.
    going: list[Message] = []
    for row in candidates:
        doc = docs[row.brand]
        assert doc is not None
        reason = _refusal(batch, row)
        if reason is not None:
            changes.append({"id": row.id, "state": SUPPRESSED, "reason": reason,
                            "leased_until": None})
            report.suppressed += 1
            continue
        zone = effective_zone(*batch.zones.get(row.ownership_id, (None, None)), doc.timezone)
        until = quiet_until(doc.guardrails.quiet_hours, zone, at)
        if until is not None:
            changes.append({"id": row.id, "state": DEFERRED, "next_attempt_at": until,
                            "leased_until": None})
            report.deferred += 1
            continue
        going.append(row)

    # The cap: the owners' row locks serialise every worker counting these owners' messages.
    capped = [row for row in going if docs[row.brand].guardrails.messages_per_owner is not None]  # type: ignore[union-attr]
    used: dict[tuple[int, str], int] = {}
    if capped:
        session.execute(_LOCK_OWNERS, {"owner_ids": sorted({row.owner_id for row in capped})})
        for brand in sorted({row.brand for row in capped}):
            cap = docs[brand].guardrails.messages_per_owner  # type: ignore[union-attr]
            assert cap is not None
            owner_ids = sorted({row.owner_id for row in capped if row.brand == brand})
            for owner_id, count in session.execute(_COUNTED, {
                    "owner_ids": owner_ids, "brand": brand, "batch_ids": ids,
                    "since": at - timedelta(days=cap.per)}):
                used[(owner_id, brand)] = count
    # The batch's own rows count as they stand now (a leased-out copy already counted counts).
    state: dict[int, tuple[str, datetime | None]] = {
        row.id: (row.state, row.counted_at) for row in rows}
    for change in changes:
        state[change["id"]] = (change["state"], None)
    claimed = []
    for row in going:
        doc = docs[row.brand]
        assert doc is not None
        cap = doc.guardrails.messages_per_owner
        if cap is not None:
            since = at - timedelta(days=cap.per)
            mine = 0
            for other in rows:
                other_state, other_counted = state[other.id]
                if (other.id != row.id and other.owner_id == row.owner_id
                        and other.brand == row.brand and other_state in COUNTED
                        and other_counted is not None and other_counted > since):
                    mine += 1
            if used.get((row.owner_id, row.brand), 0) + mine >= cap.max:
                changes.append({"id": row.id, "state": SUPPRESSED, "reason": "cap",
                                "leased_until": None})
                state[row.id] = (SUPPRESSED, None)
                report.suppressed += 1
                continue
        reward_url = _reward_url(session, settings, row, doc, at)
        token = unsubscribe_token(settings, row.key)
        counted_at = row.counted_at or at
        changes.append({"id": row.id, "state": SENDING, "leased_until": lease,
                        "attempts": row.attempts + 1, "counted_at": counted_at,
                        "unsubscribe_hash": token_hash(token)})
        state[row.id] = (SENDING, counted_at)
        claimed.append(Claimed(row.id, row.key, row.brand, row.schedule_id, row.channel,
                               row.template, row.attempts + 1, row.give_up_at, row.owner_id,
                               row.ownership_id, reward_url, lease))
    _set_each(session, changes)
    # A row tried before may carry a reward granted at its earlier claim: it will never go now.
    tried = {row.id: row for row in rows if row.attempts > 0}
    for change in changes:
        if change["state"] == SUPPRESSED and change["id"] in tried:
            _undelivered(session, tried[change["id"]].brand, tried[change["id"]].key, at)
    session.commit()
    return claimed


def _undelivered(session: Session, brand: str, key: str, at: datetime) -> None:
    """Say in this transaction that message ``key`` never reaches its owner (its reward is taken
    back)."""
    signals.message_undelivered.send(session, brand=brand, message_key=key, at=at)


class NotDelivered(Exception):
    """The receiving side did not take the message; ``kind`` says why (no personal data)."""

    def __init__(self, kind: str, permanent: bool = False, in_doubt: bool = False) -> None:
        super().__init__(kind)
        self.kind = kind
        self.permanent = permanent
        self.in_doubt = in_doubt


# Why an email handed over to the mail server was neither accepted nor refused: the worker or its
# connection stopped during the data. It may have arrived; sending it again might deliver two.
INTERRUPTED = "interrupted"


class LeaseLost(Exception):
    """This worker's lease on a message ran out and another worker claimed it: not sent here."""


@dataclass(frozen=True)
class Rendered:
    """A message as its owner gets it."""

    to: str | None
    subject: str
    html: str
    text: str
    payload: dict[str, Any]


def render(session: Session, settings: Mapping[str, Any], template: str, brand: str,
           ownership_id: int, key: str, slot: datetime | None = None,
           reward_url: str | None = None) -> Rendered:
    """Return message ``template`` of ``brand`` for ownership ``ownership_id``, with the link to
    the reward it carries when ``reward_url`` is given.

    Raises NotFound for an unknown ownership.
    """
    row = _recipients(session, [ownership_id]).get(ownership_id)
    if row is None:
        raise NotFound("no such ownership")
    return _compose(settings, row, template, brand, key, slot, reward_url)


_RECIPIENTS = (
    select(Ownership.id, Ownership.owner_id, Owner.email, Product.name.label("product_name"),
           Brand.id.label("brand_id"), Brand.name.label("brand_name"),
           Brand.locale.label("brand_locale"), Item.serial)
    .join(Owner, Ownership.owner_id == Owner.id)
    .join(Item, Item.id == Ownership.item_id).join(Product, Product.id == Item.product_id)
    .join(Brand, Brand.id == Product.brand_id)
    .where(Ownership.id.in_(bindparam("ownership_ids", expanding=True)))
)


def _recipients(session: Session, ownership_ids: list[int]) -> dict[int, Any]:
    """Return what rendering needs of each ownership, by id (one query; unknown ones missing)."""
    return {row.id: row for row in session.execute(
        _RECIPIENTS, {"ownership_ids": sorted(set(ownership_ids))})}


def _compose(settings: Mapping[str, Any], row: Any, template: str, brand: str, key: str,
             slot: datetime | None = None, reward_url: str | None = None) -> Rendered:
    base = str(settings["PUBLIC_BASE_URL"]).rstrip("/")
    unsubscribe_url = f"{base}/unsubscribe/{unsubscribe_token(settings, key)}"
    language = _language(row.brand_locale)
    html = _env(language).get_template(f"messages/{template}.html").render(
        product={"name": row.product_name}, brand={"name": row.brand_name},
        unsubscribe_url=unsubscribe_url, reward_url=reward_url)
    text = _strip(html)
    kind = _catalogue(language).gettext(consent.kind_label(template))
    subject = f"{row.brand_name}: {kind}"
    # The owner's reference for this brand (never our id or cookie credential): the brand's
    # shop sends it back with an order (``POST /api/v1/events``) to measure purchases.
    payload = {"type": "message.scheduled", "id": key, "brand": brand, "message": template,
               "owner": {"id": owner_reference(settings, row.brand_id, row.owner_id)},
               "item": {"serial": row.serial, "product": row.product_name},
               "slot": slot.isoformat() if slot else None}
    return Rendered(row.email, subject, html, text, payload)


def _strip(html: str) -> str:

    body = re.sub(r"<[^>]+>", "", html.split("<body", 1)[-1].split(">", 1)[-1])
    return "\n".join(line.strip() for line in body.splitlines() if line.strip())


def email_message(settings: Mapping[str, Any], rendered: Rendered, key: str,
                  unsubscribe_url: str) -> EmailMessage:
    """Return ``rendered`` as an email with one-click unsubscribe (RFC 8058) and the message's
    stable Message-ID."""
    assert rendered.to is not None
    message = mail.build_message(settings, rendered.to, rendered.subject,
                                 rendered.text + f"\n\nUnsubscribe: {unsubscribe_url}\n",
                                 rendered.html, message_id=f"<{key}@aftertap.invalid>")
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def send_email(settings: Mapping[str, Any], rendered: Rendered, key: str,
               unsubscribe_url: str, connection: mail.Connection | None = None,
               handing_over: Callable[[], None] | None = None) -> None:
    """Send ``rendered`` with one-click unsubscribe (RFC 8058), over ``connection`` when given,
    calling ``handing_over`` just before its data goes (``mail.Connection.send``).

    Raises NotDelivered, or what ``handing_over`` raises (then nothing was sent).
    """
    message = email_message(settings, rendered, key, unsubscribe_url)
    try:
        if connection is None:
            mail.send(settings, message)
        else:
            connection.send(message, handing_over)
    except mail.MailNotSent as exc:
        raise NotDelivered(exc.kind, exc.permanent, exc.in_doubt) from exc


def send_webhook(settings: Mapping[str, Any], endpoint: Endpoint, payload: Mapping[str, Any],
                 key: str, at: datetime) -> None:
    """POST ``payload`` to the brand's CRM, signed with every current secret. Raises
    NotDelivered for a transport error or a non-2xx answer."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    signature = " ".join(Webhook(secret).sign(key, at, body) for secret in endpoint.secrets)
    request = urllib.request.Request(  # noqa: S310 - the brand's own https/http endpoint
        endpoint.url, data=body.encode(), method="POST", headers={
            "content-type": "application/json", "webhook-id": key,
            "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature})
    try:
        with urllib.request.urlopen(  # noqa: S310
                request, timeout=float(settings.get("SMTP_TIMEOUT_SECONDS", 10))) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        raise NotDelivered(f"HTTP {exc.code}", exc.code in (400, 401, 403, 404, 410)) from exc
    except OSError as exc:
        raise NotDelivered(type(exc).__name__) from exc
    if not 200 <= status < 300:
        raise NotDelivered(f"HTTP {status}")


@dataclass(frozen=True)
class _Hook:
    """A brand's CRM endpoint as read before the sends (no session needed while sending)."""

    url: str
    secrets: list[Any]


def _send(settings: Mapping[str, Any], item: Claimed, rendered: Rendered | None,
          hook: _Hook | None, connection: mail.Connection, at: datetime,
          handing_over: Callable[[], None]) -> str:
    """Send one claimed message; return the state it reached.

    Raises NotDelivered, or LeaseLost from ``handing_over`` (emails only: nothing was sent).
    """
    if rendered is None:
        raise NotDelivered("no ownership")
    if item.channel == "email":
        base = str(settings["PUBLIC_BASE_URL"]).rstrip("/")
        send_email(settings, rendered, item.key,
                   f"{base}/unsubscribe/{unsubscribe_token(settings, item.key)}", connection,
                   handing_over)
        return ACCEPTED
    if hook is None or not hook.secrets:
        raise NotDelivered("no endpoint")
    send_webhook(settings, hook, rendered.payload, item.key, at)  # type: ignore[arg-type]
    return SENT


def _prepare(session: Session, settings: Mapping[str, Any], claimed: list[Claimed]
             ) -> tuple[dict[int, Rendered], dict[str, _Hook]]:
    """Render the batch (one query) and read the CRM endpoints it needs."""
    recipients = _recipients(session, [item.ownership_id for item in claimed])
    rendered = {item.id: _compose(settings, recipients[item.ownership_id], item.template,
                                  item.brand, item.key, reward_url=item.reward_url)
                for item in claimed if item.ownership_id in recipients}
    hooks = {}
    for brand in sorted({item.brand for item in claimed if item.channel != "email"}):
        endpoint = session.get(Endpoint, brand)
        if endpoint is not None:
            hooks[brand] = _Hook(endpoint.url, list(endpoint.secrets or []))
    return rendered, hooks


# The hand-over mark: one autocommit statement, so it is durable before the data goes.
_HAND_OVER = (
    update(Message)
    .where(Message.id == bindparam("b_id"), Message.state == SENDING,
           Message.leased_until == bindparam("b_lease"))
    .values(sent_at=bindparam("b_at"))
)


def hand_over(marks: Connection, item: Claimed, at: datetime) -> None:
    """Record, durably (``marks`` is an autocommit connection), that ``item``'s data is about
    to go to the mail server.

    Raises:
        LeaseLost: the lease ran out and another worker claimed the message.
    """
    if marks.execute(_HAND_OVER, {"b_id": item.id, "b_lease": item.lease,
                                  "b_at": at}).rowcount != 1:
        raise LeaseLost(item.id)


class _Results:
    """A batch's results, recorded together at the batch's end."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.done: dict[str, list[int]] = {}
        self.changes: list[dict[str, Any]] = []
        self.undelivered: list[tuple[str, str]] = []  # (brand, key) failed for good

    def flush(self, at: datetime) -> None:
        """Write the results gathered (in the session's transaction; no commit)."""
        for state, ids in self.done.items():
            values: dict[str, Any] = {"state": state, "reason": None, "leased_until": None}
            if state == SENT:
                values["sent_at"] = at  # a CRM call has no hand-over: it went when answered
            update_rows(self.session,
                        update(Message).where(Message.id.in_(ids)).values(**values))
        _set_each(self.session, self.changes)
        for brand, key in self.undelivered:
            _undelivered(self.session, brand, key, at)
        self.done, self.changes, self.undelivered = {}, [], []


def deliver_due(
    sessions: Callable[[], Session],
    settings: Mapping[str, Any],
    at: datetime | None = None,
    rng: random.Random | None = None,
) -> Report:
    """Send every message due at ``at`` (default now) once; return what happened.

    Per batch: claim (committed), render, then send outside any open transaction: emails over
    one SMTP connection, each message's failure its own. Each email's hand-over (``sent_at``,
    just before its data goes) is one autocommit statement; the results commit together at the
    batch's end. An email whose connection failed during its data is in doubt: it is failed
    (``interrupted``), never sent again.
    """
    rng = rng or random.Random()
    report = Report()
    batch = int(settings["MAIL_BATCH"])
    while True:
        moment = at or clock_now()
        with sessions() as session:
            claimed = claim_due(session, settings, moment, batch, report)
            if not claimed:
                return report
            rendered, hooks = _prepare(session, settings, claimed)
            session.rollback()  # read only: no transaction stays open while sending
            results = _Results(session)
            with (mail.connection(settings) as connection,
                  session.get_bind().engine.connect()
                  .execution_options(isolation_level="AUTOCOMMIT") as marks):
                for item in claimed:
                    try:
                        state = _send(settings, item, rendered.get(item.id),
                                      hooks.get(item.brand), connection, moment,
                                      functools.partial(hand_over, marks, item, moment))
                    except LeaseLost:
                        continue  # another worker holds it now; it is theirs to record
                    except NotDelivered as exc:
                        if exc.in_doubt:
                            results.changes.append({"id": item.id, "state": FAILED,
                                                    "reason": INTERRUPTED, "leased_until": None})
                            report.failed += 1
                            continue
                        retry_at = moment + timedelta(
                            seconds=retry_delay(item.attempts, settings, rng))
                        dead = exc.permanent or retry_at > item.give_up_at
                        results.changes.append({
                            "id": item.id, "state": FAILED if dead else SCHEDULED,
                            "reason": exc.kind[:80], "next_attempt_at": retry_at,
                            "leased_until": None, "sent_at": None})
                        if dead:
                            results.undelivered.append((item.brand, item.key))
                            report.failed += 1
                        else:
                            report.retrying += 1
                        continue
                    results.done.setdefault(state, []).append(item.id)
                    report.delivered += 1
            # Until this commits, the batch's rows stay ``sending``: after the lease an email
            # among them is failed as ``interrupted`` (it was handed over and may have arrived),
            # a CRM call is made again with the same webhook-id. Nothing is lost.
            results.flush(moment)
            session.commit()
        if len(claimed) < batch:
            return report
