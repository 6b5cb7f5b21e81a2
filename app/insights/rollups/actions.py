"""Rollups of what owners did after taps: JOURNEY_NEXT (reviews, reveals and service requests
credited to the journey that last served the item), SERVICE_REQUESTS and RESALES.

Service requests and resales (ownerships begun by transfer) are read by id from their marks,
like taps. JOURNEY_NEXT reads actions by time instead: a reveal is a moment set on an existing
grant row, so no id grows with it. Its mark's ``last_id`` holds the end of the window read so
far, in microseconds since 1970 UTC; each refresh reads ``(that, now - settle]``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, literal, literal_column, select, union_all
from sqlalchemy.orm import Session

from app.catalog.models import Brand, Item, Ownership, Product
from app.insights import metrics as m
from app.insights import sources
from app.insights.rollups.common import (
    Cell,
    add_cells,
    local_day,
    lock_mark,
    move_mark,
    settle_cutoff,
    settled_upto,
)
from app.verify.models import TapEvent

GENUINE = "genuine"
# Ownerships begun this way are resales (``app.ownership.transfers.TRANSFER``).
TRANSFER = "transfer"
# An action is credited to a decision at most this long before it.
FOLLOW_WINDOW = timedelta(days=7)
REVIEW, REVEAL, SERVICE = "review", "reveal", "service"

_T = TapEvent.__table__
_I = Item.__table__
_P = Product.__table__
_B = Brand.__table__
_O = Ownership.__table__
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Step:
    """What one step did: source rows counted, cube cells changed, and whether rows remain past
    the cap (the next refresh takes them)."""

    rows: int
    cells: int
    pending: bool = False


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _moment(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _before(dialect: str, at: Any, span: timedelta) -> Any:
    """SQL for ``at`` less ``span`` (whole days), comparable with any stored moment."""
    if dialect == "postgresql":
        return at - literal_column(f"interval '{span.days} days'")
    # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff": shift the first 19 characters, keep the fraction.
    return (func.strftime("%Y-%m-%d %H:%M:%S", at, f"-{span.days} days")
            .op("||")(func.substr(at, 20)))


def journey_next(session: Session, settings: Mapping[str, Any], now: datetime) -> Step:
    """Credit the reviews, reveals and service requests made since the last refresh (and
    before ``now`` less the settle window) to the item's last journey decision in the 7 days
    before each; count them on the decision's local day. Moves its mark; returns what it did."""
    dialect = session.get_bind().dialect.name
    since = lock_mark(session, m.JOURNEY_NEXT)
    cutoff = settle_cutoff(settings, now)
    upto = max(_micros(cutoff), since)

    def window(at: Any) -> Any:
        return and_(at > _moment(since), at <= _moment(upto))

    r, g, s = sources.product_reviews, sources.reward_grants, sources.service_requests
    actions = union_all(
        select(literal(REVIEW).label("kind"), r.c.item_id, r.c.created_at.label("at"))
        .where(window(r.c.created_at)),
        select(literal(REVEAL), g.c.item_id, g.c.revealed_at)
        .where(g.c.revealed_at.is_not(None), window(g.c.revealed_at)),
        select(literal(SERVICE), s.c.item_id, s.c.created_at).where(window(s.c.created_at)),
    ).subquery("action")
    decision = (
        select(_T.c.id)
        .where(_T.c.item_id == actions.c.item_id, _T.c.verdict == GENUINE,
               _T.c.journey.is_not(None), _T.c.at <= actions.c.at,
               _T.c.at >= _before(dialect, actions.c.at, FOLLOW_WINDOW))
        .order_by(_T.c.at.desc(), _T.c.id.desc()).limit(1)
        .correlate(actions).scalar_subquery()
    )
    # Materialised: as a plain subquery PostgreSQL hashed the whole tap table to join the few
    # credited taps (0.6 s for a day's 800 actions); as a CTE it looks each one up by id.
    credited = (select(actions.c.kind, decision.label("tap_id")).cte("credited")
                .prefix_with("MATERIALIZED"))
    query = (
        select(credited.c.kind, _T.c.at, _T.c.journey, _P.c.brand_id, _B.c.timezone)
        .select_from(credited.join(_T, _T.c.id == credited.c.tap_id)
                     .join(_I, _I.c.id == _T.c.item_id).join(_P, _P.c.id == _I.c.product_id)
                     .join(_B, _B.c.id == _P.c.brand_id))
    )
    cells: Counter[Cell] = Counter()
    rows = 0
    for row in session.execute(query):
        rows += 1
        cells[(row.brand_id, m.JOURNEY_NEXT, local_day(row.at, row.timezone), 0, "", "",
               row.journey, row.kind)] += 1
    changed = add_cells(session, cells)
    move_mark(session, m.JOURNEY_NEXT, upto, now)
    return Step(rows, changed)


def _by_id(session: Session, settings: Mapping[str, Any], now: datetime, mark: str,
           metric: str, table: Any, moment: Any, *where: Any) -> Step:
    """Count rows of ``table`` after mark ``mark`` (settled by their ``moment``) into
    ``metric`` by local day and product, and move the mark."""
    lo = lock_mark(session, mark)
    cutoff = settle_cutoff(settings, now)
    limit = int(settings.get("INSIGHTS_REFRESH_MAX_TAPS", 50_000))
    hi = settled_upto(session, table.c.id, moment, lo, cutoff, limit)
    cells: Counter[Cell] = Counter()
    rows = 0
    if hi > lo:
        query = (select(moment.label("at"), _I.c.product_id, _P.c.brand_id, _B.c.timezone)
                 .select_from(table.join(_I, _I.c.id == table.c.item_id)
                              .join(_P, _P.c.id == _I.c.product_id)
                              .join(_B, _B.c.id == _P.c.brand_id))
                 .where(table.c.id > lo, table.c.id <= hi, *where))
        for row in session.execute(query):
            rows += 1
            cells[(row.brand_id, metric, local_day(row.at, row.timezone), row.product_id, "", "",
                   "", "")] += 1
    changed = add_cells(session, cells)
    move_mark(session, mark, hi, now)
    pending = hi > lo and settled_upto(session, table.c.id, moment, hi, cutoff, 1) > hi
    return Step(rows, changed, pending)


def service_requests(session: Session, settings: Mapping[str, Any], now: datetime) -> Step:
    """Count new service requests (SERVICE_REQUESTS: local day, product); move the mark."""
    s = sources.service_requests
    return _by_id(session, settings, now, m.SERVICE_REQUESTS, m.SERVICE_REQUESTS, s,
                  s.c.created_at)


def resales(session: Session, settings: Mapping[str, Any], now: datetime) -> Step:
    """Count new ownerships begun by transfer (RESALES: local day, product); move the mark."""
    return _by_id(session, settings, now, m.RESALES, m.RESALES, _O, _O.c.started_at,
                  _O.c.began_by == TRANSFER)
