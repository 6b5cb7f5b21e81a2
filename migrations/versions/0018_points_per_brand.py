"""Points per owner and brand; a catalogue grant tied to the ledger line that paid for it.

Why: points were one balance per owner across brands, so points earned with brand A could be
spent at brand B's till or in brand B's catalogue. An owner now has one account per brand
(``loyalty_accounts`` keyed on owner and brand) and every ledger line names the brand whose
account it changes (``loyalty_entries.brand``, now NOT NULL); ``balance_after`` is that account's
balance. A composite index (owner, brand, id) serves each account's lines; the account's primary
key serves the tap page's balance lookup.

Backfill of the brand of existing lines, in order: the brand already written (rewards since 0014,
catalogue and till spends); a reward's pool; a catalogue grant's pool; the item's brand for
behaviour points (review -> product, service -> service event's item, provenance -> ownership's
item, take-back -> item); a reversal takes its entry's brand. Other earns (no cause names a brand)
go to the brand the owner's ledger first names, else the brand of the owner's first item, else the
first brand. Then each owner's ledger is replayed in order: a spend, expiry or reversal takes its
brand's points; when it took more than that brand held (the defect: another brand's points paid),
the rest is taken first in, first out from the owner's other brands, written as extra lines of
the same moment and cause, one per brand, so every account adds up and none goes below zero. An
old expiry (one line for all brands) is split the same way. ``balance_after`` is rewritten per
account, and the accounts are rebuilt from the lines.

A catalogue grant was linked to its ledger line through ``message_key`` ``catalogue:<line id>``,
the column of scheduled messages. It gets its own column, ``reward_grants.ledger_entry_id``
(unique: one payment buys one grant), backfilled from that key, which is cleared; the CHECK now
asks for a tap, a message or a payment.

SQLite rebuilds a table to change it; with foreign keys on (they are, and cannot be switched off
inside the migration's transaction) dropping a table other rows reference fails, so the rebuild
copies the rows out, drops and re-creates the table under its own name and copies them back,
with foreign keys deferred to the commit, when every reference holds again.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30
"""

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_ENTRY_COLUMNS = ("id", "owner_id", "at", "kind", "points", "balance_after", "cause_type",
                  "cause_id", "reverses_id", "brand")
_GRANT_COLUMNS = ("id", "pool_id", "tap_event_id", "message_key", "owner_id", "item_id",
                  "journey", "token", "created_at", "revealed_at", "outcome", "prize_id",
                  "points", "code", "expires_at", "redeemed_at", "redeemed_shop")
_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _tap_id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _metadata() -> sa.MetaData:
    md = sa.MetaData(naming_convention=_NAMING)
    # Stand-ins for the referenced tables, so the foreign keys resolve (never created).
    for name in ("owners", "reward_pools", "tap_events", "items"):
        sa.Table(name, md, sa.Column("id", sa.Integer(), primary_key=True))
    return md


def _entries(md: sa.MetaData, *, per_brand: bool) -> sa.Table:
    table = sa.Table(
        "loyalty_entries", md,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("owners.id"), nullable=False),
        sa.Column("at", _tz(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        sa.Column("cause_type", sa.String(16), nullable=False),
        sa.Column("cause_id", sa.String(64), nullable=False),
        sa.Column("reverses_id", sa.Integer(), sa.ForeignKey("loyalty_entries.id"),
                  nullable=True, unique=True),
        sa.Column("brand", sa.String(64), nullable=not per_brand),
        sa.CheckConstraint("balance_after >= 0", name="balance_after_not_negative"),
    )
    if per_brand:
        sa.Index("ix_loyalty_entries_owner_id_brand", table.c.owner_id, table.c.brand,
                 table.c.id)
    else:
        sa.Index("ix_loyalty_entries_owner_id", table.c.owner_id)
    return table


def _grants(md: sa.MetaData, *, paid: bool) -> sa.Table:
    extra: list[Any] = []
    if paid:
        sa.Table("loyalty_entries", md, sa.Column("id", sa.Integer(), primary_key=True))
        extra = [
            sa.Column("ledger_entry_id", sa.Integer(), sa.ForeignKey("loyalty_entries.id"),
                      nullable=True, unique=True),
            sa.CheckConstraint("tap_event_id IS NOT NULL OR message_key IS NOT NULL "
                               "OR ledger_entry_id IS NOT NULL", name="tap_message_or_points"),
        ]
    else:
        extra = [sa.CheckConstraint("tap_event_id IS NOT NULL OR message_key IS NOT NULL",
                                    name="tap_or_message")]
    table = sa.Table(
        "reward_grants", md,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("pool_id", sa.Integer(), sa.ForeignKey("reward_pools.id"), nullable=False),
        sa.Column("tap_event_id", _tap_id(), sa.ForeignKey("tap_events.id"), nullable=True),
        sa.Column("message_key", sa.String(80), nullable=True),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("owners.id"), nullable=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("items.id"), nullable=False),
        sa.Column("journey", sa.String(80), nullable=False),
        sa.Column("token", sa.String(43), nullable=False, unique=True),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("revealed_at", _tz(), nullable=True),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("prize_id", sa.String(64), nullable=True),
        sa.Column("points", sa.Integer(), server_default="0", nullable=False),
        sa.Column("code", sa.String(64), nullable=True, unique=True),
        sa.Column("expires_at", _tz(), nullable=True),
        sa.Column("redeemed_at", _tz(), nullable=True),
        sa.Column("redeemed_shop", sa.String(64), nullable=True),
        sa.UniqueConstraint("tap_event_id", "pool_id"),
        sa.UniqueConstraint("message_key", "pool_id"),
        *extra,
    )
    for column in ("pool_id", "owner_id", "item_id"):
        sa.Index(f"ix_reward_grants_{column}", table.c[column])
    return table


def _rebuild_sqlite(table: sa.Table, columns: tuple[str, ...]) -> None:
    """Re-create ``table`` under its own name with the rows it holds (see the docstring)."""
    conn = op.get_bind()
    cols = ", ".join(columns)
    conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
    # Fixed table and column names of this file, never input.
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE _rebuild_0018 AS SELECT {cols} FROM {table.name}")  # noqa: S608
    conn.exec_driver_sql(f"DROP TABLE {table.name}")
    table.create(conn)
    conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM _rebuild_0018")  # noqa: S608
    conn.exec_driver_sql("DROP TABLE _rebuild_0018")


# --- upgrade: the brand of every line --------------------------------------------------------

_BRAND_OF_ITEM = ("SELECT b.slug FROM items i JOIN products p ON p.id = i.product_id "
                  "JOIN brands b ON b.id = p.brand_id WHERE i.id = {item}")
_ATTRIBUTE = {
    "reward": "SELECT rp.brand FROM reward_grants g JOIN reward_pools rp ON rp.id = g.pool_id "
              "WHERE CAST(g.id AS VARCHAR(64)) = loyalty_entries.cause_id",
    "catalogue": "SELECT rp.brand FROM reward_grants g JOIN reward_pools rp ON rp.id = g.pool_id "
                 "WHERE g.message_key = 'catalogue:' || CAST(loyalty_entries.id AS VARCHAR(64))",
    "review": "SELECT b.slug FROM product_reviews r JOIN products p ON p.id = r.product_id "
              "JOIN brands b ON b.id = p.brand_id "
              "WHERE CAST(r.id AS VARCHAR(64)) = loyalty_entries.cause_id",
    "service": _BRAND_OF_ITEM.format(
        item="(SELECT s.item_id FROM service_events s "
             "WHERE CAST(s.id AS VARCHAR(64)) = loyalty_entries.cause_id)"),
    "provenance": _BRAND_OF_ITEM.format(
        item="(SELECT o.item_id FROM ownerships o "
             "WHERE CAST(o.id AS VARCHAR(64)) = loyalty_entries.cause_id)"),
    "take_back": _BRAND_OF_ITEM.format(
        item="(SELECT i2.id FROM items i2 "
             "WHERE CAST(i2.id AS VARCHAR(64)) = loyalty_entries.cause_id)"),
}


def _attribute_brands(conn: sa.Connection) -> None:
    for cause, brand_sql in _ATTRIBUTE.items():
        conn.exec_driver_sql(
            f"UPDATE loyalty_entries SET brand = ({brand_sql}) "  # noqa: S608 - fixed SQL
            f"WHERE brand IS NULL AND cause_type = '{cause}'")


def _fallbacks(conn: sa.Connection) -> tuple[dict[int, str], str | None]:
    """Each owner's first item's brand, and the first brand of all."""
    rows = conn.exec_driver_sql(
        "SELECT o.owner_id, b.slug FROM ownerships o JOIN items i ON i.id = o.item_id "
        "JOIN products p ON p.id = i.product_id JOIN brands b ON b.id = p.brand_id "
        "ORDER BY o.owner_id, o.id").all()
    first: dict[int, str] = {}
    for owner_id, slug in rows:
        first.setdefault(owner_id, slug)
    return first, conn.exec_driver_sql("SELECT slug FROM brands ORDER BY id").scalar()


class _Owner:
    """One owner's ledger replayed per brand: points left in each earn (first in, first out)."""

    def __init__(self, fallback: str | None) -> None:
        self.fallback = fallback
        self.lots: list[list[Any]] = []  # [brand, points left], oldest first
        self.balance: dict[str, int] = defaultdict(int)
        self.brand_of: dict[int, str] = {}

    def take(self, brand: str | None, points: int) -> list[tuple[str, int]]:
        """Take ``points``: first from ``brand``, then from the oldest points of any brand."""
        parts: dict[str, int] = {}
        for only in ((brand,) if brand else ()) + (None,):
            for lot in self.lots:
                if points == 0:
                    break
                if only is not None and lot[0] != only:
                    continue
                used = min(lot[1], points)
                if used:
                    lot[1] -= used
                    points -= used
                    parts[lot[0]] = parts.get(lot[0], 0) + used
        if points:
            raise RuntimeError("a ledger took more points than its owner held; fix the ledger "
                               "by hand before this migration")
        return list(parts.items())


def _replay(conn: sa.Connection) -> None:
    entries = sa.table("loyalty_entries", *(sa.column(c) for c in _ENTRY_COLUMNS))
    first_item, first_brand = _fallbacks(conn)
    rows = conn.execute(sa.select(entries).order_by(entries.c.owner_id, entries.c.id)).all()
    first_named: dict[int, str] = {}
    for row in rows:
        if row.brand:
            first_named.setdefault(row.owner_id, row.brand)
    changes: list[dict[str, Any]] = []
    extra: list[dict[str, Any]] = []
    accounts: dict[tuple[int, str], tuple[int, Any]] = {}
    owner: _Owner | None = None
    current = None
    for row in rows:
        if row.owner_id != current:
            current = row.owner_id
            owner = _Owner(first_named.get(current) or first_item.get(current) or first_brand)
        assert owner is not None
        brand = row.brand or (owner.brand_of.get(row.reverses_id) if row.reverses_id else None)
        if row.points > 0:
            brand = brand or owner.fallback
            if brand is None:
                raise RuntimeError("no brand to give old points to: there is no brand at all")
            owner.lots.append([brand, row.points])
            parts = [(brand, row.points)]
        else:
            parts = [(b, -p) for b, p in owner.take(brand, -row.points)]
        for n, (part_brand, delta) in enumerate(parts):
            owner.balance[part_brand] += delta
            after = owner.balance[part_brand]
            accounts[(row.owner_id, part_brand)] = (after, row.at)
            if n == 0:
                owner.brand_of[row.id] = part_brand
                if (row.brand, row.points, row.balance_after) != (part_brand, delta, after):
                    changes.append({"k_id": row.id, "k_brand": part_brand, "k_points": delta,
                                    "k_after": after})
            else:
                extra.append({"owner_id": row.owner_id, "at": row.at, "kind": row.kind,
                              "points": delta, "balance_after": after,
                              "cause_type": row.cause_type, "cause_id": row.cause_id,
                              "reverses_id": None, "brand": part_brand})
    if changes:
        conn.execute(
            entries.update().where(entries.c.id == sa.bindparam("k_id")).values(
                brand=sa.bindparam("k_brand"), points=sa.bindparam("k_points"),
                balance_after=sa.bindparam("k_after")),
            changes)
    if extra:
        conn.execute(entries.insert(), extra)
    accounts_table = sa.table("loyalty_accounts", sa.column("owner_id"), sa.column("brand"),
                              sa.column("balance"), sa.column("updated_at"))
    if accounts:
        conn.execute(accounts_table.insert(), [
            {"owner_id": o, "brand": b, "balance": bal, "updated_at": at}
            for (o, b), (bal, at) in sorted(accounts.items())])


def upgrade() -> None:
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    _attribute_brands(conn)
    # The accounts are derived from the lines: rebuilt, keyed on owner and brand.
    op.drop_table("loyalty_accounts")
    op.create_table(
        "loyalty_accounts",
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("balance", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", _tz(), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_loyalty_accounts_balance_not_negative")),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"],
                                name=op.f("fk_loyalty_accounts_owner_id_owners")),
        sa.PrimaryKeyConstraint("owner_id", "brand", name=op.f("pk_loyalty_accounts")),
    )
    _replay(conn)
    if sqlite:
        _rebuild_sqlite(_entries(_metadata(), per_brand=True), _ENTRY_COLUMNS)
        _rebuild_sqlite(_grants(_metadata(), paid=True), _GRANT_COLUMNS)
    else:
        op.alter_column("loyalty_entries", "brand", existing_type=sa.String(64),
                        nullable=False)
        op.drop_index(op.f("ix_loyalty_entries_owner_id"), table_name="loyalty_entries")
        op.create_index("ix_loyalty_entries_owner_id_brand", "loyalty_entries",
                        ["owner_id", "brand", "id"])
        op.add_column("reward_grants",
                      sa.Column("ledger_entry_id", sa.Integer(), nullable=True))
        op.create_foreign_key(op.f("fk_reward_grants_ledger_entry_id_loyalty_entries"),
                              "reward_grants", "loyalty_entries", ["ledger_entry_id"], ["id"])
        op.create_unique_constraint(op.f("uq_reward_grants_ledger_entry_id"), "reward_grants",
                                    ["ledger_entry_id"])
        op.drop_constraint(op.f("ck_reward_grants_tap_or_message"), "reward_grants",
                           type_="check")
        op.create_check_constraint(
            op.f("ck_reward_grants_tap_message_or_points"), "reward_grants",
            "tap_event_id IS NOT NULL OR message_key IS NOT NULL OR ledger_entry_id IS NOT NULL")
    conn.execute(sa.text(
        "UPDATE reward_grants SET ledger_entry_id = CAST(SUBSTR(message_key, 11) AS INTEGER), "
        "message_key = NULL WHERE message_key LIKE :key "
        "AND pool_id IN (SELECT id FROM reward_pools WHERE mechanic = 'catalogue')"),
        {"key": "catalogue:%"})


def downgrade() -> None:
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    conn.exec_driver_sql(
        "UPDATE reward_grants SET message_key = 'catalogue:' || CAST(ledger_entry_id AS "
        "VARCHAR(64)) WHERE ledger_entry_id IS NOT NULL")
    if sqlite:
        _rebuild_sqlite(_grants(_metadata(), paid=False), _GRANT_COLUMNS)
        _rebuild_sqlite(_entries(_metadata(), per_brand=False), _ENTRY_COLUMNS)
    else:
        op.drop_constraint(op.f("ck_reward_grants_tap_message_or_points"), "reward_grants",
                           type_="check")
        op.create_check_constraint(op.f("ck_reward_grants_tap_or_message"), "reward_grants",
                                   "tap_event_id IS NOT NULL OR message_key IS NOT NULL")
        op.drop_constraint(op.f("uq_reward_grants_ledger_entry_id"), "reward_grants",
                           type_="unique")
        op.drop_constraint(op.f("fk_reward_grants_ledger_entry_id_loyalty_entries"),
                           "reward_grants", type_="foreignkey")
        op.drop_column("reward_grants", "ledger_entry_id")
        op.drop_index("ix_loyalty_entries_owner_id_brand", table_name="loyalty_entries")
        op.create_index(op.f("ix_loyalty_entries_owner_id"), "loyalty_entries", ["owner_id"])
        op.alter_column("loyalty_entries", "brand", existing_type=sa.String(64), nullable=True)
    # One balance per owner again: the lines' running total per owner.
    entries = sa.table("loyalty_entries", sa.column("id"), sa.column("owner_id"),
                       sa.column("points"), sa.column("at"), sa.column("balance_after"))
    totals: dict[int, tuple[int, Any]] = {}
    changes = []
    for row in conn.execute(sa.select(entries).order_by(entries.c.owner_id, entries.c.id)):
        total = totals.get(row.owner_id, (0, None))[0] + row.points
        totals[row.owner_id] = (total, row.at)
        if total != row.balance_after:
            changes.append({"k_id": row.id, "k_after": total})
    if changes:
        conn.execute(entries.update().where(entries.c.id == sa.bindparam("k_id"))
                     .values(balance_after=sa.bindparam("k_after")), changes)
    op.drop_table("loyalty_accounts")
    op.create_table(
        "loyalty_accounts",
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("balance", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", _tz(), nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_loyalty_accounts_balance_not_negative")),
        sa.ForeignKeyConstraint(["owner_id"], ["owners.id"],
                                name=op.f("fk_loyalty_accounts_owner_id_owners")),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_loyalty_accounts")),
    )
    accounts = sa.table("loyalty_accounts", sa.column("owner_id"), sa.column("balance"),
                        sa.column("updated_at"))
    if totals:
        conn.execute(accounts.insert(), [
            {"owner_id": o, "balance": total, "updated_at": at}
            for o, (total, at) in sorted(totals.items())])
