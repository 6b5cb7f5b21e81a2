"""Commerce events in: orders and refunds a brand's shop or CRM sends (``POST /api/v1/events``),
the brand's signing secrets, and what the orders say (``second_purchase``).

A delivery is a Standard Webhooks request: ``webhook-id`` (the event's id), ``webhook-timestamp``
and ``webhook-signature``, verified with the ``standardwebhooks`` library against each of the
brand's secrets in ``commerce_sources`` (two while one is rotated: either verifies). The library
holds the timestamp to five minutes of our clock.

An event is kept once per brand and id: a retry (the same ``webhook-id``) stores nothing and
returns what was stored, decided by the unique key with an insert-or-ignore, so two deliveries
racing with one id store one row. Its owner is named by the reference our outgoing messages
carry (``app.catalog.owner_refs``) or by the SHA-256 of their address
(``app.core.privacy.email_digest``); either resolves only to an owner of one of this brand's
items. An owner we do not know (yet) is stored as ``owner_id`` NULL, and the answer is the same
as for a known one, so the endpoint tells a shop nothing about who our owners are.

Services take a session, the settings and plain values; the caller commits.
"""

from __future__ import annotations

import base64
import re
import secrets
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from babel.numbers import get_currency_precision, list_currencies
from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.catalog.models import Brand, Item, Owner, Ownership, Product
from app.catalog.owner_refs import owner_of_reference
from app.catalog.service import InvalidIdentifier, normalize_gtin
from app.core.clock import iso
from app.core.db import insert_ignore, update_rows
from app.core.errors import DomainError, Forbidden, NotFound
from app.core.privacy import Contributor, email_digest
from app.insights.models import CommerceEvent, CommerceSource
from app.insights.sources import reward_exposures, reward_pools

TYPES = {"order.created": "order", "order.refunded": "refund"}
_TYPE_OF_KIND = {kind: name for name, kind in TYPES.items()}
# Secrets kept per brand: the newest and, while the shop switches, the one before.
KEEP_SECRETS = 2
MAX_PRODUCTS = 100
MAX_QUANTITY = 10_000
# A bound far above any order that still fits a 64-bit column once scaled to minor units.
MAX_AMOUNT_MINOR = 10**15
# A shop's clock may run ahead of ours; an order dated further ahead is a mistake.
FUTURE_SLACK = timedelta(days=1)
# Visible ASCII, like the ids Standard Webhooks senders make (``msg_...``); the column holds 100.
_EVENT_ID = re.compile(r"[\x21-\x7e]{1,100}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_AMOUNT = re.compile(r"(0|[1-9][0-9]{0,15})(?:\.([0-9]{1,4}))?")
# Typed as the Table it is (the model leaves it as any FromClause).
_EVENTS = cast(Table, CommerceEvent.__table__)


class InvalidEvent(DomainError):
    """422: the event is well-formed JSON but a field is missing or wrong; ``details`` names it."""

    status = 422
    code = "invalid_event"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


class BadSignature(DomainError):
    """401: no secret of the token's brand signed this request, or its timestamp is stale."""

    status = 401
    code = "bad_signature"


class NoSigningSecret(Forbidden):
    """403: the brand has no commerce signing secret yet."""

    code = "no_signing_secret"


@dataclass(frozen=True)
class Recorded:
    """The stored event as the API returns it, and whether this call stored it."""

    event: dict[str, Any]
    created: bool


# --- signing secrets -----------------------------------------------------------------------------


def new_secret() -> str:
    """Return a fresh Standard Webhooks secret: ``whsec_`` and 32 random bytes, base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def brand_id_of(session: Session, slug: str) -> int:
    """Return the id of brand ``slug``.

    Raises:
        NotFound: no such brand.
    """
    found = session.scalar(select(Brand.id).where(Brand.slug == slug))
    if found is None:
        raise NotFound(f"No brand {slug!r}.")
    return int(found)


def rotate_secret(session: Session, brand_id: int, at: datetime) -> str:
    """Make a new signing secret for ``brand_id`` (the first, or the next one, keeping the
    previous one so a shop that has not switched yet still verifies); return it. Not committed.
    """
    secret = new_secret()
    row = session.get(CommerceSource, brand_id)
    if row is None:
        session.add(CommerceSource(brand_id=brand_id, secrets=[secret], updated_at=at))
    else:
        row.secrets = [secret, *row.secrets][:KEEP_SECRETS]
        row.updated_at = at
    session.flush()
    return secret


def drop_old_secrets(session: Session, brand_id: int, at: datetime) -> int:
    """Keep only ``brand_id``'s newest secret; return how many were dropped. Not committed.

    Raises:
        NotFound: the brand has no signing secret.
    """
    row = session.get(CommerceSource, brand_id)
    if row is None or not row.secrets:
        raise NotFound("This brand has no commerce signing secret.")
    dropped = len(row.secrets) - 1
    if dropped:
        row.secrets = row.secrets[:1]
        row.updated_at = at
        session.flush()
    return dropped


def verify(session: Session, brand_id: int, body: str, headers: Mapping[str, str]) -> None:
    """Return when one of ``brand_id``'s secrets signed ``body`` with ``headers`` (the three
    ``webhook-*`` headers) within the library's timestamp tolerance.

    Raises:
        NoSigningSecret: the brand has none.
        BadSignature: missing headers, a stale or future timestamp, or no secret matches.
    """
    row = session.get(CommerceSource, brand_id)
    if row is None or not row.secrets:
        raise NoSigningSecret("This brand has no commerce signing secret: create one with "
                              "`flask commerce secret --brand SLUG`.")
    stale = False
    for secret in row.secrets:
        try:
            Webhook(secret).verify(body, dict(headers), json_parse=False)
            return
        except WebhookVerificationError as exc:
            # The library checks the timestamp before any signature: the same for every secret.
            stale = stale or "timestamp" in str(exc)
        except ValueError:
            pass  # a signature that is not "v1,<base64>": it matches nothing
    if stale:
        raise BadSignature("webhook-timestamp is more than five minutes from our clock.")
    raise BadSignature("webhook-signature does not match: sign webhook-id, webhook-timestamp "
                       "and the body with this brand's secret.")


# --- events --------------------------------------------------------------------------------------


def _field(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...],
           where: str = "data.") -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidEvent(f"{where}{name} is missing or of the wrong type.",
                           field=f"{where}{name}")
    return value


def _currency(data: Mapping[str, Any]) -> tuple[str, int]:
    currency = _field(data, "currency", str)
    # Babel's (CLDR's) ISO 4217 codes, in capitals: "eur" and "EURO" are not among them.
    if currency not in list_currencies():
        raise InvalidEvent("data.currency must be an ISO 4217 code in capitals, like EUR.",
                           field="data.currency")
    return currency, int(get_currency_precision(currency))


def _amount_minor(data: Mapping[str, Any], digits: int) -> int:
    """Return the amount in minor units from ``amount`` ("129.00") or ``amount_minor`` (12900)."""
    if ("amount" in data) == ("amount_minor" in data):
        raise InvalidEvent("Give either data.amount (\"129.00\") or data.amount_minor (12900).",
                           field="data.amount")
    if "amount_minor" in data:
        minor: int = _field(data, "amount_minor", int)
    else:
        match = _AMOUNT.fullmatch(_field(data, "amount", str))
        if match is None or len(match.group(2) or "") > digits:
            raise InvalidEvent(f"data.amount must be a decimal like \"129.00\", with at most "
                               f"{digits} decimals for this currency.", field="data.amount")
        minor = int(match.group(1)) * 10**digits + int((match.group(2) or "").ljust(digits, "0")
                                                       or 0)
    if not 0 <= minor <= MAX_AMOUNT_MINOR:
        raise InvalidEvent("The amount is negative or too large.", field="data.amount")
    return minor


def _occurred_at(data: Mapping[str, Any], at: datetime) -> datetime:
    text = _field(data, "occurred_at", str)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidEvent("data.occurred_at must be an ISO 8601 time with its offset, like "
                           "2026-11-30T09:15:00Z.", field="data.occurred_at")
    if moment > at + FUTURE_SLACK:
        raise InvalidEvent("data.occurred_at is in the future.", field="data.occurred_at")
    return moment


def _products(session: Session, brand_id: int, data: Mapping[str, Any]) -> list[dict[str, Any]]:
    given = _field(data, "products", list)
    if not 1 <= len(given) <= MAX_PRODUCTS:
        raise InvalidEvent(f"data.products must list 1 to {MAX_PRODUCTS} products.",
                           field="data.products")
    lines: list[dict[str, Any]] = []
    malformed: list[str] = []
    for line in given:
        if not isinstance(line, dict) or not isinstance(line.get("gtin"), str):
            raise InvalidEvent("Each product is {\"gtin\": \"...\", \"quantity\": n}.",
                               field="data.products")
        quantity = line.get("quantity", 1)
        if (not isinstance(quantity, int) or isinstance(quantity, bool)
                or not 1 <= quantity <= MAX_QUANTITY):
            raise InvalidEvent(f"A product's quantity must be 1 to {MAX_QUANTITY}.",
                               field="data.products")
        try:
            lines.append({"gtin": normalize_gtin(line["gtin"]), "quantity": quantity})
        except InvalidIdentifier:
            malformed.append(line["gtin"][:20])
    if malformed:
        raise InvalidEvent(f"Not a valid GTIN: {', '.join(malformed)}.", gtins=malformed)
    wanted = {line["gtin"] for line in lines}
    known = set(session.scalars(select(Product.gtin).where(Product.brand_id == brand_id,
                                                           Product.gtin.in_(wanted))))
    unknown = sorted(wanted - known)
    if unknown:
        raise InvalidEvent(f"Not a product of this brand: {', '.join(unknown)}.",
                           gtins=unknown)
    return lines


def _brand_owners(brand_id: int) -> Any:
    """The owners who hold or held an item of ``brand_id``: the only ones its events may name."""
    return (select(Ownership.owner_id).join(Item, Item.id == Ownership.item_id)
            .join(Product, Product.id == Item.product_id).where(Product.brand_id == brand_id))


def _owner(session: Session, settings: Mapping[str, Any], brand_id: int,
           data: Mapping[str, Any]) -> tuple[int | None, str | None]:
    """Return ``(owner_id, email_hash)`` for ``data.owner``; owner_id None when nobody we know."""
    owner = _field(data, "owner", dict)
    if ("id" in owner) == ("email_sha256" in owner):
        raise InvalidEvent("data.owner is {\"id\": our reference} or {\"email_sha256\": hex}.",
                           field="data.owner")
    live = (Owner.erased_at.is_(None), Owner.id.in_(_brand_owners(brand_id)))
    if "id" in owner:
        found = owner_of_reference(settings, brand_id, owner["id"])
        if found is None:
            raise InvalidEvent("data.owner.id is not a reference we sent to this brand.",
                               field="data.owner.id")
        return session.scalar(select(Owner.id).where(Owner.id == found, *live)), None
    digest = owner["email_sha256"]
    if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest.lower()):
        raise InvalidEvent("data.owner.email_sha256 is the SHA-256 (64 hex digits) of the "
                           "trimmed, lower-cased address.", field="data.owner.email_sha256")
    digest = digest.lower()
    candidates = select(Owner.id, Owner.email).where(
        *live, Owner.email.is_not(None), Owner.email_verified_at.is_not(None))
    if session.get_bind().dialect.name == "postgresql":
        # Narrowed in the database there; the digest is checked again below, in one way for both.
        candidates = candidates.where(func.encode(func.sha256(func.convert_to(
            func.lower(Owner.email), "UTF8")), "hex") == digest)
    matches = {row.id for row in session.execute(candidates) if email_digest(row.email) == digest}
    # Two owners who confirmed one address: naming either would be a guess.
    return (matches.pop() if len(matches) == 1 else None), digest


def event_json(row: Any) -> dict[str, Any]:
    """Return a stored event as the API shows it (never its owner: see the module's docstring)."""
    return {"id": row.event_id, "type": _TYPE_OF_KIND[row.kind], "products": row.products,
            "amount_minor": row.amount_minor, "currency": row.currency,
            "occurred_at": iso(row.occurred_at), "received_at": iso(row.received_at)}


def _stored(session: Session, brand_id: int, event_id: str) -> CommerceEvent:
    return session.execute(select(CommerceEvent).where(
        CommerceEvent.brand_id == brand_id, CommerceEvent.event_id == event_id)).scalar_one()


def record(session: Session, settings: Mapping[str, Any], brand_id: int, event_id: str,
           payload: Any, at: datetime) -> Recorded:
    """Store ``payload`` (the request's JSON) as event ``event_id`` of ``brand_id``, unless that
    id is stored already; return the stored event and whether this call stored it. Not committed.

    Raises:
        InvalidEvent: a field is missing or wrong, or a GTIN is not one of the brand's products
            (``details["gtins"]`` lists them).
    """
    if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
        raise InvalidEvent("webhook-id must be 1 to 100 visible ASCII characters.",
                           field="webhook-id")
    if not isinstance(payload, dict) or payload.get("type") not in TYPES:
        raise InvalidEvent(f"type must be one of {', '.join(TYPES)}.", field="type")
    data = _field(payload, "data", dict, where="")
    currency, digits = _currency(data)
    values = {
        "brand_id": brand_id, "event_id": event_id, "kind": TYPES[payload["type"]],
        "amount_minor": _amount_minor(data, digits), "currency": currency,
        "occurred_at": _occurred_at(data, at), "products": _products(session, brand_id, data),
        "received_at": at,
    }
    values["owner_id"], values["email_hash"] = _owner(session, settings, brand_id, data)
    created = insert_ignore(session, _EVENTS, values, returning=_EVENTS.c.id) is not None
    return Recorded(event_json(_stored(session, brand_id, event_id)), created)


# --- what the orders say -------------------------------------------------------------------------


@dataclass(frozen=True)
class SecondPurchase:
    """Of ``owners`` whose first order fell in the range, ``repeat`` ordered again (at any time
    after it, up to now); ``median_days`` from first to second order (None: nobody did)."""

    owners: int
    repeat: int
    median_days: float | None

    @property
    def share(self) -> float | None:
        """Return ``repeat / owners`` (None when there is nobody)."""
        return self.repeat / self.owners if self.owners else None


def _cohorts(session: Session, brand_id: int, reward_id: str,
             owner_ids: set[int]) -> dict[int, str]:
    """Return each owner's cohort (treatment | holdout) at their first exposure to the reward."""
    slug = session.scalar(select(Brand.slug).where(Brand.id == brand_id))
    pool = session.scalar(select(reward_pools.c.id).where(reward_pools.c.brand == slug,
                                                          reward_pools.c.reward_id == reward_id))
    if pool is None or not owner_ids:
        return {}
    cohorts: dict[int, str] = {}
    rows = session.execute(
        select(reward_exposures.c.owner_id, reward_exposures.c.cohort)
        .where(reward_exposures.c.pool_id == pool,
               reward_exposures.c.owner_id.in_(sorted(owner_ids)))
        .order_by(reward_exposures.c.at, reward_exposures.c.id))
    for row in rows:
        cohorts.setdefault(row.owner_id, row.cohort)
    return cohorts


def second_purchase(session: Session, brand_id: int, start: datetime, end: datetime,
                    reward_id: str | None = None) -> dict[str, SecondPurchase]:
    """Return the second-purchase figures of owners whose first order (ever, at this brand) was in
    ``[start, end)``: under ``"all"``, or with ``reward_id`` under each cohort of that reward
    (``treatment``: offered it, ``holdout``: held out; owners never exposed are left out).

    Only orders tied to an owner count; refunds do not undo an order here.
    """
    ranked = select(
        CommerceEvent.owner_id, CommerceEvent.occurred_at,
        func.row_number().over(partition_by=CommerceEvent.owner_id,
                               order_by=(CommerceEvent.occurred_at, CommerceEvent.id))
        .label("n"),
    ).where(CommerceEvent.brand_id == brand_id, CommerceEvent.kind == "order",
            CommerceEvent.owner_id.is_not(None)).subquery()
    firsts = select(ranked.c.owner_id).where(ranked.c.n == 1, ranked.c.occurred_at >= start,
                                             ranked.c.occurred_at < end)
    first: dict[int, datetime] = {}
    second: dict[int, datetime] = {}
    for row in session.execute(select(ranked.c.owner_id, ranked.c.n, ranked.c.occurred_at)
                               .where(ranked.c.n <= 2, ranked.c.owner_id.in_(firsts))):
        (first if row.n == 1 else second)[row.owner_id] = row.occurred_at
    if reward_id is None:
        groups = {"all": set(first)}
    else:
        cohort_of = _cohorts(session, brand_id, reward_id, set(first))
        groups = {name: {o for o, c in cohort_of.items() if c == name}
                  for name in ("treatment", "holdout")}
    result = {}
    for name, owners in groups.items():
        days = [(second[o] - first[o]).total_seconds() / 86400 for o in owners if o in second]
        result[name] = SecondPurchase(len(owners), len(days),
                                      statistics.median(days) if days else None)
    return result


# --- privacy -------------------------------------------------------------------------------------


def _export(session: Session, owner_id: int) -> dict[str, Any]:
    rows = session.execute(select(CommerceEvent, Brand.slug)
                           .join(Brand, Brand.id == CommerceEvent.brand_id)
                           .where(CommerceEvent.owner_id == owner_id)
                           .order_by(CommerceEvent.occurred_at, CommerceEvent.id))
    return {"commerce_events": [{"brand": slug, **event_json(event)} for event, slug in rows]}


def _erase(session: Session, owner_id: int, at: datetime) -> None:
    # The orders stay as anonymous counts; nothing ties them to the person any more, including
    # the events whose address hash matched nobody when they came in.
    email = session.scalar(select(Owner.email).where(Owner.id == owner_id))
    update_rows(session, update(CommerceEvent).where(CommerceEvent.owner_id == owner_id)
                .values(owner_id=None, email_hash=None))
    if email:
        update_rows(session, update(CommerceEvent)
                    .where(CommerceEvent.email_hash == email_digest(email))
                    .values(email_hash=None))


PRIVACY = Contributor(name="commerce", tables=("commerce_events",), export=_export, erase=_erase)
"""The owner's orders and refunds brands sent: exported, and untied from the owner on erasure."""
