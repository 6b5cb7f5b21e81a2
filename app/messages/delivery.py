"""Delivery of scheduled messages: claim due rows, check again, send, record what happened.

Run by the mail worker (``flask mail deliver`` calls ``deliver_due`` each poll). Several workers
may run on PostgreSQL: each claims rows with ``FOR UPDATE SKIP LOCKED``, so a row is claimed by
one of them, and the claim (state ``sending`` with a lease) commits before anything is sent. On
SQLite one worker runs (its transactions take the write lock at BEGIN).

At claim time, in the claim's transaction, each row is checked again: the owner erased or
consent withdrawn since the tick suppresses it; the owner's quiet hours defer it to their end;
the ruleset's ``messages_per_owner`` cap (over every schedule and channel) suppresses it when
reached. The cap is held by the database: the owner's row is locked (``FOR UPDATE``) while the
owner's counted messages are counted and this one is marked ``sending``, so two workers cannot
both take the last place.

What a crash can cause (at least once, never lost): a worker killed after the SMTP server or the
CRM accepted a message but before it recorded ``accepted``/``sent`` leaves the row ``sending``;
when its lease (``MAIL_LEASE_SECONDS``) runs out another worker sends it again. The copy carries
the same Message-ID (email) or webhook-id (CRM), so the receiver can drop it. A crash before the
claim commits sends nothing and leaves the row due. A message is never sent twice at once, and a
row is never left without a state that leads to delivery, failure or suppression.
"""

from __future__ import annotations

import base64
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
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from app.catalog.models import Brand, Item, Owner, Ownership, Product
from app.core import mail
from app.core.clock import now as clock_now
from app.core.db import update_rows
from app.core.errors import NotFound
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
from app.verify.models import TapEvent

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"

# The demo's markets (see app/demo/service.py) and the zone an owner tapping from there most
# likely lives in. An owner in none of these gets the ruleset's time zone.
COUNTRY_ZONES = {
    "FR": "Europe/Paris", "DE": "Europe/Berlin", "CH": "Europe/Zurich", "GB": "Europe/London",
    "US": "America/New_York", "JP": "Asia/Tokyo", "CN": "Asia/Shanghai",
}

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
                          autoescape=True, undefined=jinja2.StrictUndefined)

_DUE = (
    select(Message.id)
    .where(((Message.state.in_([SCHEDULED, DEFERRED]))
            & (Message.next_attempt_at <= bindparam("at")))
           | ((Message.state == SENDING) & (Message.leased_until < bindparam("at"))))
    .order_by(Message.next_attempt_at, Message.id)
    .limit(bindparam("limit"))
)
_LOCK_OWNER = select(Owner.id).where(Owner.id == bindparam("owner_id")).with_for_update()
_COUNTED = select(func.count()).select_from(Message).where(
    Message.owner_id == bindparam("owner_id"), Message.brand == bindparam("brand"),
    Message.state.in_(COUNTED), Message.counted_at > bindparam("since"),
    Message.id != bindparam("message_id"))
_REFUSED = select(Consent.id).where(
    Consent.owner_id == bindparam("owner_id"), Consent.channel == bindparam("channel"),
    Consent.kind == bindparam("kind"), Consent.granted.is_(False))
_LAST_COUNTRY = (
    select(TapEvent.country)
    .join(Ownership, Ownership.item_id == TapEvent.item_id)
    .where(Ownership.id == bindparam("ownership_id"), TapEvent.country.is_not(None))
    .order_by(TapEvent.at.desc()).limit(1)
)


def unsubscribe_token(settings: Mapping[str, Any], key: str) -> str:
    """Return the unsubscribe token of message ``key``: the same on every copy of the message."""
    digest = hmac.new(str(settings["SECRET_KEY"]).encode(), f"unsubscribe:{key}".encode(),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    """Return what is stored of an unsubscribe token (its SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def owner_zone(session: Session, ownership_id: int, doc: RulesetDoc) -> zoneinfo.ZoneInfo:
    """Return the owner's time zone: their tap country's (``COUNTRY_ZONES``), else the
    ruleset's."""
    country = session.scalar(_LAST_COUNTRY, {"ownership_id": ownership_id})
    return zoneinfo.ZoneInfo(COUNTRY_ZONES.get(country or "", doc.timezone))


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


def _check(session: Session, row: Message, doc: RulesetDoc, at: datetime,
           report: Report) -> bool:
    """Decide, in the claim's transaction, whether ``row`` may be sent now; record it if not."""
    owner = session.get(Owner, row.owner_id)
    params = {"owner_id": row.owner_id, "channel": row.channel, "kind": row.template}
    reason = None
    if owner is None or owner.erased_at is not None:
        reason = "erased"
    elif not consent.granted(session, row.owner_id, row.channel, row.template):
        reason = "unsubscribed" if session.scalar(_REFUSED, params) else "no_consent"
    elif row.channel == "email" and not (owner.email and owner.email_verified_at):
        reason = "no_address"
    if reason is None:
        until = quiet_until(doc.guardrails.quiet_hours,
                            owner_zone(session, row.ownership_id, doc), at)
        if until is not None:
            _set(session, row.id, state=DEFERRED, next_attempt_at=until, leased_until=None)
            report.deferred += 1
            return False
        cap = doc.guardrails.messages_per_owner
        if cap is not None:
            # The owner's row lock serialises every worker counting this owner's messages.
            session.execute(_LOCK_OWNER, {"owner_id": row.owner_id})
            used = session.scalar(_COUNTED, {**params, "brand": row.brand, "message_id": row.id,
                                             "since": at - timedelta(days=cap.per)}) or 0
            if used >= cap.max:
                reason = "cap"
    if reason is not None:
        _set(session, row.id, state=SUPPRESSED, reason=reason, leased_until=None)
        report.suppressed += 1
        return False
    return True


def claim_due(session: Session, settings: Mapping[str, Any], at: datetime, limit: int,
              report: Report) -> list[Claimed]:
    """Lease up to ``limit`` due messages that may go now and commit; return them.

    Rows that must wait (quiet hours) or must not go (consent, erased, cap) are recorded as
    such in the same transaction and not returned.
    """
    statement = _DUE
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    ids = list(session.scalars(statement, {"at": at, "limit": limit}))
    lease = at + timedelta(seconds=float(settings["MAIL_LEASE_SECONDS"]))
    claimed = []
    docs: dict[str, RulesetDoc | None] = {}
    for row in session.scalars(select(Message).where(Message.id.in_(ids))
                               .order_by(Message.id)) if ids else []:
        if row.brand not in docs:
            try:
                docs[row.brand] = live_ruleset(session, row.brand)[1]
            except NotFound:
                docs[row.brand] = None
        doc = docs[row.brand]
        if doc is None:
            _set(session, row.id, state=SUPPRESSED, reason="no_ruleset", leased_until=None)
            report.suppressed += 1
            continue
        if not _check(session, row, doc, at, report):
            continue
        token = unsubscribe_token(settings, row.key)
        _set(session, row.id, state=SENDING, leased_until=lease, attempts=row.attempts + 1,
             counted_at=row.counted_at or at, unsubscribe_hash=token_hash(token))
        claimed.append(Claimed(row.id, row.key, row.brand, row.schedule_id, row.channel,
                               row.template, row.attempts + 1, row.give_up_at, row.owner_id,
                               row.ownership_id))
    session.commit()
    return claimed


class NotDelivered(Exception):
    """The receiving side did not take the message; ``kind`` says why (no personal data)."""

    def __init__(self, kind: str, permanent: bool = False) -> None:
        super().__init__(kind)
        self.kind = kind
        self.permanent = permanent


@dataclass(frozen=True)
class Rendered:
    """A message as its owner gets it."""

    to: str | None
    subject: str
    html: str
    text: str
    payload: dict[str, Any]


def render(session: Session, settings: Mapping[str, Any], template: str, brand: str,
           ownership_id: int, key: str, slot: datetime | None = None) -> Rendered:
    """Return message ``template`` of ``brand`` for ownership ``ownership_id``.

    Raises NotFound for an unknown ownership.
    """
    row = session.execute(
        select(Owner.email, Product.name.label("product_name"), Brand.name.label("brand_name"),
               Item.serial)
        .join(Ownership, Ownership.owner_id == Owner.id)
        .join(Item, Item.id == Ownership.item_id).join(Product, Product.id == Item.product_id)
        .join(Brand, Brand.id == Product.brand_id).where(Ownership.id == ownership_id)).first()
    if row is None:
        raise NotFound("no such ownership")
    base = str(settings["PUBLIC_BASE_URL"]).rstrip("/")
    unsubscribe_url = f"{base}/unsubscribe/{unsubscribe_token(settings, key)}"
    html = _env.get_template(f"messages/{template}.html").render(
        product={"name": row.product_name}, brand={"name": row.brand_name},
        unsubscribe_url=unsubscribe_url)
    text = _strip(html)
    subject = f"{row.brand_name}: {consent.kind_label(template)}"
    payload = {"type": "message.scheduled", "id": key, "brand": brand, "message": template,
               "item": {"serial": row.serial, "product": row.product_name},
               "slot": slot.isoformat() if slot else None}
    return Rendered(row.email, subject, html, text, payload)


def _strip(html: str) -> str:

    body = re.sub(r"<[^>]+>", "", html.split("<body", 1)[-1].split(">", 1)[-1])
    return "\n".join(line.strip() for line in body.splitlines() if line.strip())


def send_email(settings: Mapping[str, Any], rendered: Rendered, key: str,
               unsubscribe_url: str) -> None:
    """Send ``rendered`` with one-click unsubscribe (RFC 8058). Raises NotDelivered."""
    assert rendered.to is not None
    message = mail.build_message(settings, rendered.to, rendered.subject,
                                 rendered.text + f"\n\nUnsubscribe: {unsubscribe_url}\n",
                                 rendered.html, message_id=f"<{key}@aftertap.invalid>")
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    try:
        mail.send(settings, message)
    except mail.MailNotSent as exc:
        raise NotDelivered(exc.kind, exc.permanent) from exc


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


def retry_delay(attempts: int, settings: Mapping[str, Any], rng: random.Random) -> float:
    """Return seconds before the next try: doubling from MAIL_RETRY_BASE_SECONDS, capped at
    MAIL_RETRY_MAX_SECONDS, jittered between half and all of it."""
    base = float(settings["MAIL_RETRY_BASE_SECONDS"])
    delay = min(float(settings["MAIL_RETRY_MAX_SECONDS"]), base * 2 ** max(0, attempts - 1))
    return rng.uniform(delay / 2, delay)


def _send(session: Session, settings: Mapping[str, Any], item: Claimed, at: datetime) -> str:
    """Send one claimed message; return the state it reached. Raises NotDelivered."""
    rendered = render(session, settings, item.template, item.brand, item.ownership_id,
                      item.key)
    if item.channel == "email":
        base = str(settings["PUBLIC_BASE_URL"]).rstrip("/")
        send_email(settings, rendered, item.key,
                   f"{base}/unsubscribe/{unsubscribe_token(settings, item.key)}")
        return ACCEPTED
    endpoint = session.get(Endpoint, item.brand)
    if endpoint is None or not endpoint.secrets:
        raise NotDelivered("no endpoint")
    send_webhook(settings, endpoint, rendered.payload, item.key, at)
    return SENT


def deliver_due(
    sessions: Callable[[], Session],
    settings: Mapping[str, Any],
    at: datetime | None = None,
    rng: random.Random | None = None,
) -> Report:
    """Send every message due at ``at`` (default now) once; return what happened.

    Sends happen outside any transaction; each result is committed on its own.
    """
    rng = rng or random.Random()
    report = Report()
    batch = int(settings["MAIL_BATCH"])
    while True:
        moment = at or clock_now()
        with sessions() as session:
            claimed = claim_due(session, settings, moment, batch, report)
        for item in claimed:
            with sessions() as session:
                try:
                    state = _send(session, settings, item, moment)
                except NotDelivered as exc:
                    retry_at = moment + timedelta(
                        seconds=retry_delay(item.attempts, settings, rng))
                    dead = exc.permanent or retry_at > item.give_up_at
                    _set(session, item.id, state=FAILED if dead else SCHEDULED,
                         reason=exc.kind[:80], next_attempt_at=retry_at, leased_until=None)
                    session.commit()
                    if dead:
                        report.failed += 1
                    else:
                        report.retrying += 1
                    continue
                _set(session, item.id, state=state, sent_at=moment, reason=None,
                     leased_until=None)
                session.commit()
                report.delivered += 1
        if len(claimed) < batch:
            return report
