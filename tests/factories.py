"""Test data factories: brands, products, tagged items, fresh tap URLs."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.catalog.models import Item
from app.catalog.service import get_or_create_brand, get_or_create_product, gtin_check_digit
from app.verify.models import Tag

_seq = itertools.count(1)
_T = TypeVar("_T")


def statements_sent(session: Session, call: Callable[[], _T]) -> tuple[_T, list[str]]:
    """Return ``call()``'s result and the SQL statements it sent on ``session``'s connection
    (each one a round trip to the database)."""
    sent: list[str] = []
    conn = session.connection()

    def count(*args: Any) -> None:
        sent.append(args[2])

    event.listen(conn, "before_cursor_execute", count)
    try:
        return call(), sent
    finally:
        event.remove(conn, "before_cursor_execute", count)


def gtin(n: int | None = None) -> str:
    """Return a valid GTIN-14 (correct check digit), distinct per call unless ``n`` is given."""
    body = f"0400000{(n if n is not None else next(_seq)):06d}"
    return body + str(gtin_check_digit(body))


def tagged_item(
    session: Session,
    *,
    serial: str | None = None,
    key_version: str = "test-2026",
    category: str = "bag",
    market: str | None = "FR",
    released: bool = True,
    brand: str = "maison-aurelia",
    product_gtin: str | None = None,
    attributes: dict[str, Any] | None = None,
    care_text: str | None = None,
    owner_content: str | None = None,
) -> Tag:
    """Create (flushed, committed) a product, an item and its tag; return the tag."""
    b = get_or_create_brand(session, brand, brand.replace("-", " ").title())
    product = get_or_create_product(
        session, b, product_gtin or gtin(), name=f"Test {category}", category=category,
        attributes=attributes or {}, care_text=care_text, owner_content=owner_content,
    )
    item = Item(product=product, serial=serial or f"S{next(_seq):06d}", market=market,
                released=released)
    session.add(item)
    session.flush()
    tag = Tag(uid="04" + secrets.token_hex(6).upper(), item=item, key_version=key_version)
    session.add(tag)
    session.commit()
    return tag


# --- driving the real tap flow from a test client ----------------------------------------------

JSON_ACCEPT = {"Accept": "application/json"}


def tap_url(session: Session, keyring: Any, tag: Tag) -> str:
    """Return the path and query of a fresh, genuine tap of ``tag`` (committed)."""
    from urllib.parse import urlsplit

    from app.verify.service import mint_tap_url

    url = mint_tap_url(session, keyring, tag, "http://localhost")
    session.commit()
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def tap(client: Any, session: Session, keyring: Any, tag: Tag, *, as_json: bool = False) -> Any:
    """Tap ``tag`` from ``client``'s browser (a fresh counter); return the response."""
    return client.get(tap_url(session, keyring, tag), headers=JSON_ACCEPT if as_json else {})


def csrf(client: Any) -> str:
    """Return ``client``'s CSRF token (creating it as a page render would)."""
    with client.session_transaction() as browser_session:
        token = browser_session.get("csrf")
        if not token:
            token = browser_session["csrf"] = secrets.token_urlsafe(32)
    return token


def post_form(client: Any, path: str, data: dict[str, str] | None = None, **kw: Any) -> Any:
    """POST an HTML form from ``client`` with its CSRF token."""
    return client.post(path, data={"csrf_token": csrf(client), **(data or {})}, **kw)


def item_path(tag: Tag, action: str) -> str:
    """Return ``/items/<gtin>/<serial>/<action>`` for ``tag``'s item."""
    return f"/items/{tag.item.product.gtin}/{tag.item.serial}/{action}"


def age_ownership(session: Session, tag: Tag, days: int) -> None:
    """Move the start of ``tag``'s item's current ownership ``days`` into the past (committed)."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from app.catalog.models import Ownership

    session.execute(
        update(Ownership)
        .where(Ownership.item_id == tag.item_id, Ownership.ended_at.is_(None))
        .values(started_at=datetime.now(UTC) - timedelta(days=days))
    )
    session.commit()
