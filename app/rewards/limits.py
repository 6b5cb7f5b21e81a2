"""Limits: holdouts and exposure, whether a reward can be given now, and taking its limits.

Every limit is held by the database:

- per_owner / per_item / the ruleset's ``rewards_per_owner``: numbered slots per scope, taken by
  an INSERT (primary key) or, once ``per`` days have passed since their last use, by a conditional
  UPDATE: N slots used at least ``per`` days apart give exactly "at most N in any ``per`` days";
- per_day and budget: counters advanced by ``UPDATE ... WHERE count < max``;
- stock is taken at the reveal (``app.rewards.grants``); here it is only checked.

``availability`` is a read for the tap's facts; ``take_limits`` re-checks every limit atomically
when a grant is made.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    CompoundSelect,
    Integer,
    Row,
    RowMapping,
    Select,
    String,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from app.core.clock import utc
from app.core.db import UTCDateTime, dialect_insert, insert_ignore
from app.core.errors import N_, Conflict
from app.journeys.language import RewardDoc, RulesetDoc
from app.rewards import draws
from app.rewards.codes import LIST, free_codes
from app.rewards.models import (
    RewardCode,
    RewardDayCount,
    RewardExposure,
    RewardPool,
    RewardPrize,
    RewardSlot,
)
from app.rewards.pools import find_reward, pool_id_for

TREATMENT, HOLDOUT = "treatment", "holdout"

# The statements of the tap's path, built once: a call binds values, SQLAlchemy builds nothing.
_P, _Z, _D, _SL = (RewardPool.__table__, RewardPrize.__table__, RewardDayCount.__table__,
                   RewardSlot.__table__)
_PRIZE_COLUMNS = (_Z.c.pool_id, _Z.c.stock, _Z.c.given, _Z.c.code, _Z.c.code_list)
_POOL_PRIZES = select(*_PRIZE_COLUMNS).where(
    _Z.c.pool_id == bindparam("b_pool"), _Z.c.retired.is_(False))
_SLOTS_OF = select(_SL.c.slot, _SL.c.used_at).where(_SL.c.scope == bindparam("b_scope"))
_TAKE_BUDGET = (update(_P).where(_P.c.id == bindparam("b_pool"),
                                 or_(_P.c.budget.is_(None), _P.c.given < _P.c.budget))
                .values(given=_P.c.given + 1))
_TAKE_DAY = (update(_D).where(_D.c.pool_id == bindparam("b_pool"), _D.c.day == bindparam("b_day"),
                              _D.c.count < bindparam("b_max"))
             .values(count=_D.c.count + 1))
_REUSE_SLOT = (update(_SL).where(_SL.c.scope == bindparam("b_scope"),
                                 _SL.c.slot == bindparam("b_slot"),
                                 _SL.c.used_at <= bindparam("b_cutoff"))
               .values(used_at=bindparam("b_at"), grant_id=bindparam("b_grant")))


class RewardUnavailable(Conflict):
    """The reward cannot be given to this tap; ``reason`` says which limit said no."""

    code = "reward_unavailable"

    def __init__(self, reason: str, message: str | None = None) -> None:
        # The reason is an identifier (``holdout``): kept on the error, never in its words.
        super().__init__(message or N_("This reward cannot be given now."))
        self.reason = reason


# --- holdouts and exposure ------------------------------------------------------------------------


def holdout_bucket(brand: str, reward_id: str, owner_id: int | None, item_id: int) -> float:
    """Return the stable position in [0, 100) of this owner (or, anonymous, item) for a reward."""
    subject = f"owner:{owner_id}" if owner_id is not None else f"item:{item_id}"
    digest = hashlib.sha256(f"{brand}/{reward_id}/{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") * 100 / (1 << 64)


def in_holdout(reward: RewardDoc, brand: str, owner_id: int | None, item_id: int) -> bool:
    """Return True when this owner belongs to the reward's ``holdout`` share."""
    return bool(reward.holdout) and holdout_bucket(brand, reward.id, owner_id, item_id) < float(
        reward.holdout
    )


def record_exposure(
    session: Session, ruleset_doc: RulesetDoc, brand: str, reward_id: str, *,
    tap_event_id: int | None, owner_id: int | None, item_id: int, at: datetime,
    message_key: str | None = None,
) -> str:
    """Record that this tap's journey (or scheduled message ``message_key``, with no tap) offered
    the reward (once per tap or message); return the cohort.

    ``grants.grant`` calls it; call it yourself when a journey offering the reward won but no
    grant was attempted. Returns ``"holdout"`` or ``"treatment"``.

    Raises:
        NotFound: the ruleset has no such reward.
    """
    reward = find_reward(ruleset_doc, reward_id)
    return expose(session, reward, brand, pool_id_for(session, brand, reward),
                  tap_event_id=tap_event_id, owner_id=owner_id, item_id=item_id, at=at,
                  message_key=message_key)


def expose(
    session: Session, reward: RewardDoc, brand: str, pool_id: int, *,
    tap_event_id: int | None, owner_id: int | None, item_id: int, at: datetime,
    message_key: str | None = None,
) -> str:
    """``record_exposure`` for a reward whose pool id the caller already has; returns the
    cohort."""
    cohort = HOLDOUT if in_holdout(reward, brand, owner_id, item_id) else TREATMENT
    insert_ignore(session, RewardExposure.__table__,
                  {"pool_id": pool_id, "tap_event_id": tap_event_id,
                   "message_key": message_key, "owner_id": owner_id, "item_id": item_id,
                   "cohort": cohort, "at": utc(at)})
    return cohort


# --- availability ---------------------------------------------------------------------------------


def _scopes(brand: str, pool_id: int, owner_id: int | None, item_id: int) -> dict[str, str]:
    scopes = {"item": f"item:{pool_id}:{item_id}"}
    if owner_id is not None:
        scopes["owner"] = f"owner:{pool_id}:{owner_id}"
        scopes["guard"] = f"guard:{brand}:{owner_id}"
    return scopes


# What ``availability`` reads, as one statement (one round trip): a UNION ALL of rows of one
# shape, each with the ``kind`` of what it holds. ``pool``: the pool of a reward asked about
# (``key`` its reward id, ``budget``, ``given``); ``prize``: a prize of such a pool still offered
# (``stock``, ``given``, ``code``, ``code_list``, and for a list whether it has a free code);
# ``day``: a pool's grants today (``given``); ``slot``: a used limit slot of this item or owner
# (``key`` its scope, ``used_at``). ``app.rewards.tapflow`` adds an ``owner`` row (``points``,
# ``reviewed``) to the same statement. Every column is typed, so ``used_at`` comes back aware.
_STATE_COLUMNS: dict[str, TypeEngine[Any]] = {
    "kind": String(), "pool_id": Integer(), "key": String(), "budget": Integer(),
    "stock": Integer(), "given": Integer(), "code": String(), "code_list": String(),
    "free": Boolean(), "used_at": UTCDateTime(), "points": Integer(), "reviewed": Boolean(),
}


def state_row(kind: str, **columns: ColumnElement[Any]) -> Select[Any]:
    """Return a SELECT of one kind of row of the availability statement: ``columns`` by name
    (see ``_STATE_COLUMNS``), the others NULL. Add FROM and WHERE to it."""
    return select(literal_column(f"'{kind}'", String()).label("kind"), *(
        type_coerce(columns[name], type_).label(name) if name in columns
        else cast(null(), type_).label(name)
        for name, type_ in _STATE_COLUMNS.items() if name != "kind"))


_C = RewardCode.__table__
_ASKED = (select(_P.c.id, _P.c.reward_id, _P.c.budget, _P.c.given)
          .where(_P.c.brand == bindparam("b_brand"),
                 _P.c.reward_id.in_(bindparam("b_rewards", expanding=True)))
          .cte("asked_pools"))


def _pool_scope(prefix: str, param: str) -> ColumnElement[str]:
    """The scope ``_scopes`` names, built in SQL from each asked pool's id."""
    return (literal_column(f"'{prefix}:'", String()) + cast(_ASKED.c.id, String())
            + literal_column("':'", String()) + bindparam(param, type_=String()))


_STATE_ROWS = (
    state_row("pool", pool_id=_ASKED.c.id, key=_ASKED.c.reward_id, budget=_ASKED.c.budget,
              given=_ASKED.c.given),
    state_row("prize", pool_id=_Z.c.pool_id, stock=_Z.c.stock, given=_Z.c.given, code=_Z.c.code,
              code_list=_Z.c.code_list,
              free=case((_Z.c.code == LIST, exists().where(
                  _C.c.brand == bindparam("b_brand"), _C.c.list_name == _Z.c.code_list,
                  _C.c.grant_id.is_(None)))))
    .select_from(_Z.join(_ASKED, _Z.c.pool_id == _ASKED.c.id)).where(_Z.c.retired.is_(False)),
    state_row("day", pool_id=_D.c.pool_id, given=_D.c.count)
    .select_from(_D.join(_ASKED, _D.c.pool_id == _ASKED.c.id))
    .where(_D.c.day == bindparam("b_day")),
    # The item's and owner's slots of each asked pool (a NULL owner matches none)...
    state_row("slot", key=_SL.c.scope, used_at=_SL.c.used_at)
    .select_from(_SL.join(_ASKED, _SL.c.scope.in_([_pool_scope("item", "b_item"),
                                                    _pool_scope("owner", "b_owner")]))),
    # ... and the others: the owner's guard, and the scopes of a reward not synced yet (pool 0).
    state_row("slot", key=_SL.c.scope, used_at=_SL.c.used_at)
    .where(_SL.c.scope.in_(bindparam("b_scopes", expanding=True))),
)


def availability_statement(*rows: Select[Any]) -> CompoundSelect:
    """Return the availability statement, with ``rows`` (made by ``state_row``) added."""
    return union_all(*rows, *_STATE_ROWS)


_AVAILABILITY = availability_statement()


def asked(ruleset_doc: RulesetDoc, only: Collection[str] | None) -> dict[str, RewardDoc]:
    """Return the ruleset's rewards by id: those of ``only`` (all when None)."""
    if only is None:
        return dict(ruleset_doc.rewards)
    return {rid: ruleset_doc.rewards[rid] for rid in only if rid in ruleset_doc.rewards}


def availability_params(
    brand: str, owner_id: int | None, item_id: int, rewards: Collection[str], at: datetime
) -> dict[str, object]:
    """Return the values the availability statement binds."""
    return {
        "b_brand": brand, "b_rewards": list(rewards), "b_day": draws.utc_day(at),
        "b_item": str(item_id), "b_owner": None if owner_id is None else str(owner_id),
        "b_scopes": sorted(_scopes(brand, 0, owner_id, item_id).values()),
    }


@dataclass(frozen=True)
class RewardState:
    """What the availability statement read, by table: what ``decide`` decides on."""

    # Reward id -> (pool id, budget, given): the pools of the rewards asked about.
    pools: dict[str, tuple[int, int | None, int]]
    # Pool id -> its prizes still offered (rows with ``stock``, ``given``, ``code``, ``code_list``).
    prizes: dict[int, list[RowMapping]]
    # Pool id -> grants today.
    day_counts: dict[int, int]
    # Scope -> when each of its used slots was last used.
    used: dict[str, list[datetime]]
    # Code list -> 1, for the lists (of those prizes) that still have a free code.
    free: dict[str, int]


def reward_state(rows: Iterable[Row[Any]]) -> RewardState:
    """Return the state the availability statement's ``rows`` hold (other kinds are skipped)."""
    state = RewardState({}, {}, {}, {}, {})
    for row in rows:
        if row.kind == "pool":
            state.pools[row.key] = (row.pool_id, row.budget, row.given)
        elif row.kind == "prize":
            state.prizes.setdefault(row.pool_id, []).append(row._mapping)
            if row.free:
                state.free[row.code_list] = 1
        elif row.kind == "day":
            state.day_counts[row.pool_id] = row.given
        elif row.kind == "slot":
            state.used.setdefault(row.key, []).append(row.used_at)
    return state


def needs_owner(reward: RewardDoc) -> bool:
    """Return whether the reward can only be given to a known owner.

    Points go to an owner's ledger, a per-owner limit needs someone to count, and what a
    reward ``requires`` is something an owner does.
    """
    return bool(
        reward.requires
        or reward.points
        or reward.limit.per_owner is not None
        or any(p.points for p in reward.prizes)
        or (reward.consolation is not None and reward.consolation.points)
    )


def _fresh(used: Iterable[datetime], per: int | None, at: datetime) -> int:
    if per is None:
        return sum(1 for _ in used)
    cutoff = at - timedelta(days=per)
    return sum(1 for u in used if u > cutoff)


def in_stock(prize: RowMapping, free: Mapping[str, int]) -> bool:
    """Return whether a ``reward_prizes`` row has a unit left (and, for a list, a free code)."""
    if prize["stock"] is not None and prize["given"] >= prize["stock"]:
        return False
    return not (prize["code"] == LIST and free.get(prize["code_list"], 0) <= 0)


def availability(
    session: Session, ruleset_doc: RulesetDoc, brand: str, owner_id: int | None, item_id: int,
    at: datetime, only: Collection[str] | None = None,
) -> dict[str, bool]:
    """Return, for each reward of the ruleset (of ``only`` when given: the rewards a journey
    tests), whether it can be granted now to this owner/item.

    Checks per_owner, per_item (within ``per``), per_day, budget, the ruleset's
    ``rewards_per_owner``, and that something is left to give (a prize in stock, a consolation, or
    points). Rewards that give points or have ``per_owner`` need a known owner. A read, in one
    statement: a grant re-checks every limit atomically.

    Not the holdout: a held-out owner is chosen for the journey exactly as an exposed one, and
    ``grants.grant`` records the exposure (cohort ``holdout``) and gives nothing, so the page
    shows the journey without the reward. Were the holdout checked here, a journey testing
    ``reward.<id>.available`` would fall through for held-out owners only, with no exposure:
    the two groups would differ by more than the reward, and lift could not be measured.
    """
    rewards = asked(ruleset_doc, only)
    if not rewards:
        return {}
    state = read_state(session, brand, owner_id, item_id, rewards, at)
    return decide(ruleset_doc, brand, owner_id, item_id, at, rewards, state)


def read_state(
    session: Session, brand: str, owner_id: int | None, item_id: int, rewards: Collection[str],
    at: datetime,
) -> RewardState:
    """Return what ``availability`` decides ``rewards`` on, read in one statement."""
    rows = session.connection().execute(
        _AVAILABILITY, availability_params(brand, owner_id, item_id, rewards, utc(at)))
    return reward_state(rows)


def decide(
    ruleset_doc: RulesetDoc, brand: str, owner_id: int | None, item_id: int, at: datetime,
    rewards: Mapping[str, RewardDoc], state: RewardState,
) -> dict[str, bool]:
    """Return ``availability``'s answer for ``rewards`` from what the statement read."""
    at = utc(at)
    guard = ruleset_doc.guardrails.rewards_per_owner
    guard_ok = True
    if guard is not None and owner_id is not None:
        guard_used = state.used.get(f"guard:{brand}:{owner_id}", [])
        guard_ok = _fresh(guard_used, guard.per, at) < guard.max

    out: dict[str, bool] = {}
    for rid, reward in rewards.items():
        pool = state.pools.get(rid)
        pool_id = pool[0] if pool is not None else 0
        sc = _scopes(brand, pool_id, owner_id, item_id)
        limit = reward.limit
        ok = guard_ok or owner_id is None
        if owner_id is None and needs_owner(reward):
            ok = False
        if ok and limit.per_owner is not None and owner_id is not None:
            ok = _fresh(state.used.get(sc["owner"], []), limit.per, at) < limit.per_owner
        if ok and limit.per_item is not None:
            ok = _fresh(state.used.get(sc["item"], []), limit.per, at) < limit.per_item
        if ok and limit.per_day is not None:
            ok = state.day_counts.get(pool_id, 0) < limit.per_day
        if ok and reward.budget is not None and pool is not None:
            _, budget, given = pool
            ok = given < (budget if budget is not None else reward.budget)
        if ok and not reward.points and reward.prizes:
            rows = state.prizes.get(pool_id)
            # Not synced yet: nothing was given, so everything is in stock.
            ok = rows is None or any(in_stock(r, state.free) for r in rows)
        out[rid] = ok
    return out


# --- taking the limits of a grant -----------------------------------------------------------------


def take_limits(
    session: Session, ruleset_doc: RulesetDoc, reward: RewardDoc, brand: str, pool_id: int,
    grant_id: int, owner_id: int | None, item_id: int, at: datetime,
) -> str | None:
    """Take every limit's unit for grant ``grant_id``; return the first refusal's reason, or None.

    Run it in a savepoint: after a refusal, what was taken before it must be rolled back.
    """
    conn = session.connection()
    limit = reward.limit
    scopes = _scopes(brand, pool_id, owner_id, item_id)
    if not reward.points and reward.prizes and not _something_left(session, brand, pool_id):
        return "out_of_stock"
    if conn.execute(_TAKE_BUDGET, {"b_pool": pool_id}).rowcount != 1:
        return "budget"
    if limit.per_day is not None:
        day = draws.utc_day(at)
        insert_ignore(session, RewardDayCount.__table__,
                      {"pool_id": pool_id, "day": day, "count": 0})
        if conn.execute(
            _TAKE_DAY, {"b_pool": pool_id, "b_day": day, "b_max": limit.per_day}
        ).rowcount != 1:
            return "per_day"
    if limit.per_item is not None and not _take_slot(
            session, scopes["item"], limit.per_item, limit.per, at, grant_id):
        return "per_item"
    if owner_id is not None:
        if limit.per_owner is not None and not _take_slot(
                session, scopes["owner"], limit.per_owner, limit.per, at, grant_id):
            return "per_owner"
        guard = ruleset_doc.guardrails.rewards_per_owner
        if guard is not None and not _take_slot(
                session, scopes["guard"], guard.max, guard.per, at, grant_id):
            return "rewards_per_owner"
    return None


# The one-statement take lists the candidate slots in the statement: for the small caps journeys
# set (a few per owner or item). A larger cap takes the read-and-try loop, whose cost does not
# grow with the statement's size, and keeps this cache small.
_FIRST_SLOT_MOST = 16


@functools.cache
def _first_slot(insert_of_backend: Any, most: int, reusable: bool) -> Any:
    """The one statement that takes the first slot ``_take_slot``'s loop would try, in one
    round trip: the lowest of ``most`` that is free or, when ``reusable``, was last used at
    ``b_cutoff`` or before. INSERTed when free; when a row holds it (stale, or just taken by a
    concurrent grant), the conflict UPDATEs it only if it is still stale, on the row's newest
    version, as ``_REUSE_SLOT`` does. RETURNING the slot taken: no row, nothing was taken."""
    numbers = union_all(*(select(literal_column(str(n), Integer()).label("n"))
                          for n in range(most))).subquery("numbers")
    held = [_SL.c.scope == bindparam("b_scope"), _SL.c.slot == numbers.c.n]
    if reusable:
        held.append(_SL.c.used_at > bindparam("b_cutoff", type_=UTCDateTime()))
    first = select(func.min(numbers.c.n)).where(~exists().where(*held)).scalar_subquery()
    candidate = select(
        bindparam("b_scope", type_=String()).label("scope"), first.label("slot"),
        bindparam("b_at", type_=UTCDateTime()).label("used_at"),
        bindparam("b_grant", type_=Integer()).label("grant_id"),
    ).subquery("candidate")
    statement = insert_of_backend(_SL).from_select(
        ["scope", "slot", "used_at", "grant_id"],
        # (The WHERE is needed on SQLite too: it would read the upsert's ON as a join's.)
        select(candidate).where(candidate.c.slot.is_not(None)))
    if reusable:
        statement = statement.on_conflict_do_update(
            index_elements=[_SL.c.scope, _SL.c.slot],
            set_={"used_at": statement.excluded.used_at, "grant_id": statement.excluded.grant_id},
            where=_SL.c.used_at <= bindparam("b_cutoff", type_=UTCDateTime()))
    else:
        statement = statement.on_conflict_do_nothing(index_elements=[_SL.c.scope, _SL.c.slot])
    return statement.returning(_SL.c.slot)


def _take_slot(
    session: Session, scope: str, most: int, per: int | None, at: datetime, grant_id: int
) -> bool:
    """Take one of ``most`` slots of ``scope``: a new one, or one last used ``per`` days ago."""
    conn = session.connection()
    cutoff = None if per is None else at - timedelta(days=per)
    # Most grants take the first slot they try; only when that one was lost to a concurrent
    # grant, or none is left, are the slots read and tried one by one below.
    if 0 < most <= _FIRST_SLOT_MOST and conn.execute(
        _first_slot(dialect_insert(conn), most, cutoff is not None),
        {"b_scope": scope, "b_at": at, "b_grant": grant_id, "b_cutoff": cutoff},
    ).first() is not None:
        return True
    used = {row.slot: row.used_at for row in conn.execute(_SLOTS_OF, {"b_scope": scope})}
    for slot in range(most):
        if slot not in used:
            if insert_ignore(session, RewardSlot.__table__,
                             {"scope": scope, "slot": slot, "used_at": at,
                              "grant_id": grant_id}) == 1:
                return True
        elif cutoff is None or used[slot] > cutoff:
            continue  # in use within the period: uses only move forward, so it stays taken
        if cutoff is not None and conn.execute(
            _REUSE_SLOT, {"b_scope": scope, "b_slot": slot, "b_cutoff": cutoff, "b_at": at,
                          "b_grant": grant_id}
        ).rowcount == 1:
            return True
    return False


def _something_left(session: Session, brand: str, pool_id: int) -> bool:
    rows = session.connection().execute(_POOL_PRIZES, {"b_pool": pool_id}).mappings().all()
    free = free_codes(session, brand, {r["code_list"] for r in rows if r["code"] == LIST})
    return any(in_stock(r, free) for r in rows)
