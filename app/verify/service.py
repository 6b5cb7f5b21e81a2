"""The tap: verify a SUN message, apply the replay defence, record the event, decide the page.

Pure service: takes a session, settings and input, returns values. The caller commits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, String, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from app.catalog.models import Brand, Item, Product
from app.catalog.service import (
    InvalidIdentifier,
    get_or_create_product,
    normalize_gtin,
    normalize_serial,
)
from app.catalog.views import ITEM_COLUMNS, ItemView, item_view_from_row
from app.core.clock import now, utc
from app.core.db import dialect_insert, update_rows
from app.core.errors import DomainError
from app.verify.keys import Keyring, KeyVersion
from app.verify.mint import SimTag, find_sim_tag, mint_url
from app.verify.mint import TagNotFound as TagNotFound  # callers import it from here
from app.verify.models import FailedTapHour, Tag, TapEvent
from app.verify.sun import MalformedSun, SunResult, parse_query, verify_any
from app.verify.sun import SimulationNotAllowed as SimulationNotAllowed  # mint_tap_url raises it

GENUINE = "genuine"
REPLAYED = "replayed"
INVALID = "invalid"
UNKNOWN_TAG = "unknown_tag"
REVOKED = "revoked"
VERDICTS = (GENUINE, REPLAYED, INVALID, UNKNOWN_TAG, REVOKED)


@dataclass(frozen=True)
class TapInput:
    """What arrived: the raw query string and, for GS1 Digital Link, the item named in the path."""

    raw_query: str
    at: datetime
    path_gtin: str | None = None
    path_serial: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class TagView:
    """A read-only snapshot of a tag and its item, taken in the tap's transaction."""

    id: int
    uid: str
    key_version: str
    revoked: bool
    item: ItemView


@dataclass
class TapOutcome:
    """The verdict and everything known about the tap; ``tag``/``item`` are None when unknown."""

    verdict: str
    at: datetime
    reason: str | None = None
    sun: SunResult | None = None
    tag: TagView | None = None
    item: ItemView | None = None
    # Genuine taps of this tag so far, this one included.
    number: int | None = None
    # When this item was last tapped genuinely before this tap (None: never).
    previous_genuine_at: datetime | None = None
    country: str | None = None


# The tap is the hot path: these statements are built once, and run as Core statements (no ORM
# identity map or unit of work), which makes a tap's database work several times cheaper.
_TAG_BY_UID = (
    select(
        Tag.id.label("tag_id"), Tag.uid, Tag.key_version, Tag.revoked_at, Tag.last_genuine_at,
        *ITEM_COLUMNS,
    )
    .join(Item, Tag.item_id == Item.id)
    .join(Product, Item.product_id == Product.id)
    .join(Brand, Product.brand_id == Brand.id)
    .where(Tag.uid == bindparam("uid"))
)
# The replay defence: one conditional UPDATE. Concurrent requests with the same counter serialise
# on the row; the first advances it and every other one then fails the WHERE and gets no row.
_ADVANCE_COUNTER = (
    update(Tag)
    .where(
        Tag.id == bindparam("tag_id"),
        or_(Tag.last_counter.is_(None), Tag.last_counter < bindparam("new_counter")),
    )
    .values(
        last_counter=bindparam("new_counter"),
        genuine_taps=Tag.genuine_taps + 1,
        last_genuine_at=bindparam("at"),
    )
    .returning(Tag.genuine_taps)
)
# The genuine tap in one round trip (PostgreSQL): the same conditional counter advance, made only
# when the tag is registered under the key version that signed, not revoked, and (GS1 form) on
# the item the path names, returning the tag, item, product and brand. No row: something is
# wrong, and the two-step path below says what. The replay defence is the same as the two-step
# one: a request that waited for a concurrent one re-checks the counter on the committed row. The
# previous genuine tap time comes from a plain subquery (a locking one deadlocks such waiters),
# so only a tap racing another tap of the same tag may see the time before that one. SQLite's
# RETURNING cannot name the joined tables, so it takes two steps (in-process, and inside the
# writer's transaction: no round trip to a server).
_PREVIOUS = (
    select(Tag.id, Tag.last_genuine_at.label("previous_genuine_at"))
    # Not "uid" or "key_version": in an UPDATE those names would mean SET values.
    .where(Tag.uid == bindparam("tag_uid"))
    .subquery("previous")
)
_ADVANCE_AND_READ = (
    update(Tag)
    .where(
        Tag.id == _PREVIOUS.c.id,
        Tag.item_id == Item.id,
        Item.product_id == Product.id,
        Product.brand_id == Brand.id,
        Tag.key_version == bindparam("signed_by"),
        Tag.revoked_at.is_(None),
        or_(Tag.last_counter.is_(None), Tag.last_counter < bindparam("new_counter")),
        or_(bindparam("path_gtin", type_=String).is_(None),
            and_(Product.gtin == bindparam("path_gtin", type_=String),
                 Item.serial == bindparam("path_serial", type_=String))),
    )
    .values(
        last_counter=bindparam("new_counter"),
        genuine_taps=Tag.genuine_taps + 1,
        last_genuine_at=bindparam("at"),
    )
    .returning(
        Tag.id.label("tag_id"), Tag.uid, Tag.key_version, Tag.revoked_at,
        Tag.genuine_taps, _PREVIOUS.c.previous_genuine_at, *ITEM_COLUMNS,
    )
)
_INSERT_EVENT = insert(TapEvent).returning(TapEvent.id)



def _tag_view(row: Row[Any]) -> TagView:
    return TagView(row.tag_id, row.uid, row.key_version, row.revoked_at is not None,
                   item_view_from_row(row))


def verify_tap(
    session: Session, keyring: Mapping[str, KeyVersion], tap: TapInput
) -> TapOutcome:
    """Return the verdict for ``tap``; a genuine verdict has advanced the tag's counter.

    The counter advance is a single conditional UPDATE, so of any number of concurrent requests
    carrying the same counter exactly one is genuine and the rest are replayed.
    """
    try:
        message = parse_query(tap.raw_query)
    except MalformedSun as exc:
        return TapOutcome(INVALID, tap.at, reason=exc.reason[:120], country=tap.country)
    result = verify_any(message, keyring.values())
    if result is None and isinstance(keyring, Keyring) and keyring.reload_if_changed():
        # A chip of a key version added to the file since this process last read it.
        result = verify_any(message, keyring.values())
    if result is None:
        return TapOutcome(INVALID, tap.at, reason="signature does not verify", country=tap.country)

    conn = session.connection()
    outcome = TapOutcome(UNKNOWN_TAG, tap.at, sun=result, country=tap.country)
    if conn.dialect.name == "postgresql" and not keyring[result.key_version].retired:
        advanced = conn.execute(_ADVANCE_AND_READ, {
            "tag_uid": result.uid_hex, "signed_by": result.key_version,
            "new_counter": result.counter, "at": tap.at,
            "path_gtin": tap.path_gtin, "path_serial": tap.path_serial,
        }).first()
        if advanced is not None:
            outcome.tag = _tag_view(advanced)
            outcome.item = outcome.tag.item
            outcome.verdict, outcome.number = GENUINE, advanced.genuine_taps
            outcome.previous_genuine_at = advanced.previous_genuine_at
            return outcome
    row = conn.execute(_TAG_BY_UID, {"uid": result.uid_hex}).first()
    if row is None:
        outcome.reason = "tag is not registered"
        return outcome
    tag = outcome.tag = _tag_view(row)
    outcome.item = tag.item
    if tag.key_version != result.key_version:
        outcome.verdict, outcome.reason = INVALID, "tag signed with another key version"
        return outcome
    if tap.path_gtin is not None and (
        tag.item.product.gtin != tap.path_gtin or tag.item.serial != tap.path_serial
    ):
        outcome.verdict, outcome.reason = INVALID, "wrong item in path"
        return outcome
    if tag.revoked:
        outcome.verdict, outcome.reason = REVOKED, "tag revoked"
        return outcome
    if keyring[result.key_version].retired:
        outcome.verdict, outcome.reason = REVOKED, "key version retired"
        return outcome

    number = conn.execute(
        _ADVANCE_COUNTER, {"tag_id": tag.id, "new_counter": result.counter, "at": tap.at}
    ).scalar_one_or_none()
    if number is None:
        outcome.verdict, outcome.reason = REPLAYED, "counter already seen"
        return outcome
    outcome.verdict, outcome.number = GENUINE, number
    # Read before the UPDATE, so this is the tap before this one.
    outcome.previous_genuine_at = row.last_genuine_at
    return outcome


def record_tap(
    session: Session,
    outcome: TapOutcome,
    *,
    failed_detail_per_hour: int,
    ruleset_version: str | None = None,
    journey: str | None = None,
    facts: Mapping[str, Any] | None = None,
) -> int | None:
    """Add the tap event for ``outcome``; return its id, or None when it was only counted.

    ``facts`` is the fact the decision was taken on; it is kept as compact JSON (without the
    private ``_``-prefixed keys) so drafts can be replayed against it.

    Failed taps are counted per hour and verdict without limit, but keep detail rows only up to
    ``failed_detail_per_hour`` in each hour, all failed verdicts together, so a flood of forged
    URLs cannot fill the disk. Genuine taps are bounded by real chip taps and always kept.
    """
    conn = session.connection()
    if outcome.verdict != GENUINE:
        hour = outcome.at.replace(minute=0, second=0, microsecond=0)
        stmt = dialect_insert(conn)(FailedTapHour).values(
            hour=hour, verdict=outcome.verdict, count=1
        )
        conn.execute(stmt.on_conflict_do_update(
            index_elements=[FailedTapHour.hour, FailedTapHour.verdict],
            set_={"count": FailedTapHour.count + 1},
        ))
        # The cap is for the hour, not for each verdict: a flood mixing forged, replayed and
        # unknown tags must not keep one cap's worth per verdict. On PostgreSQL, concurrent
        # failed taps of other verdicts not yet committed are not seen, so the hour may keep a
        # few more rows than the cap (at most one per concurrent request).
        total = conn.execute(
            select(func.sum(FailedTapHour.count)).where(FailedTapHour.hour == hour)
        ).scalar_one()
        if total > failed_detail_per_hour:
            return None
    sun = outcome.sun
    return conn.execute(
        _INSERT_EVENT,
        {
            "at": outcome.at,
            "verdict": outcome.verdict,
            "tag_id": outcome.tag.id if outcome.tag else None,
            "item_id": outcome.item.id if outcome.item else None,
            "counter": sun.counter if sun else None,
            "mode": sun.mode if sun else None,
            "tamper": sun.tamper if sun else None,
            "country": outcome.country,
            "reason": outcome.reason,
            "ruleset_version": ruleset_version,
            "journey": journey,
            "facts": _facts_json(facts),
        },
    ).scalar_one()


def _facts_json(facts: Mapping[str, Any] | None) -> str | None:
    if facts is None:
        return None
    return json.dumps({k: v for k, v in facts.items() if not k.startswith("_")},
                      separators=(",", ":"), default=str)


def prune_failed_taps(session: Session, before: datetime) -> int:
    """Delete the detail rows of failed taps recorded before ``before``; return how many.

    Genuine tap events are kept (ownership, rewards and journeys read them), and so are the hourly
    counts in ``failed_tap_hours``, which stay small. The caller commits.
    """
    return update_rows(session, delete(TapEvent).where(TapEvent.verdict != GENUINE,
                                                       TapEvent.at < utc(before)))


def prune_tap_detail(session: Session, before: datetime) -> int:
    """Clear the detail of genuine taps recorded before ``before``; return how many changed.

    The row stays (ownership, rewards and journeys count and read it); what goes is what only a
    recent tap needs: the decision's fact (``journeys replay`` looks at recent history) and the
    location the person shared. The caller commits.
    """
    return update_rows(session, update(TapEvent).where(
        TapEvent.verdict == GENUINE, TapEvent.at < utc(before),
        or_(TapEvent.facts.is_not(None), TapEvent.latitude.is_not(None),
            TapEvent.longitude.is_not(None)),
    ).values(facts=None, latitude=None, longitude=None))


# --- Tag registry -------------------------------------------------------------------------------

_UID_RE = re.compile(r"^[0-9A-Fa-f]{14}$")
_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
IMPORT_REQUIRED = ("uid", "gtin", "serial", "key_version")
IMPORT_OPTIONAL = ("market", "product_name", "category", "sold", "sold_at", "channel")
# The ``sold`` column: yes (default), no (still in a boutique: it only authenticates until
# released), unknown (no sales feed: the ruleset decides what a first tap does).
_SOLD = {"": True, "yes": True, "no": False, "unknown": None}
# ``items.channel``'s width: the channel or retailer that sold the item.
_CHANNEL_MAX = 64


class ImportRejected(Exception):
    """A tag import had bad rows; ``problems`` lists ``(line, message)``. Nothing was imported."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


@dataclass(frozen=True)
class ImportSummary:
    created: int
    unchanged: int
    products_created: int


def import_tags(
    session: Session,
    keyring: Mapping[str, KeyVersion],
    brand: Brand,
    rows: Sequence[tuple[int, Mapping[str, str]]],
) -> ImportSummary:
    """Register tags from ``(line, row)`` pairs for ``brand``; return what changed.

    Re-importing the same rows changes nothing. Either every row is applied or none is: on any bad
    row the caller must roll back (nothing is committed here).

    Raises:
        ImportRejected: with every bad row's line number and a plain message.
    """
    problems: list[tuple[int, str]] = []
    created = unchanged = products_created = 0
    seen_uids: dict[str, int] = {}
    for line, row in rows:
        # PostgreSQL refuses a NUL in text (SQLite would keep it): say so here, with the line.
        bad = [c for c, v in row.items() if isinstance(v, str) and _CONTROL.search(v)]
        if bad:
            problems.append((line, f"{', '.join(map(str, bad))} holds a control character"))
            continue
        missing = [c for c in IMPORT_REQUIRED if not (row.get(c) or "").strip()]
        if missing:
            problems.append((line, f"missing {', '.join(missing)}"))
            continue
        uid = row["uid"].strip().upper()
        if not _UID_RE.match(uid):
            problems.append((line, f"uid {row['uid']!r} must be 7 bytes as 14 hex characters"))
            continue
        if uid in seen_uids:
            problems.append((line, f"uid {uid} is also on line {seen_uids[uid]}"))
            continue
        seen_uids[uid] = line
        key_version = row["key_version"].strip()
        if key_version not in keyring:
            problems.append((line, f"key version {key_version!r} is not in the keys file"))
            continue
        sold_text = (row.get("sold") or "").strip().lower()
        if sold_text not in _SOLD:
            problems.append((line, f"sold {row['sold']!r} must be yes, no or unknown"))
            continue
        market = (row.get("market") or "").strip().upper() or None
        if market is not None and not _is_country(market):
            problems.append((line, f"market {market!r} must be a two-letter country code"))
            continue
        sale = _sale(row, _SOLD[sold_text])
        if isinstance(sale, str):
            problems.append((line, sale))
            continue
        try:
            gtin = normalize_gtin(row["gtin"])
            serial = normalize_serial(row["serial"])
            existed = session.scalar(select(Product.id).where(Product.gtin == gtin)) is not None
            product = get_or_create_product(
                session,
                brand,
                gtin,
                name=(row.get("product_name") or "").strip() or None,
                category=(row.get("category") or "").strip() or None,
            )
        except InvalidIdentifier as exc:
            problems.append((line, exc.message))
            continue
        except DomainError as exc:  # another brand's GTIN
            problems.append((line, exc.message))
            continue
        products_created += 0 if existed else 1

        item = session.scalar(
            select(Item).where(Item.product_id == product.id, Item.serial == serial)
        )
        tag = session.scalar(select(Tag).where(Tag.uid == uid))
        if tag is not None:
            if item is not None and tag.item_id == item.id and tag.key_version == key_version:
                unchanged += 1
            else:
                problems.append((line, f"uid {uid} is already registered to another item"))
            continue
        if item is None:
            item = Item(product=product, serial=serial, market=market,
                        released=_SOLD[sold_text], sold_at=sale[0], channel=sale[1])
            session.add(item)
            session.flush()
        elif session.scalar(select(Tag.id).where(Tag.item_id == item.id)) is not None:
            problems.append((line, f"item {gtin}/{serial} already has another tag"))
            continue
        session.add(Tag(uid=uid, item=item, key_version=key_version))
        session.flush()
        created += 1
    if problems:
        raise ImportRejected(problems)
    return ImportSummary(created=created, unchanged=unchanged, products_created=products_created)


def _sale(row: Mapping[str, str], sold: bool | None) -> tuple[datetime | None, str | None] | str:
    """Return the row's ``(sold_at, channel)``, or the problem with them in words.

    ``sold_at`` is an ISO date (the day's start, UTC) or date and time (UTC unless it says
    otherwise); activation is measured from it, so a sale in the future or of an item said to be
    still in a boutique is refused rather than stored."""
    text = (row.get("sold_at") or "").strip()
    channel = (row.get("channel") or "").strip() or None
    if channel is not None and len(channel) > _CHANNEL_MAX:
        return f"channel must be at most {_CHANNEL_MAX} characters (got {len(channel)})"
    if not text:
        return None, channel
    try:
        sold_at = utc(datetime.fromisoformat(text))
    except ValueError:
        return (f"sold_at {text!r} must be an ISO date (2026-11-30) or date and time "
                f"(2026-11-30T14:05:00Z)")
    if sold is False:
        return f"sold_at {text!r} is given but sold is no"
    if sold_at > now():
        return f"sold_at {text!r} is in the future"
    return sold_at, channel


def _is_country(value: str) -> bool:
    return len(value) == 2 and value.isascii() and value.isalpha() and value.isupper()


def find_tag(session: Session, serial: str, gtin: str | None = None) -> Tag:
    """Return the tag of the item with ``serial`` (and ``gtin`` if given).

    Raises:
        TagNotFound: no such tagged item, or the serial is ambiguous without a GTIN.
    """
    return session.get_one(Tag, find_sim_tag(session.connection(), serial, gtin).id)


def mint_tap_url(
    session: Session,
    keyring: Mapping[str, KeyVersion],
    tag: Tag,
    base_url: str,
    *,
    mode: str = "aes",
    form: str = "gs1",
    file_data: bytes | None = None,
) -> str:
    """Return a fresh, valid simulated tap URL for ``tag``; its counter is above any seen before.

    The counter is claimed in the session's transaction (the caller commits); ``tag`` as loaded
    is not refreshed.

    Raises:
        SimulationNotAllowed: the tag's key version does not allow simulation.
        ValueError: unknown mode or form.
    """
    sim = SimTag(tag.id, tag.uid, tag.key_version, tag.item.product.gtin, tag.item.serial)
    return mint_url(session.connection(), keyring, sim, base_url, mode=mode, form=form,
                    file_data=file_data)
