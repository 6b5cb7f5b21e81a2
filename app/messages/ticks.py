"""Ticks: one due slot of one schedule turned into message rows, exactly once by the database.

The scheduler calls ``tick`` for each due slot; it may call it twice for the same slot (two
scheduler processes, a catch-up after a restart). Rows are keyed UNIQUE on (brand, schedule,
ownership, slot, channel) and inserted with insert-or-ignore, so the second tick adds nothing.
Candidates are selected in SQL with the conditions that compile to a WHERE clause (product
category, ownership days, email opt-in), then every candidate's full fact is checked by the
language's condition evaluator (``holds``, the reference the tap engine is tested against), so a
condition SQL does not know is never skipped.

Each row is due at the slot's wall time in its owner's own time zone (``app.messages.zones``):
09:00 in Paris for the ruleset is 09:00 in Tokyo for an owner there, eight hours earlier. The
scheduler therefore runs a message job ahead of its slot (``zones.message_lead``); facts are
still taken at the slot, whenever the tick runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, and_, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.catalog.models import Brand, Item, Owner, Ownership, Product
from app.core.db import insert_ignore
from app.journeys.facts import anniversary_days
from app.journeys.language import Condition, Group, ScheduleDoc, holds
from app.journeys.vocabulary import defaults
from app.messages import consent, zones
from app.messages.models import SCHEDULED, SUPPRESSED, Message
from app.messages.schedules import live_ruleset, live_schedule
from app.verify.models import TapEvent

_RESERVED_PRODUCT_KEYS = {"gtin", "category", "name"}
_MESSAGES: Table = Message.__table__  # type: ignore[assignment]
# Candidates are streamed, checked and enqueued this many at a time.
CHUNK = 2000


@dataclass(frozen=True)
class TickReport:
    """What one tick did: owners selected, message rows enqueued (new), and suppressed."""

    selected: int
    enqueued: int
    suppressed: int


@dataclass(frozen=True)
class Candidate:
    """An ownership a schedule selected, with the fact it was selected on."""

    ownership_id: int
    owner_id: int
    serial: str
    fact: dict[str, Any]


def _days(since: datetime | None, at: datetime) -> int | None:
    return None if since is None else max(0, (at - since).days)


def _leaf_sql(cond: Condition, at: datetime) -> ColumnElement[bool] | None:
    """Return ``cond`` as SQL when it compiles exactly (or more loosely), else None."""
    op, value = cond.op, cond.value
    clause: ColumnElement[bool] | None = None
    if cond.path == "product.category":
        if op == "eq":
            clause = Product.category == value
        elif op == "in":
            clause = Product.category.in_(list(value))
    elif cond.path == "owner.email_opt_in" and op == "eq" and value is True:
        clause = and_(Owner.email_opt_in.is_(True), Owner.email_verified_at.is_not(None))
    elif cond.path == "ownership.days":
        # days = floor((at - started) / 1 day): days >= n <=> started <= at - n days, and
        # days <= n <=> started > at - (n + 1) days.
        low, high = {"eq": (value, value), "gte": (value, None), "lte": (None, value),
                     "between": tuple(value) if op == "between" else (None, None)
                     }.get(op, (None, None))
        parts = []
        if low is not None:
            parts.append(Ownership.started_at <= at - timedelta(days=int(low)))
        if high is not None:
            parts.append(Ownership.started_at > at - timedelta(days=int(high) + 1))
        clause = and_(*parts) if parts else None
    return clause


def where_clauses(when: Group, at: datetime) -> list[ColumnElement[bool]]:
    """Return the SQL for the top-level ``all`` conditions of ``when`` that compile.

    Only a narrowing the evaluator would also make: every candidate is re-checked in Python.
    """
    if when.kind != "all":
        return []
    clauses = []
    for child in when.children:
        if isinstance(child, Condition):
            clause = _leaf_sql(child, at)
            if clause is not None:
                clauses.append(clause)
    return clauses


_LAST_GENUINE = (
    select(func.max(TapEvent.at)).where(TapEvent.item_id == Item.id,
                                        TapEvent.verdict == "genuine")
    .correlate(Item).scalar_subquery()
)


def _candidates_query(brand: str, when: Group, at: datetime) -> Any:
    return (
        select(Ownership.id, Ownership.owner_id, Ownership.started_at, Ownership.ordinal,
               Ownership.owner_taps, Ownership.month_streak, Item.serial, Item.market,
               Item.released, Item.stolen_at, Item.created_at, Item.warranty_started_at,
               Item.warranty_ends_at, Item.service_count, Item.last_service_at,
               Product.category, Product.gtin, Product.name, Product.attributes,
               Owner.email_opt_in, Owner.email_verified_at, _LAST_GENUINE.label("last_tap"))
        .join(Item, Item.id == Ownership.item_id)
        .join(Product, Product.id == Item.product_id)
        .join(Brand, Brand.id == Product.brand_id)
        .join(Owner, Owner.id == Ownership.owner_id)
        .where(Brand.slug == brand, Ownership.ended_at.is_(None), Owner.erased_at.is_(None),
               *where_clauses(when, at))
        .order_by(Ownership.id)
    )


def _fact(row: Any, at: datetime, zone: tzinfo = UTC) -> dict[str, Any]:
    """Return the fact of one owned item at ``at``, in the tap's vocabulary (owner's view);
    calendar paths in ``zone``, the ruleset's time zone."""
    fact = dict(defaults())
    for path in [p for p in fact if p.startswith("tap.")]:
        del fact[path]  # no tap happens: tap-only facts are not known
    warranty_active = bool(row.warranty_ends_at is not None and row.warranty_started_at
                           is not None and row.warranty_started_at <= at < row.warranty_ends_at)
    fact.update({
        "item.serial": row.serial, "item.gtin": row.gtin, "item.market": row.market,
        "item.released": row.released, "item.stolen": row.stolen_at is not None,
        "item.age_days": _days(row.created_at, at),
        "product.gtin": row.gtin, "product.category": row.category, "product.name": row.name,
        "ownership.state": "owned", "owner.is_current": True, "owner.is_previous": False,
        "owner.email_opt_in": bool(row.email_opt_in) and row.email_verified_at is not None,
        "ownership.ordinal": row.ordinal, "ownership.days": _days(row.started_at, at),
        "ownership.owner_taps": row.owner_taps, "ownership.month_streak": row.month_streak,
        "warranty.active": warranty_active, "service.count": row.service_count,
        "tap.days_since_last": _days(row.last_tap, at),
    })
    if warranty_active:
        fact["warranty.days_left"] = max(0, (row.warranty_ends_at - at).days)
    if row.last_service_at is not None:
        fact["service.days_since_last"] = _days(row.last_service_at, at)
    fact["ownership.anniversary_days"] = anniversary_days(
        row.started_at.astimezone(zone).date(), at.astimezone(zone).date())
    for key, value in (row.attributes or {}).items():
        if key not in _RESERVED_PRODUCT_KEYS and isinstance(value, str | int | float | bool):
            fact[f"product.{key}"] = value
    return {path: value for path, value in fact.items() if value is not None}


def _selected(session: Session, brand: str, schedule: ScheduleDoc,
              at: datetime) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Yield (row, fact) for each ownership ``schedule`` selects at ``at``, by id, streamed
    from the database ``CHUNK`` rows at a time."""
    rows = session.execute(_candidates_query(brand, schedule.when, at),
                           execution_options={"yield_per": CHUNK})
    # Anniversaries fall on the ruleset's calendar days, as they do for a tap.
    zone = ZoneInfo(live_ruleset(session, brand)[1].timezone)
    for row in rows:
        fact = _fact(row, at, zone)
        if holds(schedule.when, fact):
            yield row, fact


def select_candidates(session: Session, brand: str, schedule: ScheduleDoc,
                      at: datetime) -> list[Candidate]:
    """Return the ownerships of ``brand`` that ``schedule`` selects at ``at``, by id."""
    return [Candidate(row.id, row.owner_id, row.serial, fact)
            for row, fact in _selected(session, brand, schedule, at)]


def candidate_chunks(session: Session, brand: str, schedule: ScheduleDoc,
                     at: datetime) -> Iterator[list[tuple[int, int]]]:
    """Yield the (ownership_id, owner_id) pairs ``select_candidates`` returns, in the same
    order, in lists of at most ``CHUNK``; facts are dropped once checked, so memory stays flat."""
    chunk: list[tuple[int, int]] = []
    for row, _fact_checked in _selected(session, brand, schedule, at):
        chunk.append((row.id, row.owner_id))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def message_key(brand: str, schedule_id: str, ownership_id: int, slot: datetime,
                channel: str) -> str:
    """Return the stable id of a message (its Message-ID local part and its webhook-id)."""
    raw = f"{brand}|{schedule_id}|{ownership_id}|{slot.isoformat()}|{channel}"
    return "msg_" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def tick(session: Session, settings: Mapping[str, Any], brand: str, schedule_id: str,
         slot: datetime, now: datetime) -> TickReport:
    """Select the recipients of ``brand``'s schedule ``schedule_id`` for the due slot ``slot``
    (aware UTC) and enqueue one message per (schedule, ownership, slot, channel) with
    insert-or-ignore; the caller commits. Returns TickReport(selected, enqueued, suppressed).

    Recipients and their facts are those at ``slot``, even when the tick runs earlier (``now``,
    the scheduler's lead). Each row is due at ``zones.local_due`` in its owner's effective zone,
    or ``now`` when that has passed, and gives up ``MESSAGES_GIVE_UP_HOURS`` after being due.

    An owner who has not agreed to the schedule's kind of message on a channel gets a row in
    state ``suppressed`` (reason ``no_consent``), so staff see why nothing went.

    Raises:
        NotFound: the brand has no live ruleset or no such schedule.
    """
    live = live_schedule(session, brand, schedule_id)
    schedule = live.schedule
    give_up_after = timedelta(hours=float(settings.get("MESSAGES_GIVE_UP_HOURS", 24)))
    ruleset_timezone = live.doc.timezone
    due_in: dict[ZoneInfo, datetime] = {}  # the local due time, once per zone met
    selected = enqueued = suppressed = 0
    # Chunk by chunk: consent and time zones for the chunk's owners in one go each, then one
    # multi-row insert-or-ignore; what it returns (the new rows' states) is what this tick added.
    for chunk in candidate_chunks(session, brand, schedule, slot):
        selected += len(chunk)
        agreeing = consent.granted_many(session, {owner_id for _, owner_id in chunk},
                                        schedule.channel, schedule.message)
        owner_zones = zones.zones_of(session, [ownership_id for ownership_id, _ in chunk])
        rows = []
        for ownership_id, owner_id in chunk:
            zone = zones.effective_zone(*owner_zones.get(ownership_id, (None, None)),
                                        ruleset_timezone)
            if zone not in due_in:
                due_in[zone] = zones.local_due(slot, ruleset_timezone, zone)
            due = max(now, due_in[zone])
            for channel in schedule.channel:
                agreed = (owner_id, channel) in agreeing
                rows.append({
                    "brand": brand, "schedule_id": schedule.id,
                    "ownership_id": ownership_id, "owner_id": owner_id,
                    "slot": slot, "channel": channel, "template": schedule.message,
                    "key": message_key(brand, schedule.id, ownership_id, slot, channel),
                    "state": SCHEDULED if agreed else SUPPRESSED,
                    "reason": None if agreed else "no_consent", "attempts": 0,
                    "created_at": now, "next_attempt_at": due,
                    "give_up_at": due + give_up_after,
                })
        states = insert_ignore(session, _MESSAGES, rows, returning=_MESSAGES.c.state)
        enqueued += states.count(SCHEDULED)
        suppressed += states.count(SUPPRESSED)
    return TickReport(selected, enqueued, suppressed)
