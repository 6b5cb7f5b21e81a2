"""Rewards: pools from the ruleset, availability, idempotent grants, reveals, redemption, codes.

Pure service: functions take a session, the ruleset (or nothing more than they need) and input,
return values or raise DomainErrors; the caller commits. Every limit is held by the database:

- one grant per (tap, reward): a unique key; a retry or double click gets the same grant back;
- per_owner / per_item / the ruleset's ``rewards_per_owner``: numbered slots per scope, taken by
  an INSERT (primary key) or, once ``per`` days have passed since their last use, by a conditional
  UPDATE: N slots used at least ``per`` days apart give exactly "at most N in any ``per`` days";
- per_day and budget: counters advanced by ``UPDATE ... WHERE count < max``;
- stock: ``UPDATE ... WHERE given < stock`` (and a CHECK), single-use codes: ``WHERE grant_id IS
  NULL``; a reveal is decided once: ``UPDATE ... WHERE revealed_at IS NULL``.

A grant that fails a limit undoes what it took by rolling back to a savepoint and raises
``RewardUnavailable``; the caller's transaction stays usable.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from app.core.audit import audit
from app.core.clock import utc
from app.core.db import insert_ignore
from app.core.errors import Conflict, DomainError, Forbidden, Gone, NotFound
from app.journeys.language import PrizeDoc, RewardDoc, RulesetDoc
from app.rewards import draws
from app.rewards.ledger import EARN, post_entry
from app.rewards.models import (
    RewardCode,
    RewardDayCount,
    RewardDraw,
    RewardExposure,
    RewardGrant,
    RewardPool,
    RewardPrize,
    RewardSlot,
)

INSTANT = "instant"
PENDING, PRIZE, CONSOLATION = "pending", "prize", "consolation"
POINTS, NOTHING = "points", "nothing"
TREATMENT, HOLDOUT = "treatment", "holdout"
GENERATED, LIST = "generated", "list"
# Crockford's base32 without I, L, O, U: codes are read aloud and typed at a till.
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class RewardUnavailable(Conflict):
    """The reward cannot be given to this tap; ``reason`` says which limit said no."""

    code = "reward_unavailable"

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or f"This reward cannot be given now ({reason}).")
        self.reason = reason


# --- pools: the ruleset's rewards, live -----------------------------------------------------------


def sync_ruleset(session: Session, ruleset_doc: RulesetDoc, brand_slug: str) -> dict[str, int]:
    """Create or update the pool and prize rows of every reward of the ruleset (idempotent).

    What was already given is kept: a prize's YAML ``stock`` is its total ever, so lowering it
    below what was given leaves it sold out. Prizes no longer in the ruleset are retired (never
    drawn again, kept for history and audits).

    Returns:
        ``{reward id: pool id}``.
    """
    return {rid: _sync_reward(session, brand_slug, reward)
            for rid, reward in ruleset_doc.rewards.items()}


def _sync_reward(session: Session, brand: str, reward: RewardDoc) -> int:
    conn = session.connection()
    insert_ignore(session, RewardPool.__table__,
                  {"brand": brand, "reward_id": reward.id, "mechanic": reward.mechanic,
                   "budget": reward.budget, "given": 0, "points": reward.points,
                   "expires_days": reward.expires})
    pool_id, given = conn.execute(
        select(RewardPool.id, RewardPool.given)
        .where(RewardPool.brand == brand, RewardPool.reward_id == reward.id)
    ).one()
    budget = None if reward.budget is None else max(reward.budget, given)
    conn.execute(
        update(RewardPool).where(RewardPool.id == pool_id)
        .values(mechanic=reward.mechanic, budget=budget, points=reward.points,
                expires_days=reward.expires)
    )
    declared = [(p, False) for p in reward.prizes]
    if reward.consolation is not None and reward.consolation.id not in {
        p.id for p in reward.prizes
    }:
        declared.append((reward.consolation, True))
    for position, (prize, consolation) in enumerate(declared):
        _sync_prize(session, pool_id, prize, consolation, position)
    conn.execute(
        update(RewardPrize)
        .where(RewardPrize.pool_id == pool_id,
               RewardPrize.prize_id.not_in([p.id for p, _ in declared] or [""]))
        .values(retired=True)
    )
    return pool_id


def _sync_prize(
    session: Session, pool_id: int, prize: PrizeDoc, consolation: bool, position: int
) -> None:
    values = {"consolation": consolation, "position": position,
              "weight": 0.0 if consolation else float(prize.weight), "code": prize.code,
              "code_list": prize.code_list, "points": prize.points,
              "min_plays": None if consolation else prize.min_plays, "retired": False}
    insert_ignore(session, RewardPrize.__table__,
                  {"pool_id": pool_id, "prize_id": prize.id, "stock": prize.stock, "given": 0,
                   **values})
    stock: Any = None
    if prize.stock is not None:
        # Never below what was given: the CHECK given <= stock must keep holding.
        pair = (RewardPrize.given, prize.stock)
        sqlite_db = session.connection().dialect.name == "sqlite"
        stock = func.max(*pair) if sqlite_db else func.greatest(*pair)
    session.connection().execute(
        update(RewardPrize)
        .where(RewardPrize.pool_id == pool_id, RewardPrize.prize_id == prize.id)
        .values(stock=stock, **values)
    )


def _pool_id(session: Session, brand: str, reward: RewardDoc) -> int:
    pool_id = session.connection().execute(
        select(RewardPool.id).where(RewardPool.brand == brand, RewardPool.reward_id == reward.id)
    ).scalar()
    return pool_id if pool_id is not None else _sync_reward(session, brand, reward)


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
    session: Session, ruleset_doc: RulesetDoc, brand: str, reward_id: str, *, tap_event_id: int,
    owner_id: int | None, item_id: int, at: datetime,
) -> str:
    """Record that this tap's journey offered the reward (once per tap); return the cohort.

    ``grant`` calls it; call it yourself when a journey offering the reward won but no grant
    was attempted. Returns ``"holdout"`` or ``"treatment"``.

    Raises:
        NotFound: the ruleset has no such reward.
    """
    reward = _reward(ruleset_doc, reward_id)
    cohort = HOLDOUT if in_holdout(reward, brand, owner_id, item_id) else TREATMENT
    insert_ignore(session, RewardExposure.__table__,
                  {"pool_id": _pool_id(session, brand, reward), "tap_event_id": tap_event_id,
                   "owner_id": owner_id, "item_id": item_id, "cohort": cohort, "at": utc(at)})
    return cohort


# --- availability ---------------------------------------------------------------------------------


def _scopes(brand: str, pool_id: int, owner_id: int | None, item_id: int) -> dict[str, str]:
    scopes = {"item": f"item:{pool_id}:{item_id}"}
    if owner_id is not None:
        scopes["owner"] = f"owner:{pool_id}:{owner_id}"
        scopes["guard"] = f"guard:{brand}:{owner_id}"
    return scopes


def _needs_owner(reward: RewardDoc) -> bool:
    # Points go to an owner's ledger, and a per-owner limit needs someone to count.
    return bool(
        reward.points
        or reward.limit.per_owner is not None
        or any(p.points for p in reward.prizes)
        or (reward.consolation is not None and reward.consolation.points)
    )


def _fresh(used: Iterable[datetime], per: int | None, at: datetime) -> int:
    if per is None:
        return sum(1 for _ in used)
    cutoff = at - timedelta(days=per)
    return sum(1 for u in used if utc(u) > cutoff)


def availability(
    session: Session, ruleset_doc: RulesetDoc, brand: str, owner_id: int | None, item_id: int,
    at: datetime,
) -> dict[str, bool]:
    """Return, for each reward of the ruleset, whether it can be granted now to this owner/item.

    Checks holdout, per_owner, per_item (within ``per``), per_day, budget, the ruleset's
    ``rewards_per_owner``, and that something is left to give (a prize in stock, a consolation, or
    points). Rewards that give points or have ``per_owner`` need a known owner. A read: a grant
    re-checks every limit atomically.
    """
    rewards = ruleset_doc.rewards
    if not rewards:
        return {}
    at = utc(at)
    conn = session.connection()
    pools = {row.reward_id: row for row in conn.execute(
        select(RewardPool.id, RewardPool.reward_id, RewardPool.budget, RewardPool.given)
        .where(RewardPool.brand == brand, RewardPool.reward_id.in_(list(rewards)))
    )}
    pool_ids = [p.id for p in pools.values()]
    prizes: dict[int, list[Any]] = {}
    day_counts: dict[int, int] = {}
    if pool_ids:
        for row in conn.execute(select(RewardPrize).where(
                RewardPrize.pool_id.in_(pool_ids), RewardPrize.retired.is_(False))).mappings():
            prizes.setdefault(row["pool_id"], []).append(row)
        day_counts = dict(conn.execute(select(RewardDayCount.pool_id, RewardDayCount.count).where(
            RewardDayCount.pool_id.in_(pool_ids), RewardDayCount.day == draws.utc_day(at))).all())
    scopes: set[str] = set()
    for pool in pools.values():
        scopes.update(_scopes(brand, pool.id, owner_id, item_id).values())
    scopes.update(_scopes(brand, 0, owner_id, item_id).values())
    used: dict[str, list[datetime]] = {}
    for scope, used_at in conn.execute(
            select(RewardSlot.scope, RewardSlot.used_at).where(RewardSlot.scope.in_(scopes))):
        used.setdefault(scope, []).append(used_at)
    free_codes = dict(conn.execute(
        select(RewardCode.list_name, func.count())
        .where(RewardCode.brand == brand, RewardCode.grant_id.is_(None))
        .group_by(RewardCode.list_name)
    ).all())

    guard = ruleset_doc.guardrails.rewards_per_owner
    guard_ok = True
    if guard is not None and owner_id is not None:
        guard_ok = _fresh(used.get(f"guard:{brand}:{owner_id}", []), guard.per, at) < guard.max

    out: dict[str, bool] = {}
    for rid, reward in rewards.items():
        pool = pools.get(rid)
        pool_id = pool.id if pool is not None else 0
        sc = _scopes(brand, pool_id, owner_id, item_id)
        limit = reward.limit
        ok = guard_ok or owner_id is None
        if owner_id is None and _needs_owner(reward):
            ok = False
        if in_holdout(reward, brand, owner_id, item_id):
            ok = False
        if ok and limit.per_owner is not None and owner_id is not None:
            ok = _fresh(used.get(sc["owner"], []), limit.per, at) < limit.per_owner
        if ok and limit.per_item is not None:
            ok = _fresh(used.get(sc["item"], []), limit.per, at) < limit.per_item
        if ok and limit.per_day is not None:
            ok = day_counts.get(pool_id, 0) < limit.per_day
        if ok and reward.budget is not None and pool is not None:
            ok = pool.given < (pool.budget if pool.budget is not None else reward.budget)
        if ok and not reward.points and reward.prizes:
            rows = prizes.get(pool_id)
            # Not synced yet: nothing was given, so everything is in stock.
            ok = rows is None or any(_in_stock(r, free_codes) for r in rows)
        out[rid] = ok
    return out


def _in_stock(row: Mapping[str, Any], free_codes: Mapping[str, int]) -> bool:
    if row["stock"] is not None and row["given"] >= row["stock"]:
        return False
    return not (row["code"] == LIST and free_codes.get(row["code_list"], 0) <= 0)


# --- grants ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrantView:
    """A grant as the page shows it. ``outcome`` is ``pending`` until revealed, then ``prize``,
    ``consolation``, ``points`` or ``nothing``; ``points`` are those posted to the ledger."""

    id: int
    brand: str
    reward_id: str
    mechanic: str
    journey: str
    token: str
    owner_id: int | None
    item_id: int
    created_at: datetime
    outcome: str
    prize_id: str | None
    points: int
    code: str | None
    expires_at: datetime | None
    revealed_at: datetime | None
    redeemed_at: datetime | None
    created: bool = field(default=False, compare=False)  # made by this call (not a retry)

    @property
    def pending(self) -> bool:
        return self.outcome == PENDING


_GRANT_COLUMNS = (
    RewardGrant.id, RewardPool.brand, RewardPool.reward_id, RewardPool.mechanic,
    RewardGrant.journey, RewardGrant.token, RewardGrant.owner_id, RewardGrant.item_id,
    RewardGrant.created_at, RewardGrant.outcome, RewardGrant.prize_id, RewardGrant.points,
    RewardGrant.code, RewardGrant.expires_at, RewardGrant.revealed_at, RewardGrant.redeemed_at,
)


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else utc(moment)


def _view(conn: Connection, where: Any, *, created: bool = False) -> GrantView | None:
    row = conn.execute(
        select(*_GRANT_COLUMNS).join(RewardPool, RewardPool.id == RewardGrant.pool_id).where(where)
    ).first()
    if row is None:
        return None
    values = list(row)
    for i in (8, 13, 14, 15):
        values[i] = _aware(values[i])
    return GrantView(*values, created=created)


def _reward(ruleset_doc: RulesetDoc, reward_id: str) -> RewardDoc:
    reward = ruleset_doc.rewards.get(reward_id)
    if reward is None:
        raise NotFound(f"The ruleset has no reward {reward_id!r}.")
    return reward


def grant(
    session: Session,
    ruleset_doc: RulesetDoc,
    brand: str,
    reward_id: str,
    *,
    tap_event_id: int,
    owner_id: int | None,
    item_id: int,
    journey: str,
    at: datetime,
) -> GrantView:
    """Give reward ``reward_id`` for tap ``tap_event_id``, once: a retry returns the same grant.

    Instant rewards are settled at once (points posted, prize drawn); reveal mechanics make a
    pending grant whose ``token`` the reveal link carries. The token is stored as is: it only lets
    the grant's own owner (``reveal`` checks it) see an outcome already fixed by the day's seed,
    and the row beside it holds the prize code in clear anyway (the till must look codes up), so
    hashing it would protect nothing; storing it lets a retry show the same link.

    Records the tap's exposure (treatment or holdout).

    Raises:
        NotFound: the ruleset has no such reward.
        RewardUnavailable: held out, a limit, the budget or the guardrail says no, nothing is left
            to give, or the reward needs an owner and there is none. Nothing was taken; the
            transaction stays usable (commit it to keep the exposure record).
    """
    reward = _reward(ruleset_doc, reward_id)
    at = utc(at)
    conn = session.connection()
    pool_id = _pool_id(session, brand, reward)
    same_tap = (RewardGrant.tap_event_id == tap_event_id) & (RewardGrant.pool_id == pool_id)
    existing = _view(conn, same_tap)
    if existing is not None:
        return existing
    if owner_id is None and _needs_owner(reward):
        raise RewardUnavailable("owner_required")
    cohort = record_exposure(session, ruleset_doc, brand, reward_id, tap_event_id=tap_event_id,
                             owner_id=owner_id, item_id=item_id, at=at)
    if cohort == HOLDOUT:
        raise RewardUnavailable("holdout")

    savepoint = session.begin_nested()
    grant_id = insert_ignore(session, RewardGrant.__table__, {
        "pool_id": pool_id, "tap_event_id": tap_event_id, "owner_id": owner_id,
        "item_id": item_id, "journey": journey, "token": secrets.token_urlsafe(32),
        "created_at": at, "revealed_at": None, "outcome": PENDING, "prize_id": None,
        "points": 0, "code": None, "expires_at": None, "redeemed_at": None,
        "redeemed_shop": None,
    }, returning=RewardGrant.id)
    if grant_id is None:
        # A concurrent call for the same tap won (its grant is committed: the insert waited).
        savepoint.commit()
        view = _view(conn, same_tap)
        assert view is not None
        return view
    refusal = _take_limits(session, ruleset_doc, reward, brand, pool_id, grant_id, owner_id,
                           item_id, at)
    if refusal is not None:
        savepoint.rollback()
        raise RewardUnavailable(refusal)
    savepoint.commit()
    if reward.mechanic == INSTANT:
        _settle(session, grant_id, at)
    view = _view(conn, RewardGrant.id == grant_id, created=True)
    assert view is not None
    return view


def _take_limits(
    session: Session, ruleset_doc: RulesetDoc, reward: RewardDoc, brand: str, pool_id: int,
    grant_id: int, owner_id: int | None, item_id: int, at: datetime,
) -> str | None:
    """Take every limit's unit for this grant; return the first refusal's reason, or None."""
    conn = session.connection()
    limit = reward.limit
    scopes = _scopes(brand, pool_id, owner_id, item_id)
    if not reward.points and reward.prizes and not _something_left(conn, brand, pool_id):
        return "out_of_stock"
    if conn.execute(
        update(RewardPool)
        .where(RewardPool.id == pool_id,
               or_(RewardPool.budget.is_(None), RewardPool.given < RewardPool.budget))
        .values(given=RewardPool.given + 1)
    ).rowcount != 1:
        return "budget"
    if limit.per_day is not None:
        day = draws.utc_day(at)
        insert_ignore(session, RewardDayCount.__table__,
                      {"pool_id": pool_id, "day": day, "count": 0})
        if conn.execute(
            update(RewardDayCount)
            .where(RewardDayCount.pool_id == pool_id, RewardDayCount.day == day,
                   RewardDayCount.count < limit.per_day)
            .values(count=RewardDayCount.count + 1)
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


def _take_slot(
    session: Session, scope: str, most: int, per: int | None, at: datetime, grant_id: int
) -> bool:
    """Take one of ``most`` slots of ``scope``: a new one, or one last used ``per`` days ago."""
    conn = session.connection()
    used = dict(conn.execute(
        select(RewardSlot.slot, RewardSlot.used_at).where(RewardSlot.scope == scope)
    ).all())
    cutoff = None if per is None else at - timedelta(days=per)
    for slot in range(most):
        if slot not in used:
            if insert_ignore(session, RewardSlot.__table__,
                             {"scope": scope, "slot": slot, "used_at": at,
                              "grant_id": grant_id}) == 1:
                return True
        elif cutoff is None or utc(used[slot]) > cutoff:
            continue  # in use within the period: uses only move forward, so it stays taken
        if cutoff is not None and conn.execute(
            update(RewardSlot)
            .where(RewardSlot.scope == scope, RewardSlot.slot == slot,
                   RewardSlot.used_at <= cutoff)
            .values(used_at=at, grant_id=grant_id)
        ).rowcount == 1:
            return True
    return False


def _something_left(conn: Connection, brand: str, pool_id: int) -> bool:
    rows = conn.execute(select(RewardPrize).where(
        RewardPrize.pool_id == pool_id, RewardPrize.retired.is_(False))).mappings().all()
    lists = {r["code_list"] for r in rows if r["code"] == LIST}
    free = _free_codes(conn, brand, lists)
    return any(_in_stock(r, free) for r in rows)


def _free_codes(conn: Connection, brand: str, lists: set[str]) -> dict[str, int]:
    if not lists:
        return {}
    return dict(conn.execute(
        select(RewardCode.list_name, func.count())
        .where(RewardCode.brand == brand, RewardCode.list_name.in_(lists),
               RewardCode.grant_id.is_(None))
        .group_by(RewardCode.list_name)
    ).all())


# --- reveal: deciding the outcome once ------------------------------------------------------------


def reveal(
    session: Session, token_or_grant_id: str | int, owner_id: int | None, at: datetime
) -> GrantView:
    """Decide a pending grant's outcome now, store it, and return it; later calls return the same.

    Raises:
        NotFound: no grant has that token (or id).
        Forbidden: the grant belongs to another owner.
    """
    at = utc(at)
    conn = session.connection()
    where = (RewardGrant.id == token_or_grant_id if isinstance(token_or_grant_id, int)
             else RewardGrant.token == str(token_or_grant_id))
    view = _view(conn, where)
    if view is None:
        raise NotFound("There is no such reward.")
    if view.owner_id is not None and view.owner_id != owner_id:
        raise Forbidden("This reward belongs to someone else.")
    if view.outcome != PENDING:
        return view
    # The one reveal that sets revealed_at decides; a concurrent one waits for it, finds the row
    # revealed, and reads the outcome it stored.
    if conn.execute(
        update(RewardGrant)
        .where(RewardGrant.id == view.id, RewardGrant.revealed_at.is_(None))
        .values(revealed_at=at)
    ).rowcount == 1:
        _settle(session, view.id, at)
    settled = _view(conn, RewardGrant.id == view.id)
    assert settled is not None
    return settled


def new_code() -> str:
    """Return a random prize code like ``AT-7QK2-M9XD-4RTB`` (60 random bits)."""
    body = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))
    return f"AT-{body[:4]}-{body[4:8]}-{body[8:]}"


def _settle(session: Session, grant_id: int, at: datetime) -> None:
    """Draw (if the reward has prizes), take stock and code, post points, store the outcome."""
    conn = session.connection()
    g = conn.execute(
        select(RewardGrant.pool_id, RewardGrant.owner_id, RewardPool.brand, RewardPool.points,
               RewardPool.expires_days, RewardPool.given)
        .join(RewardPool, RewardPool.id == RewardGrant.pool_id)
        .where(RewardGrant.id == grant_id)
    ).one()
    pool_id, owner_id, brand, base_points, expires_days, plays = g
    rows = conn.execute(
        select(RewardPrize).where(RewardPrize.pool_id == pool_id, RewardPrize.retired.is_(False))
        .order_by(RewardPrize.position)
    ).mappings().all()
    prizes = [r for r in rows if not r["consolation"]]
    consolation = next((r for r in rows if r["consolation"]), None)
    points = base_points or 0
    outcome, prize_id, code = (POINTS if points else NOTHING), None, None
    if prizes:
        free = _free_codes(conn, brand, {r["code_list"] for r in prizes if r["code"] == LIST})
        # A prize with ``min_plays`` joins the draw once the pool has had that many plays
        # (grants); the candidates, logged with the draw, say which prizes were in it.
        candidates = [[r["prize_id"], r["weight"]] for r in prizes if _in_stock(r, free)
                      and (r["min_plays"] is None or plays >= r["min_plays"])]
        day = draws.utc_day(at)
        _seed_id, seed = draws.seed_for(session, pool_id, day, at)
        message = draws.draw_message(grant_id)
        value = draws.draw_value(seed, message)
        picked = draws.pick(value, candidates)
        won = None
        if picked is not None:
            row = next(r for r in prizes if r["prize_id"] == picked)
            won = _take_prize(session, brand, row, grant_id)
        if won is not None:
            outcome, prize_id, code = PRIZE, picked, won[0]
            points += won[1]
        elif consolation is not None and (
                taken := _take_prize(session, brand, consolation, grant_id)) is not None:
            outcome, prize_id, code = CONSOLATION, consolation["prize_id"], taken[0]
            points += taken[1]
        else:
            outcome = NOTHING if not points else POINTS
        conn.execute(insert(RewardDraw.__table__), {
            "grant_id": grant_id, "pool_id": pool_id, "day": day, "at": at, "message": message,
            "value_hex": value, "candidates": candidates, "picked": picked,
            "stock_taken": won is not None, "outcome_prize": prize_id,
        })
    if points and owner_id is not None:
        post_entry(session, owner_id, EARN, points, "reward", grant_id, at)
    expires = (at + timedelta(days=expires_days)
               if expires_days and outcome in (PRIZE, CONSOLATION) else None)
    conn.execute(
        update(RewardGrant).where(RewardGrant.id == grant_id)
        .values(outcome=outcome, prize_id=prize_id, points=points, code=code, expires_at=expires,
                revealed_at=at)
    )


def _take_prize(
    session: Session, brand: str, row: Mapping[str, Any], grant_id: int
) -> tuple[str | None, int] | None:
    """Take one unit of a prize; return ``(code or None, its points)``, or None when gone."""
    conn = session.connection()
    prize = RewardPrize
    # Only finite stock is counted here: an unlimited prize (a consolation, usually) needs no
    # counter, and updating one would make every reveal of the pool queue on that row.
    if row["stock"] is not None and conn.execute(
        update(prize)
        .where(prize.id == row["id"], prize.given < prize.stock)
        .values(given=prize.given + 1)
    ).rowcount != 1:
        return None
    code: str | None = None
    if row["code"] == GENERATED:
        code = new_code()
    elif row["code"] == LIST:
        code = _take_code(session, brand, row["code_list"], grant_id)
        if code is None:  # the list ran dry under us: give the unit back
            if row["stock"] is not None:
                conn.execute(update(prize).where(prize.id == row["id"])
                             .values(given=prize.given - 1))
            return None
    return code, row["points"] or 0


def _take_code(session: Session, brand: str, list_name: str, grant_id: int) -> str | None:
    conn = session.connection()
    for _ in range(20):
        query = (select(RewardCode.id)
                 .where(RewardCode.brand == brand, RewardCode.list_name == list_name,
                        RewardCode.grant_id.is_(None))
                 .order_by(RewardCode.id).limit(1))
        if conn.dialect.name == "postgresql":
            # Concurrent reveals skip each other's rows instead of queuing for the same one.
            query = query.with_for_update(skip_locked=True)
        code_id = conn.execute(query).scalar()
        if code_id is None:
            return None
        code = conn.execute(
            update(RewardCode).where(RewardCode.id == code_id, RewardCode.grant_id.is_(None))
            .values(grant_id=grant_id).returning(RewardCode.code)
        ).scalar_one_or_none()
        if code is not None:
            return code
    return None


# --- codes and redemption -------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    added: int
    skipped: int  # blank, duplicate, or already used as a code anywhere


def import_codes(
    session: Session, brand: str, list_name: str, codes: Iterable[str], at: datetime | None = None
) -> ImportResult:
    """Add single-use codes to the brand's list ``list_name``; return how many were added.

    A code already in any list, or already given as a prize, is skipped: a code at the till
    must name exactly one prize.

    Raises:
        DomainError: the list name is empty or too long.
    """
    if not list_name or len(list_name) > 64:
        raise DomainError("a code list needs a name of at most 64 characters")
    at = utc(at or datetime.now().astimezone())
    conn = session.connection()
    added = skipped = 0
    seen: set[str] = set()
    for raw in codes:
        code = raw.strip()
        if not code or len(code) > 64 or code in seen:
            skipped += 1
            continue
        seen.add(code)
        taken = conn.execute(select(RewardCode.id).where(RewardCode.code == code)).first() or \
            conn.execute(select(RewardGrant.id).where(RewardGrant.code == code)).first()
        if taken is not None:
            skipped += 1
            continue
        added += insert_ignore(session, RewardCode.__table__,
                               {"brand": brand, "list_name": list_name, "code": code,
                                "imported_at": at, "grant_id": None})
    audit(session, at, "admin", "reward_codes_import", brand=brand, list=list_name, added=added,
          skipped=skipped)
    return ImportResult(added, skipped)


@dataclass(frozen=True)
class RedemptionView:
    code: str
    brand: str
    reward_id: str
    prize_id: str | None
    expires_at: datetime | None
    redeemed_at: datetime | None
    shop: str | None
    status: str  # valid | redeemed | expired


def _redemption(conn: Connection, code: str, at: datetime) -> RedemptionView | None:
    row = conn.execute(
        select(RewardGrant.code, RewardPool.brand, RewardPool.reward_id, RewardGrant.prize_id,
               RewardGrant.expires_at, RewardGrant.redeemed_at, RewardGrant.redeemed_shop)
        .join(RewardPool, RewardPool.id == RewardGrant.pool_id)
        .where(RewardGrant.code == code)
    ).first()
    if row is None:
        return None
    expires, redeemed = _aware(row[4]), _aware(row[5])
    status = ("redeemed" if redeemed is not None
              else "expired" if expires is not None and expires <= at else "valid")
    return RedemptionView(row[0], row[1], row[2], row[3], expires, redeemed, row[6], status)


def check_code(session: Session, code: str, at: datetime) -> RedemptionView:
    """Return what a code is worth now (``status`` valid, redeemed or expired), redeeming nothing.

    Raises:
        NotFound: no prize has that code.
    """
    view = _redemption(session.connection(), code.strip(), utc(at))
    if view is None:
        raise NotFound("This code is not known.")
    return view


def redeem(session: Session, code: str, at: datetime, *, shop: str) -> RedemptionView:
    """Redeem a prize code once (the shop or till's call); return the redeemed prize.

    Raises:
        NotFound: no prize has that code (404).
        Conflict: it was already redeemed (409).
        Gone: it expired (410).
    """
    at = utc(at)
    code = code.strip()
    conn = session.connection()
    done = conn.execute(
        update(RewardGrant)
        .where(RewardGrant.code == code, RewardGrant.redeemed_at.is_(None),
               or_(RewardGrant.expires_at.is_(None), RewardGrant.expires_at > at))
        .values(redeemed_at=at, redeemed_shop=shop[:64])
        .returning(RewardGrant.id, RewardGrant.item_id, RewardGrant.owner_id)
    ).first()
    view = _redemption(conn, code, at)
    if view is None:
        raise NotFound("This code is not known.")
    if done is None:
        if view.status == "redeemed":
            raise Conflict(f"This code was already redeemed on {view.redeemed_at:%Y-%m-%d}.")
        raise Gone("This code has expired.")
    audit(session, at, "shop", "reward_redeem", item_id=done[1], owner_id=done[2],
          grant_id=done[0], shop=shop[:64])
    return view


# --- terms ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrizeTerms:
    id: str
    odds_percent: float | None  # of each draw, at full stock; None for the consolation
    stock: int | None  # total; None: unlimited
    left: int | None
    points: int | None
    code: str | None
    min_plays: int | None = None


@dataclass(frozen=True)
class RewardTerms:
    reward_id: str
    mechanic: str
    points: int | None
    prizes: list[PrizeTerms]
    consolation: PrizeTerms | None
    per_owner: int | None
    per_item: int | None
    per_day: int | None
    per_days: int | None
    budget: int | None
    budget_left: int | None
    expires_days: int | None
    holdout_percent: float
    commitments: list[draws.Commitment]


def terms(
    session: Session, ruleset_doc: RulesetDoc, brand: str, at: datetime | None = None
) -> list[RewardTerms]:
    """Return the public terms of every reward: odds, stock left, limits, expiry, commitments."""
    at = utc(at or datetime.now().astimezone())
    conn = session.connection()
    given: dict[tuple[str, str], int] = {
        (rid, pid): n for rid, pid, n in conn.execute(
            select(RewardPool.reward_id, RewardPrize.prize_id, RewardPrize.given)
            .join(RewardPool, RewardPool.id == RewardPrize.pool_id)
            .where(RewardPool.brand == brand))
    }
    pools_given = dict(conn.execute(
        select(RewardPool.reward_id, RewardPool.given).where(RewardPool.brand == brand)).all())
    out: list[RewardTerms] = []
    for rid, reward in ruleset_doc.rewards.items():
        total = sum(p.weight for p in reward.prizes) or 1

        def prize_terms(p: PrizeDoc, odds: float | None, rid: str = rid) -> PrizeTerms:
            left = None if p.stock is None else max(0, p.stock - given.get((rid, p.id), 0))
            code = p.code if p.code != LIST else "list"
            return PrizeTerms(p.id, odds, p.stock, left, p.points, code, p.min_plays)

        out.append(RewardTerms(
            reward_id=rid, mechanic=reward.mechanic, points=reward.points,
            prizes=[prize_terms(p, round(100 * p.weight / total, 2)) for p in reward.prizes],
            consolation=(prize_terms(reward.consolation, None)
                         if reward.consolation is not None else None),
            per_owner=reward.limit.per_owner, per_item=reward.limit.per_item,
            per_day=reward.limit.per_day, per_days=reward.limit.per, budget=reward.budget,
            budget_left=(None if reward.budget is None
                         else max(0, reward.budget - pools_given.get(rid, 0))),
            expires_days=reward.expires, holdout_percent=float(reward.holdout),
            commitments=draws.commitments(session, brand, rid, at)[:7],
        ))
    return out
