"""Integrity alerts: grey-market taps, clone suspects and stolen items seen, for brand staff.

``scan`` (every minute, from the refresh) reads the genuine and replayed taps recorded since its
own mark in ``insight_marks`` (name ``alerts``), builds each tapped item's recent history, runs
the pure detectors (``app.insights.integrity``) and inserts one ``Alert`` per item, kind and UTC
day with insert-or-ignore on that key: a detection made twice, by a second scan or a second
process, is a no-op. The mark moves in the same transaction as the inserts, so a crash leaves
both as they were. Taps younger than ``INSIGHTS_SETTLE_SECONDS`` wait for the next scan: a tap
whose id was drawn earlier may still be committing, and a mark moved past it would skip it.

A new alert counts once in the cube (metric ``alerts``) and is announced with the signal
``alert_raised`` inside the same transaction: the messages domain queues the brand's email
there (``app.messages.alerts``). A call to the brand's CRM cannot be queued there (the messages
table is per owner, an alert has none), so an alert whose listener says a call waits keeps
``notified_at`` empty and ``deliver_pending`` (the mail worker, every poll) asks for that call
with ``alert_delivery_due`` until it is made, then sets ``notified_at``: the committed alert
row is the call's queue entry, so a crash never loses it, and the receiver drops a repeat by its
``webhook-id``.

``alerts_page`` and ``acknowledge`` serve the staff page (``/admin/alerts``).
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from app.catalog.models import Brand, Item, Product
from app.core import signals
from app.core.audit import audit
from app.core.clock import now as clock_now
from app.core.db import dialect_insert, insert_ignore, update_rows
from app.core.errors import DomainError, NotFound
from app.core.i18n import N_
from app.insights import integrity, metrics
from app.insights.integrity import Finding, Kind, TapRecord
from app.insights.models import Alert, CubeCell, RefreshMark
from app.verify.models import TapEvent

log = logging.getLogger(__name__)

MARK = "alerts"
# Taps read per round of a scan (each round's alerts and mark move together).
BATCH = 2000
# An item's history read for its new taps: at most this many of its taps, from this long before
# the earliest new one (the replay window; an impossible trip is at most a day apart).
HISTORY_TAPS = 200
HISTORY_SPAN = integrity.REPLAY_WINDOW
PER_PAGE = 50
# Open: not acknowledged yet.
OPEN, ACKNOWLEDGED = "open", "acknowledged"

# Each kind in words staff read (English ids, shown translated).
KIND_WORDS = {
    Kind.OFF_MARKET: N_("Tapped outside its market (grey market)"),
    Kind.CLONE_SUSPECT: N_("Possible copied chip"),
    Kind.STOLEN_SEEN: N_("Stolen item seen"),
}

_ALERTS: Table = Alert.__table__  # type: ignore[assignment]
_CUBE: Table = CubeCell.__table__  # type: ignore[assignment]
_MARKS: Table = RefreshMark.__table__  # type: ignore[assignment]
# The verdicts the detectors read.
_READ = (integrity.GENUINE, integrity.REPLAYED)


# --- scan ----------------------------------------------------------------------------------------


def _by_owner(facts: str | None) -> bool | None:
    """Return the recorded fact ``owner.is_current`` of a tap, or None when it cannot tell."""
    if not facts:
        return None
    try:
        value = json.loads(facts).get("owner.is_current")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, bool) else None


def _lock_mark(session: Session) -> int:
    """Return the scan's mark, its row locked for this transaction (one scan at a time)."""
    insert_ignore(session, _MARKS, {"name": MARK, "last_id": 0, "refreshed_at": None})
    statement = select(RefreshMark.last_id).where(RefreshMark.name == MARK)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    return int(session.execute(statement).scalar_one())


@dataclass(frozen=True)
class _ItemInfo:
    market: str | None
    stolen_at: datetime | None
    product_id: int
    brand_id: int
    timezone: str


def _items(session: Session, item_ids: Iterable[int]) -> dict[int, _ItemInfo]:
    rows = session.execute(
        select(Item.id, Item.market, Item.stolen_at, Product.id.label("product_id"),
               Product.brand_id, Brand.timezone)
        .join(Product, Product.id == Item.product_id).join(Brand, Brand.id == Product.brand_id)
        .where(Item.id.in_(sorted(set(item_ids)))))
    return {r.id: _ItemInfo(r.market, r.stolen_at, r.product_id, r.brand_id, r.timezone)
            for r in rows}


def _history(session: Session, item_ids: list[int], since: datetime,
             until: datetime) -> list[Any]:
    """Return the items' genuine and replayed taps from ``since`` to ``until``, at most
    ``HISTORY_TAPS`` (the latest) per item."""
    ranked = (
        select(TapEvent.id, TapEvent.item_id, TapEvent.at, TapEvent.verdict, TapEvent.counter,
               TapEvent.country, TapEvent.facts,
               func.row_number().over(partition_by=TapEvent.item_id,
                                      order_by=(TapEvent.at.desc(), TapEvent.id.desc()))
               .label("rank"))
        .where(TapEvent.item_id.in_(item_ids), TapEvent.verdict.in_(_READ),
               TapEvent.at >= since, TapEvent.at <= until)
        .subquery())
    return list(session.execute(select(ranked).where(ranked.c.rank <= HISTORY_TAPS)))


def _record(tap: Any, item: _ItemInfo) -> TapRecord:
    return TapRecord(item_id=tap.item_id, at=tap.at, verdict=tap.verdict, counter=tap.counter,
                     country=tap.country, market=item.market, stolen_at=item.stolen_at,
                     by_owner=_by_owner(tap.facts))


def _detail(finding: Finding, counter: int | None) -> dict[str, Any]:
    """Return what an alert keeps of its finding: countries, durations, the chip's counter.
    Never who tapped (no owner, address or position)."""
    detail: dict[str, Any] = {"first": finding.first, "second": finding.second}
    if finding.gap is not None:
        detail["gap_seconds"] = int(finding.gap.total_seconds())
    if finding.needed is not None:
        detail["needed_seconds"] = int(finding.needed.total_seconds())
    if counter is not None:
        detail["counter"] = counter
    return detail


def finding_of(alert: Any) -> Finding:
    """Return the finding ``alert`` (an ``Alert`` or a row with its columns) was raised on, so
    ``integrity.describe`` can say it again in the reader's language."""
    detail = alert.detail or {}
    gap, needed = detail.get("gap_seconds"), detail.get("needed_seconds")
    return Finding(alert.item_id, Kind(alert.kind), alert.day, alert.at,
                   first=detail.get("first"), second=detail.get("second"),
                   gap=timedelta(seconds=gap) if gap is not None else None,
                   needed=timedelta(seconds=needed) if needed is not None else None)


def _count(session: Session, brand_id: int, day: date, product_id: int, kind: str) -> None:
    """Add one to the cube's ``alerts`` cell of ``brand_id``, ``day``, product and kind."""
    insert = dialect_insert(session)(_CUBE).values(
        brand_id=brand_id, metric=metrics.ALERTS, day=day, product_id=product_id, market="",
        country="", journey="", bucket=kind, value=1)
    session.execute(insert.on_conflict_do_update(
        index_elements=list(_CUBE.primary_key.columns),
        set_={"value": _CUBE.c.value + insert.excluded.value}))


def _raise(session: Session, settings: Mapping[str, Any], finding: Finding, tap: Any,
           item: _ItemInfo, at: datetime) -> bool:
    """Insert the alert of ``finding`` unless its item, kind and day have one; when new, count
    it and announce it. Return True when it was new."""
    alert_id = insert_ignore(session, _ALERTS, {
        "brand_id": item.brand_id, "item_id": finding.item_id, "kind": str(finding.kind),
        "day": finding.day, "at": finding.at, "tap_event_id": tap.id,
        "detail": _detail(finding, tap.counter)}, returning=_ALERTS.c.id)
    if alert_id is None:
        return False
    local_day = finding.at.astimezone(ZoneInfo(item.timezone)).date()
    _count(session, item.brand_id, local_day, item.product_id, str(finding.kind))
    if finding.at < at - timedelta(hours=float(settings["MAIL_GIVE_UP_HOURS"])):
        # Found while catching up on old taps (a first refresh, or one after a long stop): it
        # is listed on the page, but nobody is emailed or called about what is long past.
        return True
    answers = signals.alert_raised.send(
        session, settings=settings, alert_id=alert_id, brand_id=item.brand_id,
        item_id=finding.item_id, kind=str(finding.kind), title=KIND_WORDS[finding.kind],
        summary=integrity.describe(finding), at=finding.at, now=at)
    # Notified when someone was told and nothing waits for a call still to make.
    if answers and all(value is True for _listener, value in answers):
        update_rows(session, update(Alert).where(Alert.id == alert_id).values(notified_at=at))
    return True


def _round(session: Session, settings: Mapping[str, Any], last_id: int,
           cutoff: datetime, at: datetime) -> tuple[int, int, bool]:
    """Scan one batch after ``last_id``; return (new mark, alerts created, caught up)."""
    # The first tap not settled yet: nothing from it on is read, so the mark never passes it.
    upper = session.scalar(select(func.min(TapEvent.id))
                           .where(TapEvent.id > last_id, TapEvent.at > cutoff))
    bound = [TapEvent.id > last_id] + ([TapEvent.id < upper] if upper is not None else [])
    new = list(session.execute(
        select(TapEvent.id, TapEvent.item_id, TapEvent.at, TapEvent.verdict, TapEvent.counter,
               TapEvent.country, TapEvent.facts)
        .where(*bound, TapEvent.verdict.in_(_READ), TapEvent.item_id.is_not(None))
        .order_by(TapEvent.id).limit(BATCH)))
    if len(new) == BATCH:
        mark, done = new[-1].id, False
    else:
        # Every settled id is read, failed taps and taps of no item included.
        mark, done = session.scalar(select(func.max(TapEvent.id)).where(*bound)) or last_id, True
    if not new:
        return mark, 0, done
    items = _items(session, (t.item_id for t in new))
    item_ids = sorted(items)
    since = min(t.at for t in new) - HISTORY_SPAN
    until = max(t.at for t in new)
    history: dict[int, Any] = {t.id: t for t in _history(session, item_ids, since, until)}
    history.update({t.id: t for t in new if t.item_id in items})
    # Every finding over the history is offered, not only those on a new tap: one an earlier
    # scan raised is a no-op (its item, kind and day exist), and one the history only now
    # shows (a theft reported with an earlier time) is raised.
    taps = {(t.item_id, t.at): t for t in sorted(history.values(), key=lambda t: t.id)}
    records = [_record(t, items[t.item_id]) for t in history.values()]
    created = 0
    for finding in integrity.detect(records):
        if _raise(session, settings, finding, taps[(finding.item_id, finding.at)],
                  items[finding.item_id], at):
            created += 1
    return mark, created, done


@dataclass(frozen=True)
class Scanned:
    """What one scan did: alerts created, and whether settled taps remain past its cap."""

    created: int
    pending: bool


def scan(session: Session, settings: Mapping[str, Any], now: datetime) -> Scanned:
    """Raise the alerts of the genuine or replayed taps recorded since the last scan and older
    than ``INSIGHTS_SETTLE_SECONDS``, at most ``INSIGHTS_REFRESH_MAX_TAPS`` of them (a backlog
    is taken in slices, each committed by its refresh, so no transaction grows without bound).
    The caller commits: the alerts, their cube counts, what listeners queued and the moved mark
    go together.
    """
    last_id = _lock_mark(session)
    cutoff = now - timedelta(seconds=float(settings.get("INSIGHTS_SETTLE_SECONDS", 30)))
    rounds = max(1, int(settings.get("INSIGHTS_REFRESH_MAX_TAPS", 50_000)) // BATCH)
    created = 0
    done = False
    for _ in range(rounds):
        last_id, made, done = _round(session, settings, last_id, cutoff, now)
        created += made
        if done:
            break
    update_rows(session, update(RefreshMark).where(RefreshMark.name == MARK)
                .values(last_id=last_id, refreshed_at=now))
    return Scanned(created, pending=not done)


# --- the CRM calls still to make -----------------------------------------------------------------

# Per process: when each waiting alert may be asked for again (a failing CRM is not called every
# poll). Lost on restart, which only means one early retry.
_next_try: dict[int, tuple[int, datetime]] = {}
_next_try_lock = threading.Lock()


def deliver_pending(sessions: Callable[[], Session], settings: Mapping[str, Any],
                    at: datetime | None = None, rng: random.Random | None = None) -> int:
    """Ask (``alert_delivery_due``) for every alert not yet notified, raised within
    ``MAIL_GIVE_UP_HOURS``, whose back-off has run out; set ``notified_at`` of those whose call
    is made. Return how many were notified. Failures wait 30 s, 60 s... (``MAIL_RETRY_*``),
    jittered; older alerts stay not notified (the page says so)."""
    rng = rng or random.Random()
    moment = at or clock_now()
    since = moment - timedelta(hours=float(settings["MAIL_GIVE_UP_HOURS"]))
    with sessions() as session:
        waiting = list(session.execute(
            select(Alert.id, Alert.brand_id, Alert.item_id, Alert.kind, Alert.day, Alert.at,
                   Alert.detail)
            .where(Alert.notified_at.is_(None), Alert.at >= since)
            .order_by(Alert.id).limit(BATCH)))
        session.rollback()
    done = 0
    for row in waiting:
        with _next_try_lock:
            attempts, due = _next_try.get(row.id, (0, moment))
        if due > moment:
            continue
        finding = finding_of(row)
        with sessions() as session:
            answers = signals.alert_delivery_due.send(
                session, settings=settings, alert_id=row.id, brand_id=row.brand_id,
                item_id=row.item_id, kind=row.kind, title=KIND_WORDS[finding.kind],
                summary=integrity.describe(finding), at=row.at, now=moment)
            session.rollback()
            if not answers or not all(value is True for _listener, value in answers):
                base = float(settings["MAIL_RETRY_BASE_SECONDS"])
                delay = min(float(settings["MAIL_RETRY_MAX_SECONDS"]),
                            base * math.pow(2, attempts))
                with _next_try_lock:
                    _next_try[row.id] = (attempts + 1, moment + timedelta(
                        seconds=rng.uniform(delay / 2, delay)))
                continue
            update_rows(session, update(Alert).where(Alert.id == row.id,
                                                     Alert.notified_at.is_(None))
                        .values(notified_at=moment))
            session.commit()
        with _next_try_lock:
            _next_try.pop(row.id, None)
        done += 1
    return done


# --- the staff page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertLine:
    """One alert as brand staff see it: its kind, item, finding (for ``integrity.describe``)
    and what became of it."""

    id: int
    kind: Kind
    serial: str
    product: str
    finding: Finding
    at: datetime
    acknowledged_at: datetime | None
    notified_at: datetime | None


def check_filters(kind: str | None, state: str | None) -> tuple[Kind | None, str | None]:
    """Return the page's filters (empty: all).

    Raises:
        DomainError: a kind or state the page does not know.
    """
    chosen = None
    if kind:
        try:
            chosen = Kind(kind)
        except ValueError:
            raise DomainError(N_("Choose a kind of alert from the list.")) from None
    if state and state not in (OPEN, ACKNOWLEDGED):
        raise DomainError(N_("Choose open or acknowledged alerts."))
    return chosen, state or None


def alerts_page(session: Session, brand_id: int, kind: Kind | None = None,
                state: str | None = None, page: int = 1) -> tuple[list[AlertLine], int, int]:
    """Return page ``page`` (from 1) of ``brand_id``'s alerts, newest first, filtered by kind
    and state (open or acknowledged); also the page shown and the number of pages (at least
    1)."""
    where = [Alert.brand_id == brand_id]
    if kind is not None:
        where.append(Alert.kind == str(kind))
    if state == OPEN:
        where.append(Alert.acknowledged_at.is_(None))
    elif state == ACKNOWLEDGED:
        where.append(Alert.acknowledged_at.is_not(None))
    total = session.scalar(select(func.count()).select_from(Alert).where(*where)) or 0
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(1, page), pages)
    rows = session.execute(
        select(Alert, Item.serial, Product.name)
        .join(Item, Item.id == Alert.item_id).join(Product, Product.id == Item.product_id)
        .where(*where).order_by(Alert.at.desc(), Alert.id.desc())
        .offset((page - 1) * PER_PAGE).limit(PER_PAGE))
    lines = [AlertLine(a.id, Kind(a.kind), serial, name, finding_of(a), a.at, a.acknowledged_at,
                       a.notified_at) for a, serial, name in rows]
    return lines, page, pages


def acknowledge(session: Session, brand_id: int, alert_id: int, actor: str,
                at: datetime) -> bool:
    """Acknowledge alert ``alert_id`` of ``brand_id`` for ``actor`` (``staff:<id>``); return
    False when it already was (nothing changes). One conditional UPDATE decides a race: of two
    acknowledgements exactly one is recorded, and audited. The caller commits.

    Raises:
        NotFound: no such alert for this brand (another brand's is not found either).
    """
    item_id = session.scalar(select(Alert.item_id).where(Alert.id == alert_id,
                                                         Alert.brand_id == brand_id))
    if item_id is None:
        raise NotFound(N_("There is no such alert."))
    done = update_rows(session, update(Alert).where(
        Alert.id == alert_id, Alert.brand_id == brand_id, Alert.acknowledged_at.is_(None))
        .values(acknowledged_at=at, acknowledged_by=actor[:40]))
    if done:
        audit(session, at, actor, "alert_ack", item_id=item_id, alert_id=alert_id)
    return bool(done)
