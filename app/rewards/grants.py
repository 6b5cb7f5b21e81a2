"""Grants: a reward given for one tap, and its reveal, which decides and stores the outcome once.

Pure service: functions take a session, the ruleset (or nothing more than they need) and input,
return values or raise DomainErrors; the caller commits. What holds:

- one grant per (tap, reward): a unique key; a retry or double click gets the same grant back;
- every limit (``app.rewards.limits``) is taken when the grant is made; a grant that fails one
  undoes what it took by rolling back to a savepoint and raises ``RewardUnavailable``, and the
  caller's transaction stays usable;
- stock: ``UPDATE ... WHERE given < stock`` (and a CHECK), single-use codes: ``WHERE grant_id IS
  NULL``; a reveal is decided once: ``UPDATE ... WHERE revealed_at IS NULL``;
- a reward that ``requires`` an action is revealed only once the owner has done it, checked in
  the reveal's transaction before anything is drawn (``app.rewards.actions``).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    RowMapping,
    and_,
    bindparam,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from app.core.clock import utc
from app.core.db import insert_ignore
from app.core.errors import N_, Forbidden, NotFound
from app.journeys.language import RulesetDoc
from app.rewards import actions, draws
from app.rewards.codes import GENERATED, LIST, free_codes, new_code, take_code
from app.rewards.ledger import EARN, post_entry
from app.rewards.limits import (
    HOLDOUT,
    RewardUnavailable,
    expose,
    in_stock,
    needs_owner,
    take_limits,
)
from app.rewards.models import RewardDraw, RewardGrant, RewardPool, RewardPrize, RewardSeed
from app.rewards.pools import find_reward, pool_id_for

INSTANT = "instant"
PENDING, PRIZE, CONSOLATION = "pending", "prize", "consolation"
POINTS, NOTHING = "points", "nothing"


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
    message_key: str | None = None  # the scheduled message that carried it (no tap behind it)
    ledger_entry_id: int | None = None  # the points that bought it (a catalogue item; no tap)
    requires: tuple[str, ...] = ()  # what the owner must do before the reveal (the ruleset's)
    # Of those, what was still not done when the view was made (filled by ``with_missing``).
    missing: tuple[str, ...] = ()

    @property
    def pending(self) -> bool:
        return self.outcome == PENDING

    @property
    def locked(self) -> bool:
        """Pending, and waiting for the owner to do something first."""
        return self.pending and bool(self.missing)

    @property
    def instruction(self) -> str:
        """What the owner must do to reveal it (one sentence)."""
        return actions.instruction(self.missing)


_GRANT_COLUMNS = (
    RewardGrant.id, RewardPool.brand, RewardPool.reward_id, RewardPool.mechanic,
    RewardGrant.journey, RewardGrant.token, RewardGrant.owner_id, RewardGrant.item_id,
    RewardGrant.created_at, RewardGrant.outcome, RewardGrant.prize_id, RewardGrant.points,
    RewardGrant.code, RewardGrant.expires_at, RewardGrant.revealed_at, RewardGrant.redeemed_at,
    RewardGrant.message_key, RewardGrant.ledger_entry_id, RewardPool.requires,
)


def _view(
    session: Session, where: ColumnElement[bool], *, created: bool = False
) -> GrantView | None:
    row = session.connection().execute(
        select(*_GRANT_COLUMNS).join(RewardPool, RewardPool.id == RewardGrant.pool_id).where(where)
    ).first()
    return _as_view(row, created)


def _view_of(
    session: Session, key: str, params: dict[str, Any], *, created: bool = False
) -> GrantView | None:
    """The grant that the prebuilt query ``_VIEW_BY[key]`` finds with ``params``."""
    return _as_view(session.connection().execute(_VIEW_BY[key], params).first(), created)


def _as_view(row: Any, created: bool) -> GrantView | None:
    if row is None:
        return None
    return GrantView(
        id=row.id, brand=row.brand, reward_id=row.reward_id, mechanic=row.mechanic,
        journey=row.journey, token=row.token, owner_id=row.owner_id, item_id=row.item_id,
        created_at=row.created_at, outcome=row.outcome, prize_id=row.prize_id,
        points=row.points, code=row.code, expires_at=row.expires_at,
        revealed_at=row.revealed_at, redeemed_at=row.redeemed_at, created=created,
        message_key=row.message_key, ledger_entry_id=row.ledger_entry_id,
        requires=actions.parse(row.requires),
    )


_VIEW_SOURCE = select(*_GRANT_COLUMNS).join(RewardPool, RewardPool.id == RewardGrant.pool_id)
# The grant views of the hot paths, built once (see ``_reveal_fast``).
_VIEW_BY = {
    "id": _VIEW_SOURCE.where(RewardGrant.id == bindparam("b_id")),
    "tap": _VIEW_SOURCE.where(RewardGrant.tap_event_id == bindparam("b_cause"),
                              RewardGrant.pool_id == bindparam("b_pool")),
    "message": _VIEW_SOURCE.where(RewardGrant.message_key == bindparam("b_cause"),
                                  RewardGrant.pool_id == bindparam("b_pool")),
}


def with_missing(session: Session, view: GrantView) -> GrantView:
    """Return ``view`` with ``missing`` filled: what its owner has still to do (pending only)."""
    if not view.pending or not view.requires:
        return view
    return replace(view, missing=actions.missing(session, view.requires, view.owner_id,
                                                 view.item_id))


def waiting_grant(
    session: Session, owner_id: int | None, item_id: int, reward_id: str | None = None
) -> GrantView | None:
    """Return the owner's newest grant for ``item_id`` still waiting to be revealed, of reward
    ``reward_id`` (None: of any reward that requires an action), with ``missing`` filled; None
    when there is none or no owner. A grant's item fixes its brand."""
    if owner_id is None:
        return None
    query = (
        select(RewardGrant.id).join(RewardPool, RewardPool.id == RewardGrant.pool_id)
        .where(RewardGrant.owner_id == owner_id, RewardGrant.item_id == item_id,
               RewardGrant.outcome == PENDING)
        .order_by(RewardGrant.id.desc()).limit(1)
    )
    query = query.where(RewardPool.requires.is_not(None) if reward_id is None
                        else RewardPool.reward_id == reward_id)
    newest = session.connection().execute(query).scalar()
    view = None if newest is None else _view(session, RewardGrant.id == newest)
    return None if view is None else with_missing(session, view)


def get_grant(session: Session, token: str) -> GrantView:
    """Return the grant whose reveal link carries ``token``.

    Raises:
        NotFound: no grant has that token.
    """
    view = _view(session, RewardGrant.token == token)
    if view is None:
        raise NotFound(N_("This reward link is not valid."))
    return view


def grant(
    session: Session,
    ruleset_doc: RulesetDoc,
    brand: str,
    reward_id: str,
    *,
    tap_event_id: int | None,
    owner_id: int | None,
    item_id: int,
    journey: str,
    at: datetime,
    message_key: str | None = None,
) -> GrantView:
    """Give reward ``reward_id`` for tap ``tap_event_id``, once: a retry returns the same grant.

    A scheduled message's reward has no tap: it is given for ``message_key`` instead (pass
    ``tap_event_id=None``), once per message, so a copy re-sent after a crash gets the same grant.

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
    reward = find_reward(ruleset_doc, reward_id)
    at = utc(at)
    # The pool, with its prizes and the day's seed: what settling an instant grant needs, read
    # with its id (None: not synced yet). A pool with prizes is read again to settle (below).
    pool_rows: Sequence[Any] | None = session.connection().execute(
        _POOL_BY_KEY, {"b_brand": brand, "b_reward": reward.id,
                       "b_day": draws.utc_day(at)}).all() or None
    pool_id = pool_rows[0].p_id if pool_rows else pool_id_for(session, brand, reward)
    if (tap_event_id is None) == (message_key is None):
        raise ValueError("a grant is for a tap or for a message, exactly one")
    same_key = "tap" if message_key is None else "message"
    same = {"b_cause": tap_event_id if message_key is None else message_key, "b_pool": pool_id}
    # A retry is not looked for first: most grants are new, and the grant's unique key finds a
    # retry below. Only a retry refused before it gets there looks for its grant here.
    if owner_id is None and needs_owner(reward):
        return _given_before(session, same_key, same, "owner_required")
    cohort = expose(session, reward, brand, pool_id, tap_event_id=tap_event_id,
                    owner_id=owner_id, item_id=item_id, at=at, message_key=message_key)
    if cohort == HOLDOUT:
        return _given_before(session, same_key, same, "holdout")

    savepoint = session.begin_nested()
    values = {
        "pool_id": pool_id, "tap_event_id": tap_event_id, "message_key": message_key,
        "owner_id": owner_id,
        "item_id": item_id, "journey": journey, "token": secrets.token_urlsafe(32),
        "created_at": at, "revealed_at": None, "outcome": PENDING, "prize_id": None,
        "points": 0, "code": None, "expires_at": None, "redeemed_at": None,
        "redeemed_shop": None, "ledger_entry_id": None,
    }
    grant_id = insert_ignore(session, RewardGrant.__table__, values,
                             returning=RewardGrant.__table__.c.id)
    if grant_id is None:
        # A concurrent call for the same tap or message won (its grant is committed: the insert
        # waited).
        savepoint.commit()
        view = _view_of(session, same_key, same)
        assert view is not None
        return view
    refusal = take_limits(session, ruleset_doc, reward, brand, pool_id, grant_id, owner_id,
                          item_id, at)
    if refusal is not None:
        savepoint.rollback()
        raise RewardUnavailable(refusal)
    savepoint.commit()
    if reward.mechanic == INSTANT:
        # Settled from the row just inserted (its values are known here, not read back); the
        # settlement returns the view of what it stored. A pool with prizes is read now, after
        # its limits were taken: its draw counts this grant among the plays (``min_plays``).
        if pool_rows is None or pool_rows[0].z_id is not None:
            pool_rows = session.connection().execute(
                _READ_POOL, {"b_pool": pool_id, "b_day": draws.utc_day(at)}).all()
        settled = _settle_claimed(session, SimpleNamespace(id=grant_id, **values), pool_rows, at)
        return replace(settled, created=True)
    view = _view_of(session, "id", {"b_id": grant_id}, created=True)
    assert view is not None
    return view


def _given_before(
    session: Session, key: str, params: dict[str, Any], refusal: str
) -> GrantView:
    """Return the grant already given for this tap or message (a retry's); else raise.

    Raises:
        RewardUnavailable: no grant was given before; ``refusal`` is the reason.
    """
    existing = _view_of(session, key, params)
    if existing is None:
        raise RewardUnavailable(refusal)
    return existing


# --- reveal: deciding the outcome once ------------------------------------------------------------


def reveal(
    session: Session, token_or_grant_id: str | int, owner_id: int | None, at: datetime
) -> GrantView:
    """Decide a pending grant's outcome now, store it, and return it; later calls return the same.

    Raises:
        NotFound: no grant has that token (or id).
        Forbidden: the grant belongs to another owner.
        ActionRequired: the reward ``requires`` something the owner has not done yet; nothing
            was drawn or taken.
    """
    at = utc(at)
    fast = _reveal_fast(session, token_or_grant_id, owner_id, at)
    if fast is not None:
        return fast
    # Not claimed by the fast path: no such grant, another owner's, already revealed, or a
    # reward that ``requires`` something. Each is answered below, as it always was.
    where = (RewardGrant.id == token_or_grant_id if isinstance(token_or_grant_id, int)
             else RewardGrant.token == str(token_or_grant_id))
    view = _view(session, where)
    if view is None:
        raise NotFound(N_("There is no such reward."))
    if view.owner_id is not None and view.owner_id != owner_id:
        raise Forbidden(N_("This reward belongs to someone else."))
    if view.outcome != PENDING:
        return view
    # Checked in this transaction, before the row is marked or anything drawn: a refused reveal
    # changes nothing. What it reads only ever becomes true (a review, a confirmation, feedback
    # are never taken back while the owner holds the item), so a check that passed stays true.
    waiting = actions.missing(session, view.requires, view.owner_id, view.item_id)
    if waiting:
        raise actions.ActionRequired(waiting)
    # The one reveal that sets revealed_at decides; a concurrent one waits for it, finds the row
    # revealed, and reads the outcome it stored.
    if session.connection().execute(
        update(RewardGrant)
        .where(RewardGrant.id == view.id, RewardGrant.revealed_at.is_(None))
        .values(revealed_at=at)
    ).rowcount == 1:
        _settle(session, view.id, at)
    settled = _view(session, RewardGrant.id == view.id)
    assert settled is not None
    return settled


# --- the reveal's fast path -----------------------------------------------------------------------
#
# A reveal is a hot path (a campaign's reveals come in bursts): its statements are built once, here,
# so a call costs no SQLAlchemy construction, and it reads rows, not ORM objects. On PostgreSQL it
# takes two round trips before the commit: the claim with everything the draw needs, then one
# statement that takes the stock, logs the draw and stores the outcome. SQLite, in process, runs
# the same steps as separate statements. Anything unusual (codes from a list, a consolation with
# a stock) is settled by ``_settle``, the general path, after the same claim.

_G, _P, _Z, _S = (RewardGrant.__table__, RewardPool.__table__, RewardPrize.__table__,
                  RewardSeed.__table__)


def _claim_statement(by_token: bool) -> Any:
    key = _G.c.token == bindparam("b_token") if by_token else _G.c.id == bindparam("b_id")
    return (
        update(_G)
        .where(key, _G.c.revealed_at.is_(None),
               # Only what needs no other check: the grant's own owner (or none), and a reward
               # that requires nothing. The rest is answered by ``reveal``'s general path.
               or_(_G.c.owner_id.is_(None), _G.c.owner_id == bindparam("b_owner")),
               _G.c.pool_id.in_(select(_P.c.id).where(_P.c.requires.is_(None))))
        .values(revealed_at=bindparam("b_at"))
        .returning(*_G.c)
    )


_POOL_COLUMNS = (
    _P.c.brand, _P.c.reward_id, _P.c.mechanic, _P.c.points.label("p_points"), _P.c.expires_days,
    _P.c.given.label("p_given"), _P.c.requires.label("p_requires"), _Z.c.id.label("z_id"),
    _Z.c.prize_id.label("z_prize"),
    _Z.c.consolation, _Z.c.weight, _Z.c.stock, _Z.c.given.label("z_given"),
    _Z.c.code.label("z_code"), _Z.c.points.label("z_points"), _Z.c.min_plays, _S.c.seed,
)


def _pool_read(source: Any, *columns: Any) -> Any:
    """A pool (``source``, or a join ending in the pool table), one row per live prize (one row
    when it has none), with the day's seed (None before the day's first draw). Add the WHERE."""
    joined = (source.outerjoin(_Z, and_(_Z.c.pool_id == _P.c.id, _Z.c.retired.is_(False)))
              .outerjoin(_S, and_(_S.c.pool_id == _P.c.id, _S.c.day == bindparam("b_day"))))
    return select(*columns, *_POOL_COLUMNS).select_from(joined).order_by(_Z.c.position)


def _claim_and_read(by_token: bool) -> Any:
    claimed = _claim_statement(by_token).cte("claimed")
    return _pool_read(claimed.join(_P, _P.c.id == claimed.c.pool_id), *claimed.c)


_CLAIM = {by_token: _claim_statement(by_token) for by_token in (False, True)}
_CLAIM_AND_READ = {by_token: _claim_and_read(by_token) for by_token in (False, True)}
_READ_POOL = _pool_read(_P).where(_P.c.id == bindparam("b_pool"))
# ``_READ_POOL`` by the pool's brand and reward id, with its id.
_POOL_BY_KEY = _pool_read(_P, _P.c.id.label("p_id")).where(
    _P.c.brand == bindparam("b_brand"), _P.c.reward_id == bindparam("b_reward"))
_TAKE_UNIT = (update(_Z).where(_Z.c.id == bindparam("b_take"), _Z.c.given < _Z.c.stock)
              .values(given=_Z.c.given + 1))
_LOG_DRAW = insert(RewardDraw.__table__)
_GRANT_BY_ID = select(*_G.c).where(_G.c.id == bindparam("b_id"))
_STORE = (update(_G).where(_G.c.id == bindparam("b_id"))
          .values(outcome=bindparam("b_outcome"), prize_id=bindparam("b_prize"),
                  points=bindparam("b_points"), code=bindparam("b_code"),
                  expires_at=bindparam("b_expires"), revealed_at=bindparam("b_at")))
# PostgreSQL: take a unit of the pick (when its stock is counted), log the draw and store the
# outcome in one statement. The UPDATE's ``given < stock`` is re-checked on the row's newest
# version when a concurrent reveal took a unit first (READ COMMITTED), so the stock stays exact;
# whether it took one decides between the two outcomes prepared in Python (``w_*`` and ``c_*``).
_TAKE_LOG_STORE_PG = text("""
WITH won AS (
    UPDATE reward_prizes SET given = given + 1
    WHERE id = CAST(:b_take AS INTEGER) AND given < stock
    RETURNING id
), drawn AS (
    INSERT INTO reward_draws (grant_id, pool_id, day, at, message, value_hex, candidates,
                              picked, stock_taken, outcome_prize)
    SELECT :b_id, :b_pool, :b_day, :b_at, :b_message, :b_value, :b_candidates,
           CAST(:w_prize AS VARCHAR), t.ok,
           CASE WHEN t.ok THEN CAST(:w_prize AS VARCHAR) ELSE CAST(:c_prize AS VARCHAR) END
    FROM (SELECT CAST(:b_free AS BOOLEAN) OR EXISTS (SELECT FROM won) AS ok) AS t
    RETURNING stock_taken
)
UPDATE reward_grants SET
    outcome = CASE WHEN drawn.stock_taken THEN 'prize' ELSE CAST(:c_outcome AS VARCHAR) END,
    prize_id = CASE WHEN drawn.stock_taken THEN CAST(:w_prize AS VARCHAR)
                    ELSE CAST(:c_prize AS VARCHAR) END,
    points = CASE WHEN drawn.stock_taken THEN CAST(:w_points AS INTEGER)
                  ELSE CAST(:c_points AS INTEGER) END,
    code = CASE WHEN drawn.stock_taken THEN CAST(:w_code AS VARCHAR)
                ELSE CAST(:c_code AS VARCHAR) END,
    expires_at = CASE WHEN drawn.stock_taken THEN CAST(:w_expires AS TIMESTAMPTZ)
                      ELSE CAST(:c_expires AS TIMESTAMPTZ) END,
    revealed_at = :b_at
FROM drawn WHERE reward_grants.id = :b_id
RETURNING reward_grants.outcome, reward_grants.prize_id, reward_grants.points,
          reward_grants.code, reward_grants.expires_at
""").bindparams(bindparam("b_candidates", type_=JSON))


def _reveal_fast(
    session: Session, token_or_grant_id: str | int, owner_id: int | None, at: datetime
) -> GrantView | None:
    """Claim and settle a pending grant of the owner (or of no one) whose reward requires
    nothing; return its view, or None when no such grant was claimed (nothing changed)."""
    conn = session.connection()
    by_token = not isinstance(token_or_grant_id, int)
    day = draws.utc_day(at)
    params: dict[str, Any] = {"b_owner": owner_id, "b_at": at, "b_day": day,
                              "b_token" if by_token else "b_id": token_or_grant_id}
    if by_token:
        params["b_token"] = str(token_or_grant_id)
    pg = conn.dialect.name == "postgresql"
    if pg:
        pool_rows: Sequence[Any] = conn.execute(_CLAIM_AND_READ[by_token], params).all()
        if not pool_rows:
            return None
        g: Any = pool_rows[0]
    else:
        claimed = conn.execute(_CLAIM[by_token], params).first()
        if claimed is None:
            return None
        g = claimed
        pool_rows = conn.execute(_READ_POOL, {"b_pool": g.pool_id, "b_day": day}).all()
    return _settle_claimed(session, g, pool_rows, at)


def _settle(session: Session, grant_id: int, at: datetime) -> None:
    """Draw (if the reward has prizes), take stock and code, post points, store the outcome."""
    conn = session.connection()
    g = conn.execute(_GRANT_BY_ID, {"b_id": grant_id}).one()
    pool_rows = conn.execute(_READ_POOL, {"b_pool": g.pool_id, "b_day": draws.utc_day(at)}).all()
    _settle_claimed(session, g, pool_rows, at)


def _settle_claimed(session: Session, g: Any, pool_rows: Sequence[Any], at: datetime) -> GrantView:
    """Settle grant row ``g`` (claimed: ``revealed_at`` set in this transaction, or an instant
    grant inserted in it) with its pool's rows (``_READ_POOL``); return its view."""
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    day = draws.utc_day(at)
    pool = pool_rows[0]
    prizes = [r for r in pool_rows if r.z_id is not None]
    if any(r.z_code == LIST or (r.consolation and r.stock is not None) for r in prizes):
        _settle_general(session, g.id, at)
        settled = _view_of(session, "id", {"b_id": g.id})
        assert settled is not None
        return settled
    points: int = pool.p_points or 0
    outcome, prize_id, code, expires = (POINTS if points else NOTHING), None, None, None
    main = [r for r in prizes if not r.consolation]
    if main:
        consolation = next((r for r in prizes if r.consolation), None)
        candidates = [[r.z_prize, r.weight] for r in main
                      if (r.stock is None or r.z_given < r.stock)
                      and (r.min_plays is None or pool.p_given >= r.min_plays)]
        # Through ``seed_for`` even when the seed came with the grant: the one place that
        # decides a draw's seed (positional: tests wrap it to play a racer at this moment).
        seed = draws.seed_for(session, g.pool_id, day, at, pool.seed)
        message = draws.draw_message(g.id)
        value = draws.draw_value(seed, message)
        picked = draws.pick(value, candidates)
        unit = next(r for r in main if r.z_prize == picked) if picked is not None else None
        ends = at + timedelta(days=pool.expires_days) if pool.expires_days else None
        lost: tuple[str, str | None, str | None, int, datetime | None] = (
            (CONSOLATION, consolation.z_prize,
             new_code() if consolation.z_code == GENERATED else None,
             points + (consolation.z_points or 0), ends)
            if consolation is not None else (outcome, None, None, points, None))
        win_code = new_code() if unit is not None and unit.z_code == GENERATED else None
        win_points = points + (unit.z_points or 0) if unit is not None else points
        take = unit.z_id if unit is not None and unit.stock is not None else None
        free = unit is not None and unit.stock is None
        if pg:
            stored = conn.execute(_TAKE_LOG_STORE_PG, {
                "b_take": take, "b_free": free, "b_id": g.id, "b_pool": g.pool_id, "b_day": day,
                "b_at": at, "b_message": message, "b_value": value, "b_candidates": candidates,
                "w_prize": picked, "w_code": win_code, "w_points": win_points, "w_expires": ends,
                "c_outcome": lost[0], "c_prize": lost[1], "c_code": lost[2],
                "c_points": lost[3], "c_expires": lost[4],
            }).one()
            outcome, prize_id, code, points = (stored.outcome, stored.prize_id, stored.code,
                                               stored.points)
            expires = None if stored.expires_at is None else utc(stored.expires_at)
        else:
            won = free or (take is not None
                           and conn.execute(_TAKE_UNIT, {"b_take": take}).rowcount == 1)
            outcome, prize_id, code, points, expires = (
                (PRIZE, picked, win_code, win_points, ends) if won else lost)
            conn.execute(_LOG_DRAW, {
                "grant_id": g.id, "pool_id": g.pool_id, "day": day, "at": at,
                "message": message, "value_hex": value, "candidates": candidates,
                "picked": picked, "stock_taken": won, "outcome_prize": prize_id})
            _store(conn, g.id, outcome, prize_id, points, code, expires, at)
    else:
        _store(conn, g.id, outcome, prize_id, points, code, expires, at)
    if points and g.owner_id is not None:
        post_entry(session, g.owner_id, EARN, points, "reward", g.id, at, brand=pool.brand)
    return GrantView(
        id=g.id, brand=pool.brand, reward_id=pool.reward_id, mechanic=pool.mechanic,
        journey=g.journey, token=g.token, owner_id=g.owner_id, item_id=g.item_id,
        created_at=g.created_at, outcome=outcome, prize_id=prize_id, points=points, code=code,
        expires_at=expires, revealed_at=at, redeemed_at=g.redeemed_at,
        message_key=g.message_key, ledger_entry_id=g.ledger_entry_id,
        requires=actions.parse(pool.p_requires),
    )


def _store(
    conn: Connection, grant_id: int, outcome: str, prize_id: str | None, points: int,
    code: str | None, expires: datetime | None, at: datetime,
) -> None:
    conn.execute(_STORE, {"b_id": grant_id, "b_outcome": outcome, "b_prize": prize_id,
                          "b_points": points, "b_code": code, "b_expires": expires, "b_at": at})


def _settle_general(session: Session, grant_id: int, at: datetime) -> None:
    """``_settle`` for any pool: codes from a list, a consolation with a stock."""
    conn = session.connection()
    g = conn.execute(
        select(RewardGrant.pool_id, RewardGrant.owner_id, RewardPool.brand, RewardPool.points,
               RewardPool.expires_days, RewardPool.given)
        .join(RewardPool, RewardPool.id == RewardGrant.pool_id)
        .where(RewardGrant.id == grant_id)
    ).one()
    rows = conn.execute(
        select(RewardPrize).where(RewardPrize.pool_id == g.pool_id,
                                  RewardPrize.retired.is_(False))
        .order_by(RewardPrize.position)
    ).mappings().all()
    prizes = [r for r in rows if not r["consolation"]]
    consolation = next((r for r in rows if r["consolation"]), None)
    points: int = g.points or 0
    outcome, prize_id, code = (POINTS if points else NOTHING), None, None
    if prizes:
        free = free_codes(session, g.brand, {r["code_list"] for r in prizes if r["code"] == LIST})
        # A prize with ``min_plays`` joins the draw once the pool has had that many plays
        # (grants); the candidates, logged with the draw, say which prizes were in it.
        candidates = [[r["prize_id"], r["weight"]] for r in prizes if in_stock(r, free)
                      and (r["min_plays"] is None or g.given >= r["min_plays"])]
        day = draws.utc_day(at)
        seed = draws.seed_for(session, g.pool_id, day, at)
        message = draws.draw_message(grant_id)
        value = draws.draw_value(seed, message)
        picked = draws.pick(value, candidates)
        won = None
        if picked is not None:
            row = next(r for r in prizes if r["prize_id"] == picked)
            won = _take_prize(session, g.brand, row, grant_id)
        if won is not None:
            outcome, prize_id, code = PRIZE, picked, won.code
            points += won.points
        elif consolation is not None and (
                taken := _take_prize(session, g.brand, consolation, grant_id)) is not None:
            outcome, prize_id, code = CONSOLATION, consolation["prize_id"], taken.code
            points += taken.points
        else:
            outcome = NOTHING if not points else POINTS
        conn.execute(insert(RewardDraw.__table__), {
            "grant_id": grant_id, "pool_id": g.pool_id, "day": day, "at": at, "message": message,
            "value_hex": value, "candidates": candidates, "picked": picked,
            "stock_taken": won is not None, "outcome_prize": prize_id,
        })
    if points and g.owner_id is not None:
        post_entry(session, g.owner_id, EARN, points, "reward", grant_id, at, brand=g.brand)
    expires = (at + timedelta(days=g.expires_days)
               if g.expires_days and outcome in (PRIZE, CONSOLATION) else None)
    conn.execute(
        update(RewardGrant).where(RewardGrant.id == grant_id)
        .values(outcome=outcome, prize_id=prize_id, points=points, code=code, expires_at=expires,
                revealed_at=at)
    )


@dataclass(frozen=True)
class _Taken:
    """One unit of a prize, taken: its code (None when it has none) and its points."""

    code: str | None
    points: int


def _take_prize(session: Session, brand: str, prize: RowMapping, grant_id: int) -> _Taken | None:
    """Take one unit of a prize for grant ``grant_id``; None when it is gone."""
    conn = session.connection()
    # Only finite stock is counted here: an unlimited prize (a consolation, usually) needs no
    # counter, and updating one would make every reveal of the pool queue on that row.
    if prize["stock"] is not None and conn.execute(
        update(RewardPrize)
        .where(RewardPrize.id == prize["id"], RewardPrize.given < RewardPrize.stock)
        .values(given=RewardPrize.given + 1)
    ).rowcount != 1:
        return None
    code: str | None = None
    if prize["code"] == GENERATED:
        code = new_code()
    elif prize["code"] == LIST:
        code = take_code(session, brand, prize["code_list"], grant_id)
        if code is None:  # the list ran dry under us: give the unit back
            if prize["stock"] is not None:
                conn.execute(update(RewardPrize).where(RewardPrize.id == prize["id"])
                             .values(given=RewardPrize.given - 1))
            return None
    return _Taken(code, prize["points"] or 0)
