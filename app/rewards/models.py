"""Rewards: the loyalty ledger, reward pools and prizes (live state), grants, draws, seeds, codes,
limit slots and exposures.

The ruleset declares rewards and prizes; these tables hold what the YAML cannot: how many were
given, who got what, the random value behind every draw. Every limit is enforced by the database
(a CHECK, a unique key or a conditional UPDATE), never by a Python lock.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime

# Every model declares ``__table__: ClassVar[Table]``: SQLAlchemy types it as any FromClause, but
# a declarative model's is always a Table, which ``insert_ignore`` and ``insert`` take.

# tap_events.id is a BIGINT on PostgreSQL (the log grows without bound), INTEGER on SQLite.
_TAP_ID = BigInteger().with_variant(Integer, "sqlite")


class LoyaltyAccount(Base):
    """An owner's points balance with one brand; the CHECK makes a negative balance impossible
    to commit. Points earned with one brand are spent only with that brand."""

    __tablename__ = "loyalty_accounts"
    __table__: ClassVar[Table]
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    # The primary key (owner_id, brand) is the index the tap page's balance lookup uses.
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"), primary_key=True)
    brand: Mapped[str] = mapped_column(String(64), primary_key=True)
    balance: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LoyaltyEntry(Base):
    """One append-only ledger line: a signed change of an owner's points with one brand and what
    caused it."""

    __tablename__ = "loyalty_entries"
    __table__: ClassVar[Table]
    __table_args__ = (
        CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
        # One account's lines in order: the wallet's last lines and the expiry's replay.
        Index("ix_loyalty_entries_owner_id_brand", "owner_id", "brand", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(8))  # earn | spend | expire | reverse
    points: Mapped[int] = mapped_column(Integer)  # signed: + earn, - spend / expire
    # The balance of this owner's account with ``brand`` after this line.
    balance_after: Mapped[int] = mapped_column(Integer)
    # tap | journey | reward | service | admin | review | provenance | take_back | catalogue | till
    cause_type: Mapped[str] = mapped_column(String(16))
    cause_id: Mapped[str] = mapped_column(String(64))
    # The entry a reversal undoes; unique, so an entry can be reversed once only.
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_entries.id"), unique=True)
    # The brand whose account this line changes: the ruleset's brand for a reward, the item's
    # brand for behaviour points, the till's or catalogue's brand for a spend. Earns of rewards
    # (cause ``reward``) expire by that brand's policy (app/rewards/expiry.py).
    brand: Mapped[str] = mapped_column(String(64))


class RewardPool(Base):
    """The live state of one ruleset reward: how many times it was given (the budget's count)."""

    __tablename__ = "reward_pools"
    __table__: ClassVar[Table]
    __table_args__ = (
        UniqueConstraint("brand", "reward_id"),
        CheckConstraint("budget IS NULL OR given <= budget", name="within_budget"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand: Mapped[str] = mapped_column(String(64))
    reward_id: Mapped[str] = mapped_column(String(64))
    mechanic: Mapped[str] = mapped_column(String(16))
    budget: Mapped[int | None] = mapped_column(Integer)
    given: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Copied from the ruleset so a reveal (which has only the grant) knows what to give.
    points: Mapped[int | None] = mapped_column(Integer)
    expires_days: Mapped[int | None] = mapped_column(Integer)
    # What the owner must have done before a reveal (the ruleset's ``requires``), space-separated
    # (``review email_confirmed``); None: nothing.
    requires: Mapped[str | None] = mapped_column(String(64))


class RewardPrize(Base):
    """A prize (or the consolation) of a pool; ``given`` can never pass ``stock``."""

    __tablename__ = "reward_prizes"
    __table__: ClassVar[Table]
    __table_args__ = (
        UniqueConstraint("pool_id", "prize_id"),
        CheckConstraint("stock IS NULL OR given <= stock", name="within_stock"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("reward_pools.id"), index=True)
    prize_id: Mapped[str] = mapped_column(String(64))
    consolation: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    weight: Mapped[float] = mapped_column(Float)
    stock: Mapped[int | None] = mapped_column(Integer)  # the total ever; None: unlimited
    given: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    code: Mapped[str | None] = mapped_column(String(16))  # generated | list
    code_list: Mapped[str | None] = mapped_column(String(64))
    points: Mapped[int | None] = mapped_column(Integer)
    # Drawable only once the pool has had this many grants (plays); None: from the first.
    min_plays: Mapped[int | None] = mapped_column(Integer)
    # Removed from the ruleset: kept for the history of grants and audits, never drawn.
    retired: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class RewardSeed(Base):
    """A pool's secret seed for one UTC day; ``commitment`` (its SHA-256) is public from the
    start, the seed only once ``revealed_at`` is set after the day ended."""

    __tablename__ = "reward_seeds"
    __table__: ClassVar[Table]
    __table_args__ = (UniqueConstraint("pool_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("reward_pools.id"))
    day: Mapped[date] = mapped_column(Date)
    seed: Mapped[str] = mapped_column(String(64))  # 32 random bytes, hex
    commitment: Mapped[str] = mapped_column(String(64))  # sha256(seed bytes), hex
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RewardGrant(Base):
    """A reward given for one tap, carried by one scheduled message (``message_key``) or bought
    with points (``ledger_entry_id``): pending until revealed (reveal mechanics), then its
    outcome."""

    __tablename__ = "reward_grants"
    __table__: ClassVar[Table]
    __table_args__ = (
        UniqueConstraint("tap_event_id", "pool_id"),
        # Once per message: a copy re-sent after a crash finds the grant its first send made.
        UniqueConstraint("message_key", "pool_id"),
        CheckConstraint("tap_event_id IS NOT NULL OR message_key IS NOT NULL "
                        "OR ledger_entry_id IS NOT NULL", name="tap_message_or_points"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("reward_pools.id"), index=True)
    tap_event_id: Mapped[int | None] = mapped_column(_TAP_ID, ForeignKey("tap_events.id"))
    message_key: Mapped[str | None] = mapped_column(String(80))
    # A catalogue item bought with points: the ledger line that paid for it. Unique, so one
    # payment buys one grant.
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_entries.id"),
                                                        unique=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    journey: Mapped[str] = mapped_column(String(80))
    # The reveal link's token: stored as is, see grants.grant for why it is not a credential.
    token: Mapped[str] = mapped_column(String(43), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # pending | prize | consolation | points | nothing
    outcome: Mapped[str] = mapped_column(String(12), default="pending")
    prize_id: Mapped[str | None] = mapped_column(String(64))
    points: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    code: Mapped[str | None] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    redeemed_shop: Mapped[str | None] = mapped_column(String(64))


class RewardDraw(Base):
    """One draw, with every input: the seed's day, the prizes in stock and the random value."""

    __tablename__ = "reward_draws"
    __table__: ClassVar[Table]
    __table_args__ = (Index("ix_reward_draws_pool_id_day", "pool_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("reward_grants.id"), unique=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("reward_pools.id"))
    day: Mapped[date] = mapped_column(Date)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    message: Mapped[str] = mapped_column(String(80))  # what the seed's HMAC was taken of
    value_hex: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256(seed, message)
    # [[prize_id, weight], ...] in stock when drawn, in ruleset order: the pick's input.
    candidates: Mapped[list[Any]] = mapped_column(JSON)
    picked: Mapped[str | None] = mapped_column(String(64))  # None: nothing was in stock
    stock_taken: Mapped[bool] = mapped_column(Boolean)  # False: lost the last unit to a racer
    outcome_prize: Mapped[str | None] = mapped_column(String(64))  # what the grant received


class RewardCode(Base):
    """An imported single-use code; ``grant_id`` is set once, when a prize takes it."""

    __tablename__ = "reward_codes"
    __table__: ClassVar[Table]
    __table_args__ = (
        UniqueConstraint("brand", "list_name", "code"),
        Index("ix_reward_codes_free", "brand", "list_name", "grant_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    brand: Mapped[str] = mapped_column(String(64))
    list_name: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("reward_grants.id"), unique=True)


class RewardSlot(Base):
    """One of the ``max`` uses a limit allows in its scope; reusable ``per`` days after its last
    use. N slots whose uses are each ``per`` days apart give exactly "at most N in any window"."""

    __tablename__ = "reward_slots"
    __table__: ClassVar[Table]

    scope: Mapped[str] = mapped_column(String(120), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime())
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("reward_grants.id"))


class RewardDayCount(Base):
    """Grants of a pool on one UTC day, for ``per_day``."""

    __tablename__ = "reward_day_counts"
    __table__: ClassVar[Table]

    pool_id: Mapped[int] = mapped_column(ForeignKey("reward_pools.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RewardExposure(Base):
    """That a tap's journey (or a scheduled message) offered a reward, and whether the owner was
    held out of it."""

    __tablename__ = "reward_exposures"
    __table__: ClassVar[Table]
    __table_args__ = (
        UniqueConstraint("pool_id", "tap_event_id"),
        UniqueConstraint("message_key", "pool_id"),
        CheckConstraint("tap_event_id IS NOT NULL OR message_key IS NOT NULL",
                        name="tap_or_message"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("reward_pools.id"))
    tap_event_id: Mapped[int | None] = mapped_column(_TAP_ID, ForeignKey("tap_events.id"))
    message_key: Mapped[str | None] = mapped_column(String(80))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("owners.id"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"))
    cohort: Mapped[str] = mapped_column(String(10))  # treatment | holdout
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class RewardAction(Base):
    """That an owner did something another domain records (``service_feedback`` on an item): a
    reward's ``requires`` reads it here, since rewards never reads another domain's tables."""

    __tablename__ = "reward_actions"
    __table__: ClassVar[Table]
    __table_args__ = (UniqueConstraint("owner_id", "item_id", "action"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    action: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProductReview(Base):
    """An owner's review of a product; one per owner and product."""

    __tablename__ = "product_reviews"
    __table__: ClassVar[Table]
    __table_args__ = (
        UniqueConstraint("owner_id", "product_id"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_1_to_5"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    rating: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
