"""Fair, audited draws: per-pool daily seeds under commit-reveal, and the day's recomputation.

Each pool has one secret seed per UTC day (32 bytes from ``secrets``). Its SHA-256, the
commitment, is published before the day's play; the seed stays server-side until the day has
ended, then is revealed. A draw's random value is HMAC-SHA256(seed, "draw:<grant id>"): fixed
before anyone plays, unique per grant, and impossible to predict without the seed. Its first 64
bits as a fraction of 2**64 pick among the prizes in stock at that moment, in ruleset order, with
exact rational arithmetic, so anyone with the revealed seed and the logged draws gets the same
answers. Nothing is ever re-rolled: a pick that loses the last unit to a concurrent reveal becomes
the consolation, and the draw row says so.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.core.clock import utc
from app.core.db import insert_ignore
from app.core.errors import DomainError, NotFound
from app.rewards.models import RewardDraw, RewardGrant, RewardPool, RewardPrize, RewardSeed

# --- the arithmetic, shared by the draw and its audit ---------------------------------------------


def commitment_of(seed_hex: str) -> str:
    """Return the published commitment of a seed: SHA-256 of its bytes, hex."""
    return hashlib.sha256(bytes.fromhex(seed_hex)).hexdigest()


def draw_message(grant_id: int) -> str:
    """Return what the seed's HMAC is taken of for the draw of grant ``grant_id``."""
    return f"draw:{grant_id}"


def draw_value(seed_hex: str, message: str) -> str:
    """Return HMAC-SHA256(seed, message) as hex: the draw's random value."""
    return hmac.new(bytes.fromhex(seed_hex), message.encode("ascii"), hashlib.sha256).hexdigest()


def uniform(value_hex: str) -> Fraction:
    """Return the value's first 64 bits as an exact fraction in [0, 1)."""
    return Fraction(int(value_hex[:16], 16), 1 << 64)


def pick(value_hex: str, candidates: Sequence[Sequence[str | float]]) -> str | None:
    """Return the prize id that ``value_hex`` selects among ``[(prize_id, weight), ...]``.

    Each prize covers a share of [0, 1) proportional to its weight, in the order given; None
    when there is no candidate.
    """
    if not candidates:
        return None
    total = sum(Fraction(weight) for _, weight in candidates)
    target = uniform(value_hex) * total
    reached = Fraction(0)
    for prize_id, weight in candidates:
        reached += Fraction(weight)
        if target < reached:
            return str(prize_id)
    return str(candidates[-1][0])


def utc_day(at: datetime) -> date:
    """Return the UTC day of ``at``: seeds and per-day limits run on UTC days."""
    return utc(at).date()


# --- seeds ----------------------------------------------------------------------------------------


def seed_for(
    session: Session, pool_id: int, day: date, at: datetime, known: str | None = None
) -> str:
    """Return the seed (hex) of the pool's day, creating it if it was not published.

    ``known``: the day's seed as the caller already read it (the reveal reads it with the
    grant), returned as is; None reads it here. A seed created here, at the day's first draw, is
    committed to from that moment; run ``publish_commitments`` ahead of the day so the
    commitment is public before any play.
    """
    if known is not None:
        return known
    conn = session.connection()
    query = select(RewardSeed.seed).where(RewardSeed.pool_id == pool_id, RewardSeed.day == day)
    seed = conn.execute(query).scalar()
    if seed is None:
        fresh = secrets.token_hex(32)
        insert_ignore(session, RewardSeed.__table__,
                      {"pool_id": pool_id, "day": day, "seed": fresh,
                       "commitment": commitment_of(fresh), "created_at": utc(at),
                       "revealed_at": None})
        # A concurrent first draw may have inserted its own: the stored one is the day's seed.
        seed = conn.execute(query).scalar_one()
    return str(seed)


@dataclass(frozen=True)
class Commitment:
    """A pool's day: its commitment, and its seed once revealed (None before)."""

    brand: str
    reward_id: str
    day: date
    commitment: str
    seed: str | None


def publish_commitments(session: Session, at: datetime) -> list[Commitment]:
    """Make sure every pool has a seed for today and tomorrow (UTC); return their commitments.

    Run it daily (scheduler or ``rewards seeds publish``) so a day's commitment exists, and can be
    shown, before its first draw.
    """
    today = utc_day(at)
    out: list[Commitment] = []
    pools = session.connection().execute(
        select(RewardPool.id, RewardPool.brand, RewardPool.reward_id).order_by(RewardPool.id)
    ).all()
    for pool in pools:
        for day in (today, today + timedelta(days=1)):
            seed_for(session, pool.id, day, at)
        out.extend(c for c in commitments(session, pool.brand, pool.reward_id, at)
                   if c.day >= today)
    return out


def reveal_seeds(session: Session, at: datetime) -> list[Commitment]:
    """Reveal the seed of every pool day that has ended (UTC); return those just revealed."""
    today = utc_day(at)
    conn = session.connection()
    ids = conn.execute(
        update(RewardSeed)
        .where(RewardSeed.day < today, RewardSeed.revealed_at.is_(None))
        .values(revealed_at=utc(at))
        .returning(RewardSeed.id)
    ).scalars().all()
    if not ids:
        return []
    rows = conn.execute(
        select(RewardPool.brand, RewardPool.reward_id, RewardSeed.day, RewardSeed.commitment,
               RewardSeed.seed)
        .join(RewardPool, RewardPool.id == RewardSeed.pool_id)
        .where(RewardSeed.id.in_(ids))
        .order_by(RewardPool.brand, RewardPool.reward_id, RewardSeed.day)
    ).all()
    return [Commitment(brand=row.brand, reward_id=row.reward_id, day=row.day,
                       commitment=row.commitment, seed=row.seed) for row in rows]


def commitments(session: Session, brand: str, reward_id: str, at: datetime) -> list[Commitment]:
    """Return the pool's days, newest first: commitments always, seeds only once revealed.

    A seed is never shown for today or a later day, whatever ``revealed_at`` says.
    """
    today = utc_day(at)
    rows = session.connection().execute(
        select(RewardSeed.day, RewardSeed.commitment, RewardSeed.seed, RewardSeed.revealed_at)
        .join(RewardPool, RewardPool.id == RewardSeed.pool_id)
        .where(RewardPool.brand == brand, RewardPool.reward_id == reward_id)
        .order_by(RewardSeed.day.desc())
    ).all()
    return [
        Commitment(brand=brand, reward_id=reward_id, day=row.day, commitment=row.commitment,
                   seed=row.seed if row.revealed_at is not None and row.day < today else None)
        for row in rows
    ]


# --- audit ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    draw_id: int | None
    grant_id: int | None
    reason: str


@dataclass
class AuditReport:
    """A day of one pool, recomputed: ``ok`` when every draw matches."""

    brand: str
    reward_id: str
    day: date
    commitment: str | None
    seed_revealed: bool
    draws: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def find_pool(session: Session, reward_id: str, brand: str | None = None) -> tuple[int, str]:
    """Return ``(pool id, brand)`` of reward ``reward_id`` (``brand/reward`` is accepted too).

    Raises:
        NotFound: no such pool.
        DomainError: several brands have a reward of that id and no brand was given.
    """
    if brand is None and "/" in reward_id:
        brand, reward_id = reward_id.split("/", 1)
    query = select(RewardPool.id, RewardPool.brand).where(RewardPool.reward_id == reward_id)
    if brand is not None:
        query = query.where(RewardPool.brand == brand)
    rows = session.connection().execute(query).all()
    if not rows:
        raise NotFound(f"There is no reward pool {reward_id!r}.")
    if len(rows) > 1:
        raise DomainError(f"Several brands have a reward {reward_id!r}: write BRAND/{reward_id}.")
    return rows[0].id, rows[0].brand


def audit_day(
    session: Session, reward_id: str, day: date, *, brand: str | None = None
) -> AuditReport:
    """Recompute every draw of the pool's UTC ``day`` from the day's seed and compare.

    Checks that the seed matches its commitment, and for each draw: its message, its HMAC value,
    the prize that value picks among the logged candidates, that the outcome follows (the pick
    when its stock was taken, else the consolation) and that the grant holds that outcome.

    Raises:
        NotFound / DomainError: as ``find_pool``.
    """
    pool_id, brand = find_pool(session, reward_id, brand)
    reward_id = reward_id.split("/", 1)[-1]
    conn = session.connection()
    seed_row = conn.execute(
        select(RewardSeed.seed, RewardSeed.commitment, RewardSeed.revealed_at)
        .where(RewardSeed.pool_id == pool_id, RewardSeed.day == day)
    ).first()
    report = AuditReport(brand, reward_id, day, seed_row.commitment if seed_row else None,
                         bool(seed_row and seed_row.revealed_at is not None))
    consolation = conn.execute(
        select(RewardPrize.prize_id)
        .where(RewardPrize.pool_id == pool_id, RewardPrize.consolation.is_(True))
    ).scalar()
    draws = conn.execute(
        select(RewardDraw, RewardGrant.prize_id.label("grant_prize"),
               RewardGrant.outcome.label("grant_outcome"))
        .join(RewardGrant, RewardGrant.id == RewardDraw.grant_id)
        .where(RewardDraw.pool_id == pool_id, RewardDraw.day == day)
        .order_by(RewardDraw.id)
    ).mappings().all()
    report.draws = len(draws)
    if seed_row is None:
        if draws:
            report.mismatches.append(Mismatch(None, None, "draws exist but the day has no seed"))
        return report
    seed = seed_row.seed
    if commitment_of(seed) != seed_row.commitment:
        report.mismatches.append(Mismatch(None, None, "the seed does not match its commitment"))
    for d in draws:
        problems: list[str] = []
        if d["message"] != draw_message(d["grant_id"]):
            problems.append(f"message {d['message']!r} is not {draw_message(d['grant_id'])!r}")
        value = draw_value(seed, d["message"])
        if not hmac.compare_digest(value, d["value_hex"]):
            problems.append("random value differs from HMAC(seed, message)")
        picked = pick(value, d["candidates"] or [])
        if picked != d["picked"]:
            problems.append(f"value picks {picked!r}, logged {d['picked']!r}")
        if picked is not None and d["stock_taken"]:
            allowed: tuple[str | None, ...] = (picked,)
        else:
            # Not won: the consolation, or nothing once the consolation's own stock is spent.
            allowed = (consolation, None)
        if d["outcome_prize"] not in allowed:
            problems.append(f"outcome {d['outcome_prize']!r}, expected {allowed[0]!r}")
        if d["grant_prize"] != d["outcome_prize"]:
            problems.append(f"grant holds {d['grant_prize']!r}, draw gave {d['outcome_prize']!r}")
        report.mismatches.extend(Mismatch(d["id"], d["grant_id"], p) for p in problems)
    return report
