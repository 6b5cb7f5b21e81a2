"""Simulated taps: find a tagged item by serial, claim its next simulated counter, build the URL.

The one implementation behind ``mint_tap_url`` (``tags tap``, the /demo page, tests) and
``aftertap-tap`` (``app.verify.quicktap``), which must start in a fraction of a second: Core
statements on lightweight tables, so this module loads neither the ORM nor Flask.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, column, select, table, update

from app.verify.keys import KeyVersion
from app.verify.sun import SimulationNotAllowed, mint_query

# The columns used here of the models' tables (app.verify.models.Tag, app.catalog.models.Item
# and Product); tests/verify/test_quicktap.py checks they still exist there.
TAGS = table("tags", column("id"), column("uid"), column("item_id"), column("key_version"),
             column("last_counter"), column("sim_counter"))
ITEMS = table("items", column("id"), column("product_id"), column("serial"))
PRODUCTS = table("products", column("id"), column("gtin"))

_BY_SERIAL = (
    select(TAGS.c.id, TAGS.c.uid, TAGS.c.key_version, ITEMS.c.serial, PRODUCTS.c.gtin)
    .join(ITEMS, TAGS.c.item_id == ITEMS.c.id)
    .join(PRODUCTS, ITEMS.c.product_id == PRODUCTS.c.id)
    .where(ITEMS.c.serial == bindparam("serial"))
    .limit(2)
)
_BY_SERIAL_AND_GTIN = _BY_SERIAL.where(PRODUCTS.c.gtin == bindparam("gtin"))
_COUNTERS = select(TAGS.c.last_counter, TAGS.c.sim_counter).where(TAGS.c.id == bindparam("tag_id"))
# Compare-and-set: only the minter that read the current value moves it on.
_CLAIM = (
    update(TAGS)
    .where(TAGS.c.id == bindparam("tag_id"), TAGS.c.sim_counter == bindparam("current"))
    .values(sim_counter=bindparam("claimed"))
)


class TagNotFound(Exception):
    """No tag matches the serial (or more than one does and no GTIN was given)."""


@dataclass(frozen=True)
class SimTag:
    """What minting needs of a tag: its id, UID, key version and its item's GTIN and serial."""

    id: int
    uid: str
    key_version: str
    gtin: str
    serial: str


def find_sim_tag(conn: Connection, serial: str, gtin: str | None = None) -> SimTag:
    """Return the tag of the item with ``serial`` (and ``gtin`` if given).

    Raises:
        TagNotFound: no such tagged item, or the serial is ambiguous without a GTIN.
    """
    if gtin:
        rows = conn.execute(_BY_SERIAL_AND_GTIN, {"serial": serial, "gtin": gtin}).all()
    else:
        rows = conn.execute(_BY_SERIAL, {"serial": serial}).all()
    if not rows:
        raise TagNotFound(f"no tagged item has serial {serial!r}")
    if len(rows) > 1:
        raise TagNotFound(f"serial {serial!r} is used by several products; give --gtin")
    row = rows[0]
    return SimTag(row.id, row.uid, row.key_version, row.gtin, row.serial)


def claim_sim_counter(conn: Connection, tag_id: int) -> int:
    """Return the next simulated counter of tag ``tag_id``, claimed: no other call gets it.

    The counter is above any handed out before and any a genuine tap carried. The claim is a
    compare-and-set, so of two concurrent minters one wins and the other reads again; the
    caller commits.
    """
    while True:
        row = conn.execute(_COUNTERS, {"tag_id": tag_id}).one()
        claimed: int = max(row.last_counter or 0, row.sim_counter) + 1
        won = conn.execute(_CLAIM, {"tag_id": tag_id, "current": row.sim_counter,
                                    "claimed": claimed})
        if won.rowcount:
            return claimed


def mint_url(
    conn: Connection,
    keyring: Mapping[str, KeyVersion],
    tag: SimTag,
    base_url: str,
    *,
    mode: str = "aes",
    form: str = "gs1",
    file_data: bytes | None = None,
) -> str:
    """Return a fresh, valid simulated tap URL for ``tag``; its counter is above any seen before.

    ``form`` "gs1" is ``<base>/01/<gtin>/21/<serial>?<query>``, "t" is ``<base>/t?<query>``.
    The counter is claimed on ``conn``; the caller commits.

    Raises:
        SimulationNotAllowed: the tag's key version does not allow simulation.
        ValueError: unknown mode or form.
    """
    kv = keyring.get(tag.key_version)
    if kv is None or not kv.simulate:
        raise SimulationNotAllowed(
            f"key version {tag.key_version!r} does not allow simulated taps (simulate = false)"
        )
    if form not in ("gs1", "t"):
        raise ValueError(f"unknown URL form {form!r}; use 'gs1' or 't'")
    query = mint_query(kv, bytes.fromhex(tag.uid), claim_sim_counter(conn, tag.id), mode=mode,
                       file_data=file_data)
    base = base_url.rstrip("/")
    if form == "gs1":
        return f"{base}/01/{tag.gtin}/21/{tag.serial}?{query}"
    return f"{base}/t?{query}"
